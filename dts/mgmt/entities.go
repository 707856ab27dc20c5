package mgmt

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/microsoft/durabletask-go/backend"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Durable entities and rewinding, as Go values: what the embedded scheduler
// needs from the messages of proto_entities.go. History events and actions
// travel as durabletask-go v0.6.0's types, with the newer parts in their
// unknown fields; the functions here read and write those parts.

// EntityMessageKind is what a message to an entity asks.
type EntityMessageKind int

const (
	// EntitySignal runs an operation; nobody waits for its result.
	EntitySignal EntityMessageKind = iota + 1
	// EntityCall runs an operation whose result goes back to the
	// orchestration that called it.
	EntityCall
	// EntityLock asks for the entity's lock for an orchestration's
	// critical section.
	EntityLock
	// EntityUnlock releases it.
	EntityUnlock
)

// EntityMessage is a message to an entity: an operation (signal or call),
// a lock request or an unlock, from a client, an orchestration or another
// entity.
type EntityMessage struct {
	Kind EntityMessageKind
	// Target is the entity's instance ID, "@name@key".
	Target    string
	RequestID string
	Operation string
	// Input is the operation's serialized input; HasInput tells an empty
	// input from none.
	Input    string
	HasInput bool
	// ScheduledTime delays the message until then; zero for at once.
	ScheduledTime time.Time
	// ParentInstance and ParentExecution name the orchestration that calls,
	// locks or unlocks.
	ParentInstance, ParentExecution string
	// CriticalSection, LockSet and Position describe a lock request: the
	// entities to lock in order, and which of them this one is.
	CriticalSection string
	LockSet         []string
	Position        int32
}

// entityEventFields maps a message kind to its HistoryEvent field and to
// its SendEntityMessageAction field.
var entityEventFields = map[EntityMessageKind][2]protoreflect.Name{
	EntitySignal: {"entityOperationSignaled", "entityOperationSignaled"},
	EntityCall:   {"entityOperationCalled", "entityOperationCalled"},
	EntityLock:   {"entityLockRequested", "entityLockRequested"},
	EntityUnlock: {"entityUnlockSent", "entityUnlockSent"},
}

// ErrNotEntityMessage is returned for a history event that is no message
// to an entity.
var ErrNotEntityMessage = errors.New("not a message to an entity")

// newerEvent reads e through the HistoryEvent descriptor of the newer event
// types.
func newerEvent(e *backend.HistoryEvent) (fields, error) {
	f := newMessage(msgEntityHistoryEvent)
	b, err := proto.Marshal(e)
	if err != nil {
		return f, err
	}
	return f, proto.Unmarshal(b, f.m.Interface())
}

// v060Event re-encodes a HistoryEvent of the newer types as v0.6.0's type.
func v060Event(f fields) (*backend.HistoryEvent, error) {
	e := &backend.HistoryEvent{}
	return e, concrete(f.m, e)
}

// newerEventOf builds a HistoryEvent of kind name with id, timestamped now,
// whose body fill writes.
func newerEventOf(id int32, name string, fill func(fields)) *backend.HistoryEvent {
	f := newMessage(msgEntityHistoryEvent)
	f.m.Set(f.fd("eventId"), protoreflect.ValueOfInt32(id))
	f.m.Set(f.fd("timestamp"), protoreflect.ValueOfMessage(timestamppb.Now().ProtoReflect()))
	fill(f.sub(name))
	e, err := v060Event(f)
	if err != nil {
		// Both sides are the same protocol message built here.
		panic(fmt.Sprintf("mgmt: re-encode %s: %v", name, err))
	}
	return e
}

