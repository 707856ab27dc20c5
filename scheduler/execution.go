package scheduler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"
	"google.golang.org/protobuf/proto"

	"github.com/approvals-go/approvals/dts/mgmt"
)

// Saving an execution: everything one run of an orchestrator did, written
// in one transaction.

// CompleteOrchestrationWorkItem implements backend.Backend: it saves what
// one orchestrator execution did, in one transaction.
func (s *Store) CompleteOrchestrationWorkItem(ctx context.Context, wi *backend.OrchestrationWorkItem) error {
	st := wi.State
	s.mu.Lock()
	in := s.instances[wi.InstanceID]
	if in == nil || !in.locked || in.lockedBy != wi.LockedBy {
		s.mu.Unlock()
		return backend.ErrWorkItemLockLost
	}
	delivered := in.delivered
	s.mu.Unlock()
	newer := s.takeNewer(wi.InstanceID)
	return s.write(ctx, func(ctx context.Context, tx *txn) (func(time.Time), error) {
		if newer != nil && newer.rewind != nil {
			return s.saveRewind(ctx, tx, wi.InstanceID, newer.rewind, delivered)
		}
		return s.saveExecution(ctx, tx, wi.InstanceID, st, delivered, newer)
	})
}

// saveExecution writes what one orchestrator execution did and returns the
// matching in-memory update.
// newer, when not nil, holds the messages the execution sent to entities:
// they are recorded in its history (before its completion, if it
// completed) and queued for their entities.
func (s *Store) saveExecution(ctx context.Context, tx *txn, id api.InstanceID, st *backend.OrchestrationRuntimeState, delivered []int64, newer *newerActions) (func(time.Time), error) {
	status, err := rowStatus(st)
	if err != nil {
		return nil, fmt.Errorf("complete %s: %w", id, err)
	}
	now := time.Now()
	set := []string{"status = ?", "updated_at = ?"}
	args := []any{int32(status), now.UnixNano()}
	for _, e := range st.NewEvents() {
		// A new execution (the first, or one continued as new) has an ID
		// of its own.
		if es := e.GetExecutionStarted(); es != nil && es.GetOrchestrationInstance().GetExecutionId() != nil {
			set = append(set, "execution_id = ?")
			args = append(args, es.GetOrchestrationInstance().GetExecutionId().GetValue())
		}
		if ec := e.GetExecutionCompleted(); ec != nil {
			set = append(set, "completed_at = ?", "output = ?", "failure = ?")
			var failure []byte
			if fd := ec.GetFailureDetails(); fd != nil {
				if failure, err = proto.Marshal(fd); err != nil {
					return nil, fmt.Errorf("complete %s: encode failure: %w", id, err)
				}
			}
			args = append(args, now.UnixNano(), ec.GetResult().GetValue(), failure)
		}
	}
	if st.CustomStatus != nil {
		set = append(set, "custom_status = ?")
		args = append(args, st.CustomStatus.GetValue())
	}
	args = append(args, string(id))
	res, err := tx.ExecContext(ctx, `UPDATE instances SET `+strings.Join(set, ", ")+` WHERE id = ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("complete %s: update instance: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil, backend.ErrWorkItemLockLost // purged while it ran
	}

	if st.ContinuedAsNew() {
		if _, err := tx.ExecContext(ctx, `DELETE FROM history WHERE instance_id = ?`, string(id)); err != nil {
			return nil, fmt.Errorf("complete %s: reset history: %w", id, err)
		}
	}
	events := restored(st.NewEvents())
	var messages []func(time.Time) // the in-memory updates of events sent to other instances and entities
	if newer != nil && len(newer.entity) > 0 {
		recorded := make([]*backend.HistoryEvent, len(newer.entity))
		for i, a := range newer.entity {
			recorded[i] = a.Entity.Event(a.ID)
			m := entityMessageFrom(id, a.Entity)
			apply, err := s.queueEntityMessage(ctx, tx, m, m.Event(a.ID))
			if err != nil {
				return nil, fmt.Errorf("complete %s: %w", id, err)
			}
			if apply != nil {
				messages = append(messages, apply)
			}
		}
		at := slices.IndexFunc(events, func(e *backend.HistoryEvent) bool { return e.GetExecutionCompleted() != nil })
		if at < 0 {
			at = len(events)
		}
		events = slices.Insert(slices.Clone(events), at, recorded...)
	}
	if newer != nil && newer.rewindAsked {
		// Asked to rewind, the worker ran the orchestration instead: its
		// execution follows the history its runtime state had, which left
		// out the ExecutionCompleted (see rewind.go).
		s.log.Warn("the worker did not rewind; its SDK may not support rewinding", "instance_id", id)
		if _, err := tx.ExecContext(ctx, `DELETE FROM history WHERE instance_id = ? AND seq >= ?`, string(id), len(st.OldEvents())); err != nil {
			return nil, fmt.Errorf("complete %s: %w", id, err)
		}
	}
	if err := appendHistory(ctx, tx, id, len(st.OldEvents()), events); err != nil {
		return nil, fmt.Errorf("complete %s: %w", id, err)
	}

	var newTasks []int64
	for _, e := range st.PendingTasks() {
		payload, err := backend.MarshalHistoryEvent(e)
		if err != nil {
			return nil, err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO tasks (instance_id, payload) VALUES (?, ?)`, string(id), payload)
		if err != nil {
			return nil, fmt.Errorf("complete %s: schedule activity: %w", id, err)
		}
		seq, err := res.LastInsertId()
		if err != nil {
			return nil, fmt.Errorf("complete %s: schedule activity: %w", id, err)
		}
		newTasks = append(newTasks, seq)
	}

	type queued struct {
		id  api.InstanceID
		ref inboxRef
	}
	var newEvents []queued
	completed := st.IsCompleted()
	if !completed {
		for _, e := range st.PendingTimers() {
			payload, err := backend.MarshalHistoryEvent(e)
			if err != nil {
				return nil, err
			}
			at := e.GetTimerFired().GetFireAt().AsTime()
			ref, err := insertInbox(ctx, tx, id, inboxRef{visibleAt: at, dueAt: at}, payload)
			if err != nil {
				return nil, err
			}
			newEvents = append(newEvents, queued{id, ref})
		}
	}
	for _, msg := range st.PendingMessages() {
		target := api.InstanceID(msg.TargetInstanceID)
		payload, err := backend.MarshalHistoryEvent(msg.HistoryEvent)
		if err != nil {
			return nil, err
		}
		if msg.HistoryEvent.GetExecutionStarted() == nil {
			// An event for another instance, a terminate included, is
			// queued as a client's would be.
			status, found, err := instanceStatus(ctx, tx, target)
			if err != nil {
				return nil, fmt.Errorf("complete %s: %w", id, err)
			}
			if !found {
				s.log.Debug("dropping a message for a missing instance", "instance_id", id, "target", target)
				continue
			}
			apply, err := s.queueEvent(ctx, tx, target, status, acceptedNow(), msg.HistoryEvent, payload)
			if err != nil {
				return nil, fmt.Errorf("complete %s: %w", id, err)
			}
			if apply != nil {
				messages = append(messages, apply)
			}
			continue
		}
		err = s.insertInstance(ctx, tx, target, msg.HistoryEvent, &api.OrchestrationIdReusePolicy{})
		if errors.Is(err, api.ErrDuplicateInstance) {
			s.log.Warn("sub-orchestration already exists; not starting it again", "instance_id", id, "target", target)
			continue
		}
		if err != nil {
			return nil, err
		}
		ref := acceptedNow()
		ref.isStart = true
		ref, err = insertInbox(ctx, tx, target, ref, payload)
		if err != nil {
			return nil, err
		}
		newEvents = append(newEvents, queued{target, ref})
	}

	// A finished instance keeps no waiting events: its pending timers and
	// late events would only replay a completed orchestration.
	if completed {
		if _, err := tx.ExecContext(ctx, `DELETE FROM inbox WHERE instance_id = ?`, string(id)); err != nil {
			return nil, fmt.Errorf("complete %s: clear inbox: %w", id, err)
		}
	} else if err := deleteSeqs(ctx, tx, delivered); err != nil {
		return nil, fmt.Errorf("complete %s: %w", id, err)
	}

	return func(now time.Time) {
		in := s.instances[id]
		if completed {
			in.inbox = nil
		} else {
			in.inbox = without(in.inbox, delivered)
		}
		// The activities of an instance's first execution wait behind
		// those of instances under way (see index.go).
		tasks := &s.tasks
		if in.unstarted {
			tasks = &s.firstTasks
		}
		in.locked, in.lockedBy, in.delivered, in.dequeues, in.notBefore, in.unstarted = false, "", nil, 0, time.Time{}, false
		for _, q := range newEvents {
			s.addEventLocked(q.id, q.ref, now)
		}
		for _, apply := range messages {
			apply(now)
		}
		s.enqueueLocked(id, in, now)
		s.forgetLocked(id, in)
		s.changedLocked(id)
		if len(newTasks) > 0 {
			for _, seq := range newTasks {
				tasks.push(seq)
				s.taskOwner[seq] = id
			}
			s.wakeTasksLocked()
		}
	}, nil
}

