package scheduler

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"

	"github.com/approvals-go/approvals/dts/mgmt"
)

// Rewinding a failed orchestration, as the service does it: the scheduler
// asks the worker, and the worker rewrites the history.
//
//  1. RewindInstance sets the failed instance Running and queues an
//     ExecutionRewound event for it.
//  2. The worker gets the whole history, its ExecutionCompleted included,
//     with the new events OrchestratorStarted and ExecutionRewound. An SDK
//     that can rewind (the JS SDK 0.4.0; its source says the .NET and
//     Python SDKs rewrite alike) answers with one RewindOrchestrationAction: the
//     history without the failed tasks' TaskScheduled and TaskFailed, the
//     failed sub-orchestrations' results and the ExecutionCompleted, with
//     a new execution ID and the ExecutionRewound at its end.
//  3. The scheduler replaces the history with that one, rewinds the failed
//     sub-orchestrations it names, and queues another ExecutionRewound,
//     which starts a replay of the clean history: the orchestrator
//     schedules the failed tasks again and the instance carries on.
//
// durabletask-go v0.6.0 knows neither the event nor the action: its
// orchestration runtime drops work items of completed instances and its
// worker fails on events it does not know, so the state it is given here
// leaves out the ExecutionCompleted (see GetOrchestrationRuntimeState) and
// the executor (see newerExecutor) puts it back for the worker. A worker
// that cannot rewind fails the orchestration again, with its own error as
// the failure (durabletask-go v0.6.0's does, on the events it does not
// know): its execution is saved in place of the old ExecutionCompleted
// (see saveExecution).

// Rewind implements mgmt.Service.
func (s *Store) Rewind(ctx context.Context, id api.InstanceID, reason string) error {
	payload, err := backend.MarshalHistoryEvent(mgmt.ExecutionRewound(reason, ""))
	if err != nil {
		return err
	}
	return s.write(ctx, func(ctx context.Context, tx *txn) (func(time.Time), error) {
		return s.rewindLocked(ctx, tx, id, payload)
	})
}

