package scheduler

import (
	"fmt"
	"time"

	"github.com/microsoft/durabletask-go/backend"

	"github.com/approvals-go/approvals/dts/mgmt"
)

// entityRef is a waiting message to an entity, with what the index needs
// of it.
type entityRef struct {
	seq       int64
	visibleAt time.Time
	kind      mgmt.EntityMessageKind
	// parent is the orchestration that sent it (calls, locks, unlocks).
	parent string
}

// entityQueue is the in-memory view of an entity with waiting messages or
// a lock.
type entityQueue struct {
	refs []entityRef
	// lockedBy is the orchestration holding the entity's lock.
	lockedBy string
	// busy is the completion token of the batch being run, or "lock"
	// while a lock message is being handled; "" when neither.
	busy  string
	batch []entityRef
	ready bool
}

// next picks what to do for the entity at now: a batch of operations for
// a worker, or a lock message for the scheduler (when it comes first).
func (q *entityQueue) next(now time.Time) (batch []entityRef, lock *entityRef) {
	if q.busy != "" {
		return nil, nil
	}
	for i, r := range q.refs {
		if r.visibleAt.After(now) || (q.lockedBy != "" && r.parent != q.lockedBy) {
			continue
		}
		if r.kind == mgmt.EntityLock || r.kind == mgmt.EntityUnlock {
			if len(batch) == 0 {
				return nil, &q.refs[i]
			}
			break
		}
		batch = append(batch, r)
		if len(batch) == maxEntityBatch {
			break
		}
	}
	return batch, nil
}

func (s *Store) entityLocked(id string) *entityQueue {
	q := s.entities[id]
	if q == nil {
		q = &entityQueue{}
		s.entities[id] = q
	}
	return q
}

// enqueueEntityLocked marks an entity ready when it has something to do
// now, and wakes the entity dispatchers (also for a message due later,
// so that they sleep until then).
func (s *Store) enqueueEntityLocked(id string, now time.Time) {
	q := s.entities[id]
	if q == nil {
		return
	}
	s.markReadyLocked(id, q, now)
	if q.busy == "" && len(q.refs) == 0 && q.lockedBy == "" {
		delete(s.entities, id)
	}
	close(s.entityWake)
	s.entityWake = make(chan struct{})
}

// markReadyLocked puts an entity on the ready list when it has something
// to do now.
func (s *Store) markReadyLocked(id string, q *entityQueue, now time.Time) {
	if q.ready {
		return
	}
	if batch, lock := q.next(now); len(batch) > 0 || lock != nil {
		q.ready = true
		s.entityReady = append(s.entityReady, id)
	}
}

// loadEntities rebuilds the entity index after a restart.
func (s *Store) loadEntities() error {
	rows, err := s.db.Query(`SELECT seq, entity_id, visible_at, payload FROM entity_inbox ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("read entity inbox: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq, visible int64
		var id string
		var payload []byte
		if err := rows.Scan(&seq, &id, &visible, &payload); err != nil {
			return fmt.Errorf("read entity inbox row: %w", err)
		}
		ref := entityRef{seq: seq, visibleAt: fromNanos(visible)}
		if e, err := backend.UnmarshalHistoryEvent(payload); err == nil {
			if m, err := mgmt.EntityMessageOf(e); err == nil {
				ref.kind, ref.parent = m.Kind, m.ParentInstance
			}
		}
		if ref.kind == 0 {
			s.log.Error("skipping an entity message that cannot be decoded", "entity", id, "seq", seq)
			continue
		}
		q := s.entityLocked(id)
		q.refs = append(q.refs, ref)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	locks, err := s.db.Query(`SELECT id, locked_by FROM entities WHERE locked_by IS NOT NULL`)
	if err != nil {
		return fmt.Errorf("read entity locks: %w", err)
	}
	defer locks.Close()
	for locks.Next() {
		var id, by string
		if err := locks.Scan(&id, &by); err != nil {
			return err
		}
		s.entityLocked(id).lockedBy = by
	}
	if err := locks.Err(); err != nil {
		return err
	}
	now := time.Now()
	for id := range s.entities {
		s.enqueueEntityLocked(id, now)
	}
	return nil
}

// nextEntityDueLocked marks ready the entities whose delayed messages have
// fallen due, and returns how long until the next one does; -1 for none.
func (s *Store) nextEntityDueLocked(now time.Time) time.Duration {
	var first time.Time
	for id, q := range s.entities {
		s.markReadyLocked(id, q, now)
		for _, r := range q.refs {
			if r.visibleAt.After(now) && (first.IsZero() || r.visibleAt.Before(first)) {
				first = r.visibleAt
			}
		}
	}
	if first.IsZero() {
		return -1
	}
	return first.Sub(now)
}

// releaseEntity ends the batch or lock handling busy and offers the entity
// again.
func (s *Store) releaseEntity(id, busy string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.entities[id]
	if q == nil || q.busy != busy {
		return
	}
	q.busy, q.batch = "", nil
	delete(s.entityTokens, busy)
	s.enqueueEntityLocked(id, time.Now())
}
