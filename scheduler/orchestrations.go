package scheduler

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/approvals-go/approvals/dts/mgmt"
)

// Orchestration work items: creating instances, queueing events for them,
// and handing out and taking back the work items that run them.

// CreateOrchestrationInstance implements backend.Backend: it is a client's
// start (StartInstance), refused with ErrBacklogFull while the backlog is
// at its bound. Nothing else that creates instances is refused for load:
// sub-orchestrations are work of instances already under way, and a
// restart acts on an instance that exists.
func (s *Store) CreateOrchestrationInstance(ctx context.Context, e *backend.HistoryEvent, opts ...backend.OrchestrationIdReusePolicyOptions) error {
	release, err := s.admit()
	if err != nil {
		return err
	}
	defer release()
	return s.createInstance(ctx, e, opts...)
}

// createInstance creates the instance that e starts.
func (s *Store) createInstance(ctx context.Context, e *backend.HistoryEvent, opts ...backend.OrchestrationIdReusePolicyOptions) error {
	es := e.GetExecutionStarted()
	if es == nil || e.GetTimestamp() == nil {
		return errors.New("create instance: want an ExecutionStarted event with a timestamp")
	}
	id := api.InstanceID(es.GetOrchestrationInstance().GetInstanceId())
	if id == "" {
		return errors.New("create instance: empty instance ID")
	}
	policy := &api.OrchestrationIdReusePolicy{}
	for _, opt := range opts {
		if err := opt(policy); err != nil {
			return fmt.Errorf("create instance %s: %w", id, err)
		}
	}
	addStartTags(ctx, es.ProtoReflect())
	payload, err := backend.MarshalHistoryEvent(e)
	if err != nil {
		return err
	}
	var visible time.Time
	if ts := es.GetScheduledStartTimestamp(); ts != nil {
		visible = ts.AsTime()
	}

	return s.write(ctx, func(ctx context.Context, tx *txn) (func(time.Time), error) {
		err := s.insertInstance(ctx, tx, id, e, policy)
		if errors.Is(err, api.ErrIgnoreInstance) {
			return nil, nil // the policy asked to keep the existing instance
		}
		if err != nil {
			return nil, err
		}
		ref, err := insertInbox(ctx, tx, id, inboxRef{visibleAt: visible, dueAt: latest(visible, time.Now()), starts: true, isStart: true}, payload)
		if err != nil {
			return nil, err
		}
		return func(now time.Time) { s.addEventLocked(id, ref, now) }, nil
	})
}