// EntityMessageOf reads the message to an entity that e carries.
func EntityMessageOf(e *backend.HistoryEvent) (*EntityMessage, error) {
	f, err := newerEvent(e)
	if err != nil {
		return nil, err
	}
	od := f.m.Descriptor().Oneofs().ByName("eventType")
	set := f.m.WhichOneof(od)
	if set == nil {
		return nil, ErrNotEntityMessage
	}
	for kind, names := range entityEventFields {
		if set.Name() == names[0] {
			return entityMessageFrom(kind, f.get(string(names[0]))), nil
		}
	}
	return nil, ErrNotEntityMessage
}

func entityMessageFrom(kind EntityMessageKind, b fields) *EntityMessage {
	m := &EntityMessage{Kind: kind}
	wrapped := func(name string) string {
		if b.m.Descriptor().Fields().ByName(protoreflect.Name(name)) == nil {
			return ""
		}
		v, _ := b.wrapped(name)
		return v
	}
	has := func(name string) bool { return b.m.Descriptor().Fields().ByName(protoreflect.Name(name)) != nil }
	m.Target = wrapped("targetInstanceId")
	m.ParentInstance = wrapped("parentInstanceId")
	m.ParentExecution = wrapped("parentExecutionId")
	if has("requestId") {
		m.RequestID = b.str("requestId")
		m.Operation = b.str("operation")
		m.Input, m.HasInput = b.wrapped("input")
		m.ScheduledTime = b.time("scheduledTime")
	}
	if has("criticalSectionId") {
		m.CriticalSection = b.str("criticalSectionId")
	}
	if has("lockSet") {
		m.LockSet = b.strings("lockSet")
		m.Position = b.int32("position")
	}
	return m
}

func (m *EntityMessage) fill(b fields) {
	has := func(name string) bool { return b.m.Descriptor().Fields().ByName(protoreflect.Name(name)) != nil }
	set := func(name, v string) {
		if v != "" && has(name) {
			b.setWrapped(name, v)
		}
	}
	set("targetInstanceId", m.Target)
	set("parentInstanceId", m.ParentInstance)
	set("parentExecutionId", m.ParentExecution)
	if has("requestId") {
		b.setStr("requestId", m.RequestID)
		b.setStr("operation", m.Operation)
		if m.HasInput {
			b.setWrapped("input", m.Input)
		}
		b.setTime("scheduledTime", m.ScheduledTime)
	}
	if has("criticalSectionId") {
		b.setStr("criticalSectionId", m.CriticalSection)
	}
	if has("lockSet") {
		b.setStrings("lockSet", m.LockSet)
		b.setInt32("position", m.Position)
	}
}

// Event is the history event that carries m, with event ID id.
func (m *EntityMessage) Event(id int32) *backend.HistoryEvent {
	return newerEventOf(id, string(entityEventFields[m.Kind][0]), m.fill)
}

// EntityOperationCompleted is the event that gives an orchestration the
// result of the entity operation it called.
func EntityOperationCompleted(requestID, output string, hasOutput bool) *backend.HistoryEvent {
	return newerEventOf(-1, "entityOperationCompleted", func(b fields) {
		b.setStr("requestId", requestID)
		if hasOutput {
			b.setWrapped("output", output)
		}
	})
}

// EntityOperationFailed is the event that tells an orchestration that the
// entity operation it called failed.
func EntityOperationFailed(requestID string, failure *backend.TaskFailureDetails) *backend.HistoryEvent {
	return newerEventOf(-1, "entityOperationFailed", func(b fields) {
		b.setStr("requestId", requestID)
		if failure != nil {
			b.m.Set(b.fd("failureDetails"), protoreflect.ValueOfMessage(failure.ProtoReflect()))
		}
	})
}

// EntityLockGranted is the event that tells an orchestration it holds the
// locks of its critical section.
func EntityLockGranted(criticalSection string) *backend.HistoryEvent {
	return newerEventOf(-1, "entityLockGranted", func(b fields) { b.setStr("criticalSectionId", criticalSection) })
}

