package scheduler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
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
		ref, err := insertInbox(ctx, tx, id, inboxRef{visibleAt: visible, dueAt: latest(visible, time.Now()), starts: true}, payload)
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
// event for a finished instance is dropped, as the service does.
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
		if mgmt.Final(status) {
			s.log.Debug("dropping event for finished instance", "instance_id", id)
			return nil, nil
		}
		ref, err := insertInbox(ctx, tx, id, accepted, payload)
		if err != nil {
			return nil, err
		}
		return func(now time.Time) { s.addEventLocked(id, ref, now) }, nil
	})
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
			s.locks++
			lockedBy = s.lockID + "-" + strconv.FormatUint(s.locks, 36)
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
			return &backend.OrchestrationWorkItem{InstanceID: id, NewEvents: events, LockedBy: lockedBy, RetryCount: retries}, nil
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
	return s.unlock(wi.InstanceID, wi.LockedBy, wi.GetAbandonDelay())
}

// GetOrchestrationRuntimeState implements backend.Backend.
func (s *Store) GetOrchestrationRuntimeState(ctx context.Context, wi *backend.OrchestrationWorkItem) (*backend.OrchestrationRuntimeState, error) {
	history, err := s.reader.history(ctx, wi.InstanceID)
	if err != nil {
		return nil, err
	}
	return backend.NewOrchestrationRuntimeState(wi.InstanceID, history), nil
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
		return "", status.Errorf(codes.FailedPrecondition, "instance %s is %s: only a finished instance can be restarted under its own ID", id, statusName(in.RuntimeStatus))
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
			return nil, status.Errorf(codes.FailedPrecondition, "instance %s is %s: only a finished instance can be restarted under its own ID", id, statusName(st))
		}
		if err := deleteInstance(ctx, tx, id); err != nil {
			return nil, err
		}
		if err := s.insertInstance(ctx, tx, id, e, &api.OrchestrationIdReusePolicy{}); err != nil {
			return nil, err
		}
		ref := acceptedNow()
		ref.starts = true
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
