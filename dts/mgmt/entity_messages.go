package mgmt

import (
	"errors"
	"time"

	"github.com/microsoft/durabletask-go/backend"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Durable entities and rewinding, as Go values: what the embedded scheduler
// needs from the messages of proto_entities.go. History events and actions
// travel as durabletask-go v0.6.0's types, with the newer parts in their
// unknown fields; the functions of this file (messages to entities),
// entity_work.go (entity work items and their results), entity_query.go
// (entity queries) and newer.go (rewinding and the other newer events and
// actions) read and write those parts.

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

// errNotEntityMessage is returned for a history event that is no message
// to an entity.
var errNotEntityMessage = errors.New("not a message to an entity")

// EntityMessageOf reads the message to an entity that e carries.
func EntityMessageOf(e *backend.HistoryEvent) (*EntityMessage, error) {
	f, err := newerEvent(e)
	if err != nil {
		return nil, err
	}
	return entityMessageIn(f)
}

// entityMessageIn reads the message to an entity of a decoded newer event.
func entityMessageIn(f fields) (*EntityMessage, error) {
	set := f.m.WhichOneof(f.m.Descriptor().Oneofs().ByName("eventType"))
	if set == nil {
		return nil, errNotEntityMessage
	}
	for kind, names := range entityEventFields {
		if set.Name() == names[0] {
			return entityMessageFrom(kind, f.get(string(names[0]))), nil
		}
	}
	return nil, errNotEntityMessage
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

// SplitEntityID splits "@name@key" into its name and key.
func SplitEntityID(id string) (name, key string, ok bool) {
	if len(id) < 2 || id[0] != '@' {
		return "", "", false
	}
	for i := 2; i < len(id); i++ {
		if id[i] == '@' {
			return id[1:i], id[i+1:], true
		}
	}
	return "", "", false
}