// ExecutionRewound is the event that asks a worker to rewind a failed
// orchestration; parentExecution is set when the orchestration is a
// sub-orchestration rewound with its parent.
func ExecutionRewound(reason, parentExecution string) *backend.HistoryEvent {
	return newerEventOf(-1, "executionRewound", func(b fields) {
		if reason != "" {
			b.setWrapped("reason", reason)
		}
		if parentExecution != "" {
			b.setWrapped("parentExecutionId", parentExecution)
		}
	})
}

// NewerEventKind names the newer event type e carries ("executionRewound",
// "entityOperationCalled", ...), or "" when it has none.
func NewerEventKind(e *backend.HistoryEvent) string {
	if e.GetEventType() != nil || len(e.ProtoReflect().GetUnknown()) == 0 {
		return ""
	}
	f, err := newerEvent(e)
	if err != nil {
		return ""
	}
	if set := f.m.WhichOneof(f.m.Descriptor().Oneofs().ByName("eventType")); set != nil {
		return string(set.Name())
	}
	return ""
}

// NewerEventJSON is the protocol's JSON form of an event of a type
// v0.6.0 does not know (protojson leaves out its unknown fields); false
// for any other event.
func NewerEventJSON(e *backend.HistoryEvent) ([]byte, bool) {
	if NewerEventKind(e) == "" {
		return nil, false
	}
	f, err := newerEvent(e)
	if err != nil {
		return nil, false
	}
	b, err := protojson.Marshal(f.m.Interface())
	return b, err == nil
}

// IsExecutionRewound reports whether e is an ExecutionRewound event.
func IsExecutionRewound(e *backend.HistoryEvent) bool { return NewerEventKind(e) == "executionRewound" }

// ExecutionRewoundReason returns the reason of an ExecutionRewound event,
// and whether e is one.
func ExecutionRewoundReason(e *backend.HistoryEvent) (string, bool) {
	if !IsExecutionRewound(e) {
		return "", false
	}
	f, err := newerEvent(e)
	if err != nil {
		return "", false
	}
	reason, _ := f.get("executionRewound").wrapped("reason")
	return reason, true
}

// NewerAction is an orchestrator action that v0.6.0 does not know.
type NewerAction struct {
	ID int32
	// Entity is set for a message to an entity (sendEntityMessage).
	Entity *EntityMessage
	// Rewind is set for a rewind (rewindOrchestration): the history the
	// worker rewrote, which replaces the orchestration's.
	Rewind []*backend.HistoryEvent
}

// NewerActionOf reads an OrchestratorAction of v0.6.0's type; nil when it
// is one of the actions v0.6.0 knows.
func NewerActionOf(action proto.Message) (*NewerAction, error) {
	if len(action.ProtoReflect().GetUnknown()) == 0 {
		return nil, nil
	}
	f := newMessage(msgEntityOrchestratorAction)
	b, err := proto.Marshal(action)
	if err != nil {
		return nil, err
	}
	if err := proto.Unmarshal(b, f.m.Interface()); err != nil {
		return nil, fmt.Errorf("decode orchestrator action: %w", err)
	}
	a := &NewerAction{ID: f.int32("id")}
	switch {
	case f.has("sendEntityMessage"):
		send := f.get("sendEntityMessage")
		set := send.m.WhichOneof(send.m.Descriptor().Oneofs().ByName("EntityMessageType"))
		if set == nil {
			return nil, errors.New("sendEntityMessage action without a message")
		}
		for kind, names := range entityEventFields {
			if set.Name() == names[1] {
				a.Entity = entityMessageFrom(kind, send.get(string(names[1])))
			}
		}
	case f.has("rewindOrchestration"):
		list := f.get("rewindOrchestration").m.Get(f.get("rewindOrchestration").fd("newHistory")).List()
		a.Rewind = make([]*backend.HistoryEvent, list.Len())
		for i := range a.Rewind {
			e := &backend.HistoryEvent{}
			if err := concrete(list.Get(i).Message(), e); err != nil {
				return nil, err
			}
			a.Rewind[i] = e
		}
		if a.Rewind == nil {
			a.Rewind = []*backend.HistoryEvent{}
		}
	default:
		return nil, nil
	}
	return a, nil
}

