package scheduler

import (
	"context"
	"fmt"
	"time"

	"github.com/microsoft/durabletask-go/backend"

	"github.com/approvals-go/approvals/dts/mgmt"
)

// Activity work items: the queues of activities the orchestrations
// scheduled, handed out one at a time, and their results.

// GetActivityWorkItem implements backend.Backend. Like its orchestration
// counterpart it blocks until there is work.
func (s *Store) GetActivityWorkItem(ctx context.Context) (*backend.ActivityWorkItem, error) {
	for {
		s.mu.Lock()
		seq, ok := s.tasks.pop()
		if !ok {
			seq, ok = s.firstTasks.pop()
		}
		id, owned := s.taskOwner[seq]
		var lockedBy string
		if ok && owned {
			lockedBy = s.nextLockIDLocked()
			s.taskLocks[seq] = lockedBy
		}
		wake := s.taskWake
		s.mu.Unlock()
		if !ok {
			if err := sleep(ctx, wake, -1); err != nil {
				return nil, err
			}
			continue
		}
		if !owned {
			continue
		}
		payload, found, err := s.reader.task(ctx, seq)
		if err != nil {
			s.requeueTask(seq)
			return nil, fmt.Errorf("read activity %d of %s: %w", seq, id, err)
		}
		if !found {
			// Its orchestration was purged or replaced.
			s.dropTask(seq)
			continue
		}
		e, err := backend.UnmarshalHistoryEvent(payload)
		if err != nil {
			// Retrying cannot mend a payload that does not decode.
			s.log.Error("dropping an activity that cannot be decoded", "instance_id", id, "task", seq, "err", err)
			s.dropTask(seq)
			continue
		}
		return &backend.ActivityWorkItem{SequenceNumber: seq, InstanceID: id, NewEvent: e, LockedBy: lockedBy}, nil
	}
}

func (s *Store) dropTask(seq int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.taskOwner, seq)
	delete(s.taskLocks, seq)
}

// requeueTask puts an activity that was handed out back at the very front:
// it has waited longest.
func (s *Store) requeueTask(seq int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.taskLocks, seq)
	s.tasks.pushFront(seq)
	s.wakeTasksLocked()
}

// holdsTask reports whether wi is the current dispatch of its task.
func (s *Store) holdsTask(wi *backend.ActivityWorkItem) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.taskLocks[wi.SequenceNumber] == wi.LockedBy && wi.LockedBy != ""
}

// CompleteActivityWorkItem implements backend.Backend: the activity's
// result becomes an event for its orchestration.
func (s *Store) CompleteActivityWorkItem(ctx context.Context, wi *backend.ActivityWorkItem) error {
	payload, err := backend.MarshalHistoryEvent(wi.Result)
	if err != nil {
		return err
	}
	if !s.holdsTask(wi) {
		return backend.ErrWorkItemLockLost
	}
	return s.write(ctx, func(ctx context.Context, tx *txn) (func(time.Time), error) {
		// Deleting the task is what claims the completion: a second
		// completion of the same dispatch finds nothing to delete.
		res, err := tx.ExecContext(ctx, `DELETE FROM tasks WHERE seq = ?`, wi.SequenceNumber)
		if err != nil {
			return nil, fmt.Errorf("complete activity %s: %w", wi, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil, backend.ErrWorkItemLockLost
		}
		// The result of an activity whose orchestration has finished (or
		// been purged) has nobody to go to.
		status, found, err := instanceStatus(ctx, tx, wi.InstanceID)
		if err != nil {
			return nil, fmt.Errorf("complete activity %s: %w", wi, err)
		}
		alive := found && !mgmt.Final(status)
		var ref inboxRef
		if alive {
			if ref, err = insertInbox(ctx, tx, wi.InstanceID, acceptedNow(), payload); err != nil {
				return nil, err
			}
		}
		return func(now time.Time) {
			delete(s.taskOwner, wi.SequenceNumber)
			delete(s.taskLocks, wi.SequenceNumber)
			if alive {
				s.addEventLocked(wi.InstanceID, ref, now)
			}
		}, nil
	})
}

// AbandonActivityWorkItem implements backend.Backend.
func (s *Store) AbandonActivityWorkItem(_ context.Context, wi *backend.ActivityWorkItem) error {
	if !s.holdsTask(wi) {
		return backend.ErrWorkItemLockLost
	}
	s.requeueTask(wi.SequenceNumber)
	return nil
}
