package scheduler

import (
	"context"
	"errors"
	"fmt"
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
	return s.write(ctx, func(ctx context.Context, tx *txn) (func(time.Time), error) {
		return s.saveExecution(ctx, tx, wi.InstanceID, st, delivered)
	})
}

// saveExecution writes what one orchestrator execution did and returns the
// matching in-memory update.
func (s *Store) saveExecution(ctx context.Context, tx *txn, id api.InstanceID, st *backend.OrchestrationRuntimeState, delivered []int64) (func(time.Time), error) {
	var err error
	now := time.Now()
	set := []string{"status = ?", "updated_at = ?"}
	args := []any{int32(st.RuntimeStatus()), now.UnixNano()}
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
	next := len(st.OldEvents())
	for _, e := range st.NewEvents() {
		payload, err := backend.MarshalHistoryEvent(e)
		if err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO history (instance_id, seq, payload) VALUES (?, ?, ?)`, string(id), next, payload); err != nil {
			return nil, fmt.Errorf("complete %s: append history: %w", id, err)
		}
		next++
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
		if msg.HistoryEvent.GetExecutionStarted() == nil {
			status, found, err := instanceStatus(ctx, tx, target)
			if err != nil {
				return nil, fmt.Errorf("complete %s: %w", id, err)
			}
			if !found || mgmt.Final(status) {
				s.log.Debug("dropping a message for a missing or finished instance", "instance_id", id, "target", target)
				continue
			}
		} else {
			err := s.insertInstance(ctx, tx, target, msg.HistoryEvent, &api.OrchestrationIdReusePolicy{})
			if errors.Is(err, api.ErrDuplicateInstance) {
				s.log.Warn("sub-orchestration already exists; not starting it again", "instance_id", id, "target", target)
				continue
			}
			if err != nil {
				return nil, err
			}
		}
		payload, err := backend.MarshalHistoryEvent(msg.HistoryEvent)
		if err != nil {
			return nil, err
		}
		ref, err := insertInbox(ctx, tx, target, acceptedNow(), payload)
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
