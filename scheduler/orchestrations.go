package scheduler

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Orchestration work items: creating instances, queueing events for them,
// and handing out and taking back the work items that run them.

// CreateOrchestrationInstance implements backend.Backend.
func (s *Store) CreateOrchestrationInstance(ctx context.Context, e *backend.HistoryEvent, opts ...backend.OrchestrationIdReusePolicyOptions) error {
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
		ref, err := insertInbox(ctx, tx, id, inboxRef{visibleAt: visible, dueAt: latest(visible, time.Now())}, payload)
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
	res, err := tx.ExecContext(ctx, `INSERT INTO instances (id, name, execution_id, status, created_at, updated_at, input)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		string(id), es.GetName(), es.GetOrchestrationInstance().GetExecutionId().GetValue(),
		int32(api.RUNTIME_STATUS_PENDING), created, created, es.GetInput().GetValue())
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
		if isFinal(status) {
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