// insertInstance adds the instance row, applying the ID reuse policy when an
// instance with the same ID exists: by default that is an error.
func (s *Store) insertInstance(ctx context.Context, tx *txn, id api.InstanceID, e *backend.HistoryEvent, policy *api.OrchestrationIdReusePolicy) error {
	es := e.GetExecutionStarted()
	created := e.GetTimestamp().AsTime().UnixNano()
	tags, err := tagsColumn(es.ProtoReflect())
	if err != nil {
		return fmt.Errorf("create instance %s: %w", id, err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO instances (id, name, execution_id, status, created_at, updated_at, input, tags)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		string(id), es.GetName(), es.GetOrchestrationInstance().GetExecutionId().GetValue(),
		int32(api.RUNTIME_STATUS_PENDING), created, created, es.GetInput().GetValue(), tags)
	if err != nil {
		return fmt.Errorf("create instance %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	existing, _, err := instanceStatus(ctx, tx, id)
	if err != nil {
		return fmt.Errorf("create instance %s: %w", id, err)
	}
	matches := false
	for _, st := range policy.GetOperationStatus() {
		if st == existing {
			matches = true
		}
	}
	if !matches {
		return api.ErrDuplicateInstance
	}
	switch policy.GetAction() {
	case api.REUSE_ID_ACTION_IGNORE:
		return api.ErrIgnoreInstance
	case api.REUSE_ID_ACTION_TERMINATE:
		// Replacing an instance that may be executing at this moment needs
		// more care than this sample calls for; the design notes also warn
		// against sending v0.6.0's reuse policy to the service.
		return status.Error(codes.Unimplemented, "the embedded scheduler does not replace existing instances (reuse policy TERMINATE)")
	default:
		return api.ErrDuplicateInstance
	}
}

// AddNewOrchestrationEvent implements backend.Backend. An event for an
// unknown instance is refused rather than stored where nothing reads it; an
// event for a finished instance is dropped, as the service does. A
// terminate for an instance whose start is still ahead ends it at once
// (see terminateBeforeStart); any other event for it is held until it
// starts (see instance).
func (s *Store) AddNewOrchestrationEvent(ctx context.Context, id api.InstanceID, e *backend.HistoryEvent) error {
	payload, err := backend.MarshalHistoryEvent(e)
	if err != nil {
		return err
	}
	// Accepted now, not when the group commit gets to it: this is the time
	// a deadline is compared with.
	accepted := acceptedNow()
	return s.write(ctx, func(ctx context.Context, tx *txn) (func(time.Time), error) {
		status, found, err := instanceStatus(ctx, tx, id)
		if err != nil {
			return nil, fmt.Errorf("add event to %s: %w", id, err)
		}
		if !found {
			return nil, api.ErrInstanceNotFound
		}
		return s.queueEvent(ctx, tx, id, status, accepted, e, payload)
	})
}

// queueEvent stores e, accepted as ref, for an instance in status, inside
// a write, and returns the matching in-memory update; nil for an event
// dropped because the instance has finished.
func (s *Store) queueEvent(ctx context.Context, tx *txn, id api.InstanceID, status api.OrchestrationStatus, ref inboxRef, e *backend.HistoryEvent, payload []byte) (func(time.Time), error) {
	if mgmt.Final(status) {
		s.log.Debug("dropping event for finished instance", "instance_id", id)
		return nil, nil
	}
	if e.GetExecutionTerminated() != nil && status == api.RUNTIME_STATUS_PENDING {
		start, err := heldStart(ctx, tx, id, time.Now())
		if err != nil {
			return nil, err
		}
		if start != nil {
			return s.terminateBeforeStart(ctx, tx, id, start, e)
		}
	}
	ref, err := insertInbox(ctx, tx, id, ref, payload)
	if err != nil {
		return nil, err
	}
	return func(now time.Time) { s.addEventLocked(id, ref, now) }, nil
}

// queueOrchestrationEvent queues e for an orchestration inside a write, as
// a client's event would be; an event for a missing or finished
// orchestration is dropped.
func (s *Store) queueOrchestrationEvent(ctx context.Context, tx *txn, id api.InstanceID, e *backend.HistoryEvent) (func(time.Time), error) {
	payload, err := backend.MarshalHistoryEvent(e)
	if err != nil {
		return nil, err
	}
	st, found, err := instanceStatus(ctx, tx, id)
	if err != nil || !found {
		return nil, err
	}
	return s.queueEvent(ctx, tx, id, st, acceptedNow(), e, payload)
}

// heldStart returns, inside a write, the ExecutionStarted an instance is
// waiting for when its start time is after now, or nil. That start is the
// first waiting event of an instance without history (see
// inboxRef.isStart), and being in the future it cannot have been handed
// out to a worker yet.
func heldStart(ctx context.Context, tx *txn, id api.InstanceID, now time.Time) (*backend.HistoryEvent, error) {
	var visible int64
	var payload []byte
	err := tx.QueryRowContext(ctx, `SELECT visible_at, payload FROM inbox WHERE instance_id = ?
		AND NOT EXISTS (SELECT 1 FROM history WHERE instance_id = ?) ORDER BY seq LIMIT 1`, string(id), string(id)).Scan(&visible, &payload)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the start of %s: %w", id, err)
	}
	if !fromNanos(visible).After(now) {
		return nil, nil
	}
	e, err := backend.UnmarshalHistoryEvent(payload)
	if err != nil {
		return nil, fmt.Errorf("read the start of %s: %w", id, err)
	}
	if e.GetExecutionStarted() == nil {
		return nil, nil
	}
	return e, nil
}

// terminateBeforeStart ends an instance whose start is still ahead, inside
// the write that accepts its terminate: its history becomes what a worker
// given the start and the terminate together would have saved (the
// runtime refuses a history without ExecutionStarted, so the start is
// kept), and its waiting events, the start included, are deleted.
//
// No worker is involved, so none of the orchestration's code runs: run
// with the terminate, durabletask-go's Go SDK would still return (and the
// runtime state would save) the activities its first lines schedule, and
// an instance terminated before it started should send no notices. No one
// else needs telling: an instance with a start time is a client's, never a
// sub-orchestration, and it has started nothing that a recursive terminate
// would reach.
//
// A worker that took the start in the moment between this write and its
// commit (the start fell due meanwhile) loses its lock: the instance is
// dropped from memory as a purge does, so that work item cannot complete.
func (s *Store) terminateBeforeStart(ctx context.Context, tx *txn, id api.InstanceID, start, terminate *backend.HistoryEvent) (func(time.Time), error) {
	st := backend.NewOrchestrationRuntimeState(id, nil)
	for _, e := range []*backend.HistoryEvent{orchestratorStarted(), start, terminate, terminated(terminate)} {
		if err := st.AddEvent(e); err != nil {
			return nil, fmt.Errorf("terminate %s before its start: %w", id, err)
		}
	}
	if _, err := s.saveExecution(ctx, tx, id, st, nil, nil); err != nil {
		return nil, err
	}
	s.log.Debug("terminated before its start time", "instance_id", id)
	// saveExecution's own update expects a locked instance; this state
	// has no timers, activities or messages, and the inbox is empty now.
	return func(time.Time) { s.dropInstanceLocked(id); s.changedLocked(id) }, nil
}

// orchestratorStarted is the event that opens each execution in a history.
func orchestratorStarted() *backend.HistoryEvent {
	e := &backend.HistoryEvent{EventId: -1, Timestamp: timestamppb.Now()}
	r := e.ProtoReflect()
	r.Mutable(field(r, "orchestratorStarted"))
	return e
}

// terminated is the ExecutionCompleted that a terminate ends an instance
// with: status Terminated, the terminate's reason as its output.
func terminated(terminate *backend.HistoryEvent) *backend.HistoryEvent {
	e := &backend.HistoryEvent{EventId: -1, Timestamp: timestamppb.Now()}
	r := e.ProtoReflect()
	ec := r.Mutable(field(r, "executionCompleted")).Message()
	ec.Set(field(ec, "orchestrationStatus"), protoreflect.ValueOfEnum(protoreflect.EnumNumber(api.RUNTIME_STATUS_TERMINATED)))
	if reason := terminate.GetExecutionTerminated().GetInput(); reason != nil {
		ec.Set(field(ec, "result"), protoreflect.ValueOfMessage(wrapperspb.String(reason.GetValue()).ProtoReflect()))
	}
	return e
}

// GetOrchestrationWorkItem implements backend.Backend. It blocks until an
// instance has work or ctx ends, so durabletask-go's poller never sleeps
// through new work.
func (s *Store) GetOrchestrationWorkItem(ctx context.Context) (*backend.OrchestrationWorkItem, error) {
	for {
		s.mu.Lock()
		now := time.Now()
		s.fireTimersLocked(now)
		id, in, ok := s.nextReadyLocked(now)
		var seqs []int64
		var lockedBy string
		var retries int32
		if ok {
			lockedBy = s.nextLockIDLocked()
			in.locked, in.lockedBy = true, lockedBy
			seqs = deliverable(in.inbox, now)
			in.delivered = seqs
			retries = in.dequeues
			in.dequeues++
		}
		wake, wait := s.orchWake, s.timers.until(now)
		s.mu.Unlock()

		if ok {
			events, err := s.reader.inboxEvents(ctx, seqs)
			if err == nil {
				events, err = s.resumeBeforeTerminate(ctx, id, events)
			}
			if err != nil {
				s.unlock(id, lockedBy, 0)
				return nil, err
			}
			return &backend.OrchestrationWorkItem{InstanceID: id, NewEvents: disguised(events), LockedBy: lockedBy, RetryCount: retries}, nil
		}
		if err := sleep(ctx, wake, wait); err != nil {
			return nil, err
		}
	}
}

// resumeBeforeTerminate puts a resume just ahead of a terminate that
// finds its instance suspended. durabletask-go v0.6.0's orchestration
// runtime drops every action of a suspended orchestration, its termination
// included, so a terminated suspended instance would stay suspended for
// good; the service ends it. Events raised while it was suspended are
// processed first, as a resume would.
func (s *Store) resumeBeforeTerminate(ctx context.Context, id api.InstanceID, events []*backend.HistoryEvent) ([]*backend.HistoryEvent, error) {
	at := slices.IndexFunc(events, func(e *backend.HistoryEvent) bool { return e.GetExecutionTerminated() != nil })
	if at < 0 {
		return events, nil
	}
	st, err := s.reader.status(ctx, id)
	if errors.Is(err, api.ErrInstanceNotFound) {
		return events, nil // purged meanwhile: its completion will be refused
	}
	if err != nil {
		return nil, err
	}
	suspended := st == api.RUNTIME_STATUS_SUSPENDED
	for _, e := range events[:at] {
		switch {
		case e.GetExecutionSuspended() != nil:
			suspended = true
		case e.GetExecutionResumed() != nil:
			suspended = false
		}
	}
	if !suspended {
		return events, nil
	}
	resume := &backend.HistoryEvent{EventId: -1, Timestamp: timestamppb.Now()}
	r := resume.ProtoReflect()
	er := r.Mutable(field(r, "executionResumed")).Message()
	er.Set(field(er, "input"), protoreflect.ValueOfMessage(wrapperspb.String("resumed to be terminated").ProtoReflect()))
	return slices.Insert(events, at, resume), nil
}

// unlock releases an instance, holding it back for delay.
func (s *Store) unlock(id api.InstanceID, lockedBy string, delay time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.instances[id]
	if in == nil || !in.locked || in.lockedBy != lockedBy {
		return backend.ErrWorkItemLockLost
	}
	now := time.Now()
	if delay > 0 {
		in.notBefore = now.Add(delay)
		s.addTimerLocked(timer{at: in.notBefore, id: id})
	}
	in.locked, in.lockedBy, in.delivered = false, "", nil
	s.enqueueLocked(id, in, now)
	return nil
}

// AbandonOrchestrationWorkItem implements backend.Backend.
func (s *Store) AbandonOrchestrationWorkItem(_ context.Context, wi *backend.OrchestrationWorkItem) error {
	s.takeNewer(wi.InstanceID)
	return s.unlock(wi.InstanceID, wi.LockedBy, wi.GetAbandonDelay())
}

// GetOrchestrationRuntimeState implements backend.Backend.
func (s *Store) GetOrchestrationRuntimeState(ctx context.Context, wi *backend.OrchestrationWorkItem) (*backend.OrchestrationRuntimeState, error) {
	history, err := s.reader.history(ctx, wi.InstanceID)
	if err != nil {
		return nil, err
	}
	if st := s.rewindState(wi, history); st != nil {
		return st, nil
	}
	return backend.NewOrchestrationRuntimeState(wi.InstanceID, disguised(history)), nil
}

// Restart starts a finished instance again with the name, version, input
// and tags it was started with: under its own ID, replacing its state, or
// with newInstanceID under a new one (then the original may be in any
// status). It returns the ID the restart runs under.
func (s *Store) Restart(ctx context.Context, id api.InstanceID, newInstanceID bool) (api.InstanceID, error) {
	in, err := s.reader.Instance(ctx, id, true)
	if err != nil {
		return "", err
	}
	if !newInstanceID && !mgmt.Final(in.RuntimeStatus) {
		return "", status.Errorf(codes.FailedPrecondition, "instance %s is %s: only a finished instance can be restarted under its own ID", id, mgmt.StatusName(in.RuntimeStatus))
	}
	history, err := s.reader.history(ctx, id)
	if err != nil {
		return "", err
	}
	target := id
	if newInstanceID {
		target = api.InstanceID(uuid.NewString())
	}
	e := restartEvent(in, history, target)
	if newInstanceID {
		return target, s.createInstance(ctx, e)
	}
	payload, err := backend.MarshalHistoryEvent(e)
	if err != nil {
		return "", err
	}
	return target, s.write(ctx, func(ctx context.Context, tx *txn) (func(time.Time), error) {
		// Checked again here: it may have been restarted meanwhile.
		st, found, err := instanceStatus(ctx, tx, id)
		if err != nil {
			return nil, fmt.Errorf("restart %s: %w", id, err)
		}
		if !found {
			return nil, fmt.Errorf("restart %s: %w", id, api.ErrInstanceNotFound)
		}
		if !mgmt.Final(st) {
			return nil, status.Errorf(codes.FailedPrecondition, "instance %s is %s: only a finished instance can be restarted under its own ID", id, mgmt.StatusName(st))
		}
		if err := deleteInstance(ctx, tx, id); err != nil {
			return nil, err
		}
		if err := s.insertInstance(ctx, tx, id, e, &api.OrchestrationIdReusePolicy{}); err != nil {
			return nil, err
		}
		ref := acceptedNow()
		ref.starts, ref.isStart = true, true
		ref, err = insertInbox(ctx, tx, id, ref, payload)
		if err != nil {
			return nil, err
		}
		return func(now time.Time) {
			// Whatever was handed out for the old execution can no longer
			// complete.
			s.dropInstanceLocked(id)
			s.addEventLocked(id, ref, now)
			s.changedLocked(id)
		}, nil
	})
}

// restartEvent is the ExecutionStarted event of a restart: a copy of the
// instance's own, which carries its version and tags, for a new execution
// of target, started now and not as anyone's sub-orchestration.
// durabletask-go's event types are internal to it, so the event is edited
// through protoreflect.
func restartEvent(in *mgmt.Instance, history []*backend.HistoryEvent, target api.InstanceID) *backend.HistoryEvent {
	e := &backend.HistoryEvent{}
	for _, h := range history {
		if h.GetExecutionStarted() != nil {
			e = proto.Clone(h).(*backend.HistoryEvent)
			break
		}
	}
	er := e.ProtoReflect()
	es := er.Mutable(field(er, "executionStarted")).Message()
	if e.GetExecutionStarted().GetName() == "" {
		es.Set(field(es, "name"), protoreflect.ValueOfString(in.Name))
		es.Set(field(es, "input"), protoreflect.ValueOfMessage(wrapperspb.String(in.SerializedInput).ProtoReflect()))
	}
	es.Clear(field(es, "parentInstance"))
	es.Clear(field(es, "scheduledStartTimestamp"))
	es.Clear(field(es, "orchestrationInstance"))
	oi := es.Mutable(field(es, "orchestrationInstance")).Message()
	oi.Set(field(oi, "instanceId"), protoreflect.ValueOfString(string(target)))
	oi.Set(field(oi, "executionId"), protoreflect.ValueOfMessage(wrapperspb.String(uuid.NewString()).ProtoReflect()))
	e.EventId = -1
	e.Timestamp = timestamppb.Now()
	return e
}

// field is a field of one of durabletask-go's messages, by name; the names
// are constants of the protocol.
func field(m protoreflect.Message, name protoreflect.Name) protoreflect.FieldDescriptor {
	return m.Descriptor().Fields().ByName(name)
}