// EntityWorkItem is a WorkItem carrying an EntityRequest (the form the
// service sends, entityRequestV2): the entity's state (nil when it has
// none) and the messages to run, with completionToken to echo.
func EntityWorkItem(id, executionID string, state *string, ops []*backend.HistoryEvent, completionToken string) proto.Message {
	wi := newMessage(msgEntityWorkItem)
	req := wi.sub("entityRequestV2")
	req.setStr("instanceId", id)
	req.setStr("executionId", executionID)
	if state != nil {
		req.setWrapped("entityState", *state)
	}
	list := req.m.Mutable(req.fd("operationRequests")).List()
	for _, e := range ops {
		list.Append(protoreflect.ValueOfMessage(e.ProtoReflect()))
	}
	wi.setStr("completionToken", completionToken)
	return wi.message()
}

// OperationResult is the outcome of one operation of a batch.
type OperationResult struct {
	Output    string
	HasOutput bool
	// Failure is set when the operation failed.
	Failure *backend.TaskFailureDetails
}

// StartOrchestration is an entity's request to start an orchestration.
type StartOrchestration struct {
	InstanceID, Name, Version, Input string
	HasInput                         bool
	ScheduledTime                    time.Time
}

// EntityBatchResult is what a worker answers an entity work item.
type EntityBatchResult struct {
	// Results are the outcomes of the batch's first len(Results)
	// operations, in order.
	Results []OperationResult
	// Signals are the signals the operations sent to entities, Starts the
	// orchestrations they started.
	Signals []*EntityMessage
	Starts  []StartOrchestration
	// State is the entity's state after the batch; nil when it has none
	// (it was deleted).
	State *string
	// Failure is set when the batch as a whole failed: nothing of it is
	// kept, and it is run again.
	Failure         *backend.TaskFailureDetails
	CompletionToken string
}

func entityBatchResultOf(r fields) (EntityBatchResult, error) {
	var out EntityBatchResult
	out.CompletionToken = r.str("completionToken")
	if s, ok := r.wrapped("entityState"); ok {
		out.State = &s
	}
	failureOf := func(f fields) (*backend.TaskFailureDetails, error) {
		fd := &backend.TaskFailureDetails{}
		return fd, concrete(f.m, fd)
	}
	if r.has("failureDetails") {
		fd, err := failureOf(r.get("failureDetails"))
		if err != nil {
			return out, err
		}
		out.Failure = fd
	}
	results := r.m.Get(r.fd("results")).List()
	for i := 0; i < results.Len(); i++ {
		res := fields{results.Get(i).Message()}
		var or OperationResult
		switch {
		case res.has("failure"):
			fd, err := failureOf(res.get("failure").get("failureDetails"))
			if err != nil {
				return out, err
			}
			or.Failure = fd
		default:
			or.Output, or.HasOutput = res.get("success").wrapped("result")
		}
		out.Results = append(out.Results, or)
	}
	actions := r.m.Get(r.fd("actions")).List()
	for i := 0; i < actions.Len(); i++ {
		a := fields{actions.Get(i).Message()}
		switch {
		case a.has("sendSignal"):
			s := a.get("sendSignal")
			m := &EntityMessage{Kind: EntitySignal, Target: s.str("instanceId"), Operation: s.str("name"), ScheduledTime: s.time("scheduledTime")}
			m.Input, m.HasInput = s.wrapped("input")
			out.Signals = append(out.Signals, m)
		case a.has("startNewOrchestration"):
			s := a.get("startNewOrchestration")
			st := StartOrchestration{InstanceID: s.str("instanceId"), Name: s.str("name"), ScheduledTime: s.time("scheduledTime")}
			st.Version, _ = s.wrapped("version")
			st.Input, st.HasInput = s.wrapped("input")
			out.Starts = append(out.Starts, st)
		}
	}
	return out, nil
}