// entityMessageFrom is a message an orchestration sends to an entity, as
// the entity receives it: a lock request goes to the entity its position
// names, and the sender is named even if the SDK left it out.
func entityMessageFrom(id api.InstanceID, m *mgmt.EntityMessage) *mgmt.EntityMessage {
	out := *m
	if out.Kind == mgmt.EntityLock && int(out.Position) < len(out.LockSet) {
		out.Target = out.LockSet[out.Position]
	}
	if out.Kind != mgmt.EntitySignal && out.ParentInstance == "" {
		out.ParentInstance = string(id)
	}
	return &out
}

// rowStatus is the status an instance's row records beside the history
// of st, so that the row never contradicts the history saved with it. A
// history without ExecutionStarted is refused: the runtime reports it as
// Pending, and a row Pending with a completion time and output (as a
// terminate delivered without its start once produced) could never be
// waited for, purged or started. A completed history records the status it
// completed with, even if the runtime state still reports it suspended.
func rowStatus(st *backend.OrchestrationRuntimeState) (api.OrchestrationStatus, error) {
	if _, err := st.Name(); err != nil && len(st.NewEvents()) > 0 {
		return 0, errors.New("refusing to save a history without ExecutionStarted")
	}
	if st.IsCompleted() {
		for _, events := range [][]*backend.HistoryEvent{st.NewEvents(), st.OldEvents()} {
			for _, e := range events {
				if ec := e.GetExecutionCompleted(); ec != nil {
					return ec.GetOrchestrationStatus(), nil
				}
			}
		}
	}
	return st.RuntimeStatus(), nil
}

// appendHistory writes events to an instance's history from position
// from on.
func appendHistory(ctx context.Context, tx *txn, id api.InstanceID, from int, events []*backend.HistoryEvent) error {
	for i, e := range events {
		payload, err := backend.MarshalHistoryEvent(e)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO history (instance_id, seq, payload) VALUES (?, ?, ?)`, string(id), from+i, payload); err != nil {
			return fmt.Errorf("append history: %w", err)
		}
	}
	return nil
}

func deleteSeqs(ctx context.Context, tx *txn, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	args := make([]any, len(seqs))
	for i, seq := range seqs {
		args[i] = seq
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM inbox WHERE seq IN (?`+strings.Repeat(",?", len(seqs)-1)+`)`, args...)
	if err != nil {
		return fmt.Errorf("remove processed events: %w", err)
	}
	return nil
}