// rewindLocked sets a failed instance running again inside a write and
// queues the ExecutionRewound (payload) that makes a worker rewind it.
func (s *Store) rewindLocked(ctx context.Context, tx *txn, id api.InstanceID, payload []byte) (func(time.Time), error) {
	st, found, err := instanceStatus(ctx, tx, id)
	if err != nil {
		return nil, fmt.Errorf("rewind %s: %w", id, err)
	}
	if !found {
		return nil, fmt.Errorf("rewind %s: %w", id, api.ErrInstanceNotFound)
	}
	if st != api.RUNTIME_STATUS_FAILED {
		return nil, fmt.Errorf("rewind %s: it is %s: %w", id, mgmt.StatusName(st), mgmt.ErrNotFailed)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE instances SET status = ?, updated_at = ?, completed_at = NULL, output = NULL, failure = NULL
		WHERE id = ?`, int32(api.RUNTIME_STATUS_RUNNING), time.Now().UnixNano(), string(id)); err != nil {
		return nil, fmt.Errorf("rewind %s: %w", id, err)
	}
	ref, err := insertInbox(ctx, tx, id, acceptedNow(), payload)
	if err != nil {
		return nil, err
	}
	return func(now time.Time) {
		s.addEventLocked(id, ref, now)
		s.changedLocked(id)
	}, nil
}

// rewindState is the runtime state of a work item that asks a worker to
// rewind: the history without its ExecutionCompleted, so that
// durabletask-go's runtime runs it (see the top of this file). It
// returns nil when wi is no such work item.
func (s *Store) rewindState(wi *backend.OrchestrationWorkItem, history []*backend.HistoryEvent) *backend.OrchestrationRuntimeState {
	if !slices.ContainsFunc(restored(wi.NewEvents), mgmt.IsExecutionRewound) ||
		!slices.ContainsFunc(history, func(e *backend.HistoryEvent) bool { return e.GetExecutionCompleted() != nil }) {
		return nil
	}
	s.mu.Lock()
	s.newer[wi.InstanceID] = &newerActions{rewindFrom: history}
	s.mu.Unlock()
	kept := slices.DeleteFunc(slices.Clone(disguised(history)), func(e *backend.HistoryEvent) bool { return e.GetExecutionCompleted() != nil })
	return backend.NewOrchestrationRuntimeState(wi.InstanceID, kept)
}

// saveRewind replaces an instance's history with the one its worker
// rewrote, inside a write, and rewinds the failed sub-orchestrations that
// history still waits for. Another ExecutionRewound starts the replay of
// the new history.
func (s *Store) saveRewind(ctx context.Context, tx *txn, id api.InstanceID, history []*backend.HistoryEvent, delivered []int64) (func(time.Time), error) {
	var reason, executionID string
	created := map[int32]string{} // sub-orchestrations by task ID
	for _, e := range history {
		switch {
		case e.GetExecutionStarted() != nil:
			executionID = e.GetExecutionStarted().GetOrchestrationInstance().GetExecutionId().GetValue()
		case e.GetSubOrchestrationInstanceCreated() != nil:
			created[e.EventId] = e.GetSubOrchestrationInstanceCreated().GetInstanceId()
		case e.GetSubOrchestrationInstanceCompleted() != nil:
			delete(created, e.GetSubOrchestrationInstanceCompleted().GetTaskScheduledId())
		default:
			if n, ok := mgmt.DecodeNewer(e); ok && n.Kind == "executionRewound" {
				reason = n.RewoundReason
			}
		}
	}
	if executionID == "" {
		return nil, fmt.Errorf("rewind %s: the worker's history has no ExecutionStarted", id)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM history WHERE instance_id = ?`, string(id)); err != nil {
		return nil, fmt.Errorf("rewind %s: %w", id, err)
	}
	if err := appendHistory(ctx, tx, id, 0, history); err != nil {
		return nil, fmt.Errorf("rewind %s: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE instances SET status = ?, updated_at = ?, execution_id = ?, completed_at = NULL, output = NULL, failure = NULL
		WHERE id = ?`, int32(api.RUNTIME_STATUS_RUNNING), time.Now().UnixNano(), executionID, string(id)); err != nil {
		return nil, fmt.Errorf("rewind %s: %w", id, err)
	}
	if err := deleteSeqs(ctx, tx, delivered); err != nil {
		return nil, fmt.Errorf("rewind %s: %w", id, err)
	}
	restart, err := backend.MarshalHistoryEvent(mgmt.ExecutionRewound(reason, ""))
	if err != nil {
		return nil, err
	}
	ref, err := insertInbox(ctx, tx, id, acceptedNow(), restart)
	if err != nil {
		return nil, err
	}
	var subs []func(time.Time)
	for _, sub := range created {
		st, found, err := instanceStatus(ctx, tx, api.InstanceID(sub))
		if err != nil {
			return nil, err
		}
		if !found || st != api.RUNTIME_STATUS_FAILED {
			// A purged sub-orchestration is not created again; one still
			// running reports to the parent when it ends.
			continue
		}
		payload, err := backend.MarshalHistoryEvent(mgmt.ExecutionRewound(reason, executionID))
		if err != nil {
			return nil, err
		}
		apply, err := s.rewindLocked(ctx, tx, api.InstanceID(sub), payload)
		if err != nil {
			return nil, err
		}
		subs = append(subs, apply)
	}
	return func(now time.Time) {
		in := s.instances[id]
		in.inbox = without(in.inbox, delivered)
		in.locked, in.lockedBy, in.delivered, in.dequeues, in.notBefore = false, "", nil, 0, time.Time{}
		s.addEventLocked(id, ref, now)
		for _, apply := range subs {
			apply(now)
		}
		s.changedLocked(id)
	}, nil
}

// newerActions are the actions of one orchestrator execution that
// durabletask-go v0.6.0's runtime does not know, kept by newerExecutor
// until the execution is saved, and before that the history of a rewind
// (rewindFrom); completing or abandoning the work item forgets them.
type newerActions struct {
	// entity are the messages to entities, with the history events that
	// record them.
	entity []*mgmt.NewerAction
	// rewind is the history a worker rewrote; nil when it did not rewind.
	rewind []*backend.HistoryEvent
	// rewindAsked is set when the worker was asked to rewind (given the
	// history with its ExecutionCompleted, which its runtime state lacks).
	rewindAsked bool
	// rewindFrom is that full history, from the load of the runtime state
	// (rewindState) until newerExecutor hands it to the worker.
	rewindFrom []*backend.HistoryEvent
}

// takeNewer returns and forgets what newerExecutor kept for id.
func (s *Store) takeNewer(id api.InstanceID) *newerActions {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.newer[id]
	delete(s.newer, id)
	return n
}

// newerExecutor stands between durabletask-go's orchestration runtime and
// its gRPC executor for the parts of the protocol v0.6.0 lacks: it gives
// the worker the full history of an instance being rewound, and takes the
// actions v0.6.0's runtime would refuse (messages to entities, a rewind)
// out of the worker's answer, for the store to save with the execution.
type newerExecutor struct {
	backend.Executor
	store *Store
}

func (x newerExecutor) ExecuteOrchestrator(ctx context.Context, id api.InstanceID, old, new []*backend.HistoryEvent) (*backend.ExecutionResults, error) {
	old, new = restored(old), restored(new)
	var kept newerActions
	if loaded := x.store.takeNewer(id); loaded != nil && loaded.rewindFrom != nil && slices.ContainsFunc(new, mgmt.IsExecutionRewound) {
		old, kept.rewindAsked = loaded.rewindFrom, true
	}

	res, err := x.Executor.ExecuteOrchestrator(ctx, id, old, new)
	if err != nil || res == nil || res.Response == nil {
		return res, err
	}
	actions := res.Response.Actions[:0]
	for _, a := range res.Response.Actions {
		n, err := mgmt.NewerActionOf(a)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		switch {
		case n == nil:
			actions = append(actions, a)
		case n.Rewind != nil:
			kept.rewind = n.Rewind
		case n.Entity != nil:
			kept.entity = append(kept.entity, n)
		}
	}
	res.Response.Actions = actions
	if kept.rewind != nil || kept.rewindAsked || len(kept.entity) > 0 {
		x.store.mu.Lock()
		x.store.newer[id] = &kept
		x.store.mu.Unlock()
	}
	return res, nil
}