// WorkerEntities reads what a GetWorkItemsRequest says about entities:
// whether the worker states its concurrency at all, the most entity work
// items it takes at once, and the entity names its filters allow (none
// means any).
func WorkerEntities(req proto.Message) (statesLimits bool, maxEntities int32, names []string) {
	f := newMessage(msgGetWorkItemsRequest)
	b, err := proto.Marshal(req)
	if err != nil || proto.Unmarshal(b, f.m.Interface()) != nil {
		return false, 0, nil
	}
	statesLimits = f.int32("maxConcurrentOrchestrationWorkItems") != 0 || f.int32("maxConcurrentActivityWorkItems") != 0 ||
		f.int32("maxConcurrentEntityWorkItems") != 0
	if f.has("workItemFilters") {
		list := f.get("workItemFilters").m.Get(f.get("workItemFilters").fd("entities")).List()
		for i := 0; i < list.Len(); i++ {
			names = append(names, strings.ToLower(fields{list.Get(i).Message()}.str("name")))
		}
	}
	return statesLimits, f.int32("maxConcurrentEntityWorkItems"), names
}

// Entity is an entity as GetEntity and QueryEntities return it.
type Entity struct {
	// ID is "@name@key".
	ID           string
	LastModified time.Time
	// Backlog is how many messages wait for it.
	Backlog int
	// LockedBy is the orchestration holding its lock, if any.
	LockedBy string
	// State is its serialized state; HasState is false for an entity
	// without state (transient: it has only messages or a lock).
	State    string
	HasState bool
}

// EntityQuery selects entities for QueryEntities.
type EntityQuery struct {
	// IDPrefix keeps entities whose ID starts with it ("@counter@" for
	// the counters).
	IDPrefix string
	// ModifiedFrom and ModifiedTo bound the last modification, both
	// inclusive.
	ModifiedFrom, ModifiedTo time.Time
	IncludeState             bool
	// IncludeTransient also lists entities without state.
	IncludeTransient  bool
	PageSize          int
	ContinuationToken string
}

// EntityPage is one page of QueryEntities.
type EntityPage struct {
	Entities          []*Entity
	ContinuationToken string
}

// CleanEntities asks CleanEntityStorage to remove entities without state
// or messages, and to release locks held by orchestrations that have
// finished or no longer exist.
type CleanEntities struct {
	RemoveEmpty, ReleaseOrphanedLocks bool
	ContinuationToken                 string
}

// CleanedEntities is what CleanEntityStorage did.
type CleanedEntities struct {
	EmptyRemoved, LocksReleased int
	ContinuationToken           string
}

func entityMetadata(e *Entity, withState bool) fields {
	m := newMessage(msgEntityMetadata)
	m.setStr("instanceId", e.ID)
	m.setTime("lastModifiedTime", e.LastModified)
	m.setInt32("backlogQueueSize", int32(e.Backlog))
	if e.LockedBy != "" {
		m.setWrapped("lockedBy", e.LockedBy)
	}
	if withState && e.HasState {
		m.setWrapped("serializedState", e.State)
	}
	return m
}

func entityQueryOf(q fields) (EntityQuery, error) {
	out := EntityQuery{
		ModifiedFrom:     q.time("lastModifiedFrom"),
		ModifiedTo:       q.time("lastModifiedTo"),
		IncludeState:     q.boolean("includeState"),
		IncludeTransient: q.boolean("includeTransient"),
	}
	out.IDPrefix, _ = q.wrapped("instanceIdStartsWith")
	out.ContinuationToken, _ = q.wrapped("continuationToken")
	if q.has("pageSize") {
		size, err := requestedSize(q.get("pageSize").int32("value"))
		if err != nil {
			return out, err
		}
		out.PageSize = size
	}
	return out, nil
}
