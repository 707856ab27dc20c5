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

// handleLockMessage takes or releases an entity's lock for the lock
// request or unlock at the front of its queue: a lock goes on to the next
// entity of its set, or is granted to its orchestration by the last.
func (s *Store) handleLockMessage(ctx context.Context, id string, ref entityRef) error {
	return s.write(ctx, func(ctx context.Context, tx *txn) (func(time.Time), error) {
		m, err := entityMessageAt(ctx, tx, id, ref.seq)
		if err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM entity_inbox WHERE seq = ?`, ref.seq); err != nil {
			return nil, err
		}
		var then func(time.Time)
		lockedBy := ""
		if m.Kind == mgmt.EntityLock {
			lockedBy = m.ParentInstance
			if _, err := tx.ExecContext(ctx, `UPDATE entities SET locked_by = ?, lock_id = ?, updated_at = ? WHERE id = ?`,
				m.ParentInstance, m.CriticalSection, time.Now().UnixNano(), id); err != nil {
				return nil, err
			}
			if next := int(m.Position) + 1; next < len(m.LockSet) {
				fwd := *m
				fwd.Position, fwd.Target = int32(next), m.LockSet[next]
				then, err = s.queueEntityMessage(ctx, tx, &fwd, fwd.Event(-1))
			} else {
				then, err = s.queueOrchestrationEvent(ctx, tx, api.InstanceID(m.ParentInstance), mgmt.EntityLockGranted(m.CriticalSection))
			}
			if err != nil {
				return nil, err
			}
		} else if _, err := tx.ExecContext(ctx, `UPDATE entities SET locked_by = NULL, lock_id = NULL, updated_at = ? WHERE id = ?`,
			time.Now().UnixNano(), id); err != nil {
			return nil, err
		}
		return func(now time.Time) {
			q := s.entityLocked(id)
			q.refs = slices.DeleteFunc(q.refs, func(r entityRef) bool { return r.seq == ref.seq })
			q.lockedBy = lockedBy
			q.busy = ""
			if then != nil {
				then(now)
			}
			s.enqueueEntityLocked(id, now)
		}, nil
	})
}

// entityMessageAt reads the waiting message seq of entity id inside a
// write.
func entityMessageAt(ctx context.Context, tx *txn, id string, seq int64) (*mgmt.EntityMessage, error) {
	var payload []byte
	if err := tx.QueryRowContext(ctx, `SELECT payload FROM entity_inbox WHERE seq = ?`, seq).Scan(&payload); err != nil {
		return nil, fmt.Errorf("read message %d of %s: %w", seq, id, err)
	}
	e, err := backend.UnmarshalHistoryEvent(payload)
	if err != nil {
		return nil, err
	}
	return mgmt.EntityMessageOf(e)
}
