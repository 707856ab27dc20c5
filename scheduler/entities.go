package scheduler

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/approvals-go/approvals/dts/mgmt"
)

// Durable entities. An entity ("@name@key") is a row of state and a queue
// of messages (entity_inbox): operations signalled by clients, entities
// and orchestrations, operations orchestrations call and wait for, and
// the lock requests and unlocks of orchestrations' critical sections.
//
// A worker runs the operations: an entity with operations it may run is
// handed out as one work item (the service's EntityRequest, with the
// state and up to maxEntityBatch operations), one batch per entity at a
// time, and its result (CompleteEntityTask) saves the new state, sends the
// results of calls to the orchestrations that wait for them, and queues
// the signals and orchestration starts the operations asked for, in one
// transaction. Locks are the scheduler's own business: a lock request
// that reaches the front of an entity's queue takes its lock and goes on
// to the next entity of its lock set, and the last one grants the
// critical section to its orchestration; while an entity is locked, only
// the messages of the orchestration holding the lock are run, the others
// wait for its unlock.
//
// Like orchestrations' inbox, what is runnable is indexed in memory
// (entityQueue) and rebuilt from the database on open (loadEntities).

// maxEntityBatch bounds the operations of one entity work item.
const maxEntityBatch = 100

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

// normalizeEntityID lower-cases the name of "@name@key", as the SDKs do.
func normalizeEntityID(id string) string {
	name, key, ok := mgmt.SplitEntityID(id)
	if !ok {
		return id
	}
	return "@" + strings.ToLower(name) + "@" + key
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

// queueEntityMessage stores a message to an entity inside a write, creating
// the entity's row if it has none, and returns the in-memory update.
func (s *Store) queueEntityMessage(ctx context.Context, tx *txn, m *mgmt.EntityMessage, e *backend.HistoryEvent) (func(time.Time), error) {
	target := normalizeEntityID(m.Target)
	if _, _, ok := mgmt.SplitEntityID(target); !ok {
		s.log.Warn("dropping a message to an entity whose ID is not @name@key", "target", m.Target)
		return nil, nil
	}
	payload, err := backend.MarshalHistoryEvent(e)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO entities (id, updated_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`,
		target, time.Now().UnixNano()); err != nil {
		return nil, fmt.Errorf("queue message for %s: %w", target, err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO entity_inbox (entity_id, visible_at, payload) VALUES (?, ?, ?)`,
		target, toNanos(m.ScheduledTime), payload)
	if err != nil {
		return nil, fmt.Errorf("queue message for %s: %w", target, err)
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return nil, err
	}
	ref := entityRef{seq: seq, visibleAt: m.ScheduledTime, kind: m.Kind, parent: m.ParentInstance}
	return func(now time.Time) {
		q := s.entityLocked(target)
		q.refs = append(q.refs, ref)
		s.enqueueEntityLocked(target, now)
	}, nil
}

// SignalEntity implements mgmt.Service. Signals are never refused for
// load, like raised events.
func (s *Store) SignalEntity(ctx context.Context, m *mgmt.EntityMessage) error {
	e := m.Event(-1)
	return s.write(ctx, func(ctx context.Context, tx *txn) (func(time.Time), error) {
		return s.queueEntityMessage(ctx, tx, m, e)
	})
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

// entityWorkItem is a batch of an entity's operations handed to a worker.
type entityWorkItem struct {
	id    string
	token string
	state *string
	ops   []*backend.HistoryEvent
}

// NextEntityWorkItem blocks until an entity whose name accepts allows (nil
// for any) has operations to run, and returns them as a work item for a
// worker. Lock requests and unlocks met on the way are handled here.
func (s *Store) nextEntityWorkItem(ctx context.Context, accepts func(name string) bool) (*entityWorkItem, error) {
	for {
		s.mu.Lock()
		now := time.Now()
		wait := s.nextEntityDueLocked(now)
		var (
			id    string
			batch []entityRef
			lock  *entityRef
		)
		for i := 0; i < len(s.entityReady); i++ {
			cand := s.entityReady[i]
			q := s.entities[cand]
			name, _, _ := mgmt.SplitEntityID(cand)
			if q != nil && accepts != nil && !accepts(name) {
				continue
			}
			s.entityReady = slices.Delete(s.entityReady, i, i+1)
			i--
			if q == nil {
				continue
			}
			q.ready = false
			if batch, lock = q.next(now); len(batch) > 0 || lock != nil {
				id = cand
				break
			}
		}
		var token string
		if lock != nil {
			q := s.entities[id]
			q.busy = "lock"
			l := *lock
			lock = &l
		} else if len(batch) > 0 {
			token = newToken()
			q := s.entities[id]
			q.busy, q.batch = token, batch
			s.entityTokens[token] = id
		}
		wake := s.entityWake
		s.mu.Unlock()

		switch {
		case lock != nil:
			if err := s.handleLockMessage(ctx, id, *lock); err != nil {
				s.releaseEntity(id, "lock")
				return nil, err
			}
			continue
		case len(batch) > 0:
			wi, err := s.readEntityWorkItem(ctx, id, token, batch)
			if err != nil {
				s.releaseEntity(id, token)
				return nil, err
			}
			return wi, nil
		}
		if err := sleep(ctx, wake, wait); err != nil {
			return nil, err
		}
	}
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

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// readEntityWorkItem reads the state and the messages of a batch.
func (s *Store) readEntityWorkItem(ctx context.Context, id, token string, batch []entityRef) (*entityWorkItem, error) {
	wi := &entityWorkItem{id: id, token: token}
	var state sql.NullString
	if err := s.reader.queryRow(ctx, `SELECT state FROM entities WHERE id = ?`, id).Scan(&state); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read state of %s: %w", id, err)
	}
	if state.Valid {
		wi.state = &state.String
	}
	for _, r := range batch {
		var payload []byte
		if err := s.reader.queryRow(ctx, `SELECT payload FROM entity_inbox WHERE seq = ?`, r.seq).Scan(&payload); err != nil {
			return nil, fmt.Errorf("read message %d of %s: %w", r.seq, id, err)
		}
		e, err := backend.UnmarshalHistoryEvent(payload)
		if err != nil {
			return nil, err
		}
		wi.ops = append(wi.ops, e)
	}
	return wi, nil
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

// AbandonEntityTask implements mgmt.Service: the batch is offered again.
func (s *Store) AbandonEntityTask(_ context.Context, token string) error {
	s.mu.Lock()
	id, ok := s.entityTokens[token]
	s.mu.Unlock()
	if !ok {
		return status.Error(codes.FailedPrecondition, "unknown completion token: the entity work item was completed or abandoned already")
	}
	s.releaseEntity(id, token)
	return nil
}

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

// CompleteEntityTask implements mgmt.Service: it saves the entity's new
// state, sends the results of calls to their orchestrations and queues the
// signals and starts the operations asked for. A batch that failed as a
// whole is offered again after a second.
func (s *Store) CompleteEntityTask(ctx context.Context, r mgmt.EntityBatchResult) error {
	s.mu.Lock()
	id, ok := s.entityTokens[r.CompletionToken]
	var batch []entityRef
	if ok {
		batch = s.entities[id].batch
	}
	s.mu.Unlock()
	if !ok {
		return status.Error(codes.FailedPrecondition, "unknown completion token: the entity work item was completed or abandoned already")
	}
	if r.Failure != nil {
		s.log.Warn("entity batch failed; running it again in a second", "entity", id, "error", r.Failure.GetErrorMessage())
		time.AfterFunc(time.Second, func() { s.releaseEntity(id, r.CompletionToken) })
		return nil
	}
	done := batch[:min(len(r.Results), len(batch))]
	return s.write(ctx, func(ctx context.Context, tx *txn) (func(time.Time), error) {
		var state any
		if r.State != nil {
			state = *r.State
		}
		if _, err := tx.ExecContext(ctx, `UPDATE entities SET state = ?, updated_at = ? WHERE id = ?`, state, time.Now().UnixNano(), id); err != nil {
			return nil, fmt.Errorf("save entity %s: %w", id, err)
		}
		seqs := make([]int64, len(done))
		var applies []func(time.Time)
		for i, ref := range done {
			seqs[i] = ref.seq
			if ref.kind != mgmt.EntityCall || ref.parent == "" {
				continue
			}
			call, err := entityMessageAt(ctx, tx, id, ref.seq)
			if err != nil {
				return nil, err
			}
			res := r.Results[i]
			reply := mgmt.EntityOperationCompleted(call.RequestID, res.Output, res.HasOutput)
			if res.Failure != nil {
				reply = mgmt.EntityOperationFailed(call.RequestID, res.Failure)
			}
			apply, err := s.queueOrchestrationEvent(ctx, tx, api.InstanceID(ref.parent), reply)
			if err != nil {
				return nil, err
			}
			applies = append(applies, apply)
		}
		if len(seqs) > 0 {
			args := make([]any, len(seqs))
			for i, seq := range seqs {
				args[i] = seq
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM entity_inbox WHERE seq IN (?`+strings.Repeat(",?", len(seqs)-1)+`)`, args...); err != nil {
				return nil, fmt.Errorf("remove processed messages of %s: %w", id, err)
			}
		}
		for _, sig := range r.Signals {
			if sig.RequestID == "" {
				sig.RequestID = uuid.NewString()
			}
			apply, err := s.queueEntityMessage(ctx, tx, sig, sig.Event(-1))
			if err != nil {
				return nil, err
			}
			applies = append(applies, apply)
		}
		for _, st := range r.Starts {
			apply, err := s.startForEntity(ctx, tx, st)
			if err != nil {
				return nil, err
			}
			applies = append(applies, apply)
		}
		return func(now time.Time) {
			delete(s.entityTokens, r.CompletionToken)
			q := s.entityLocked(id)
			q.refs = slices.DeleteFunc(q.refs, func(r entityRef) bool { return slices.Contains(seqs, r.seq) })
			q.busy, q.batch = "", nil
			for _, apply := range applies {
				if apply != nil {
					apply(now)
				}
			}
			s.enqueueEntityLocked(id, now)
		}, nil
	})
}

// startForEntity starts the orchestration an entity operation asked for,
// inside a write; an ID that is taken is logged and skipped.
func (s *Store) startForEntity(ctx context.Context, tx *txn, st mgmt.StartOrchestration) (func(time.Time), error) {
	id := st.InstanceID
	if id == "" {
		id = uuid.NewString()
	}
	e := &backend.HistoryEvent{EventId: -1, Timestamp: timestamppb.Now()}
	r := e.ProtoReflect()
	es := r.Mutable(field(r, "executionStarted")).Message()
	es.Set(field(es, "name"), protoreflect.ValueOfString(st.Name))
	if st.Version != "" {
		es.Set(field(es, "version"), protoreflect.ValueOfMessage(wrapperspb.String(st.Version).ProtoReflect()))
	}
	if st.HasInput {
		es.Set(field(es, "input"), protoreflect.ValueOfMessage(wrapperspb.String(st.Input).ProtoReflect()))
	}
	if !st.ScheduledTime.IsZero() {
		es.Set(field(es, "scheduledStartTimestamp"), protoreflect.ValueOfMessage(timestamppb.New(st.ScheduledTime).ProtoReflect()))
	}
	oi := es.Mutable(field(es, "orchestrationInstance")).Message()
	oi.Set(field(oi, "instanceId"), protoreflect.ValueOfString(id))
	oi.Set(field(oi, "executionId"), protoreflect.ValueOfMessage(wrapperspb.String(uuid.NewString()).ProtoReflect()))
	payload, err := backend.MarshalHistoryEvent(e)
	if err != nil {
		return nil, err
	}
	err = s.insertInstance(ctx, tx, api.InstanceID(id), e, &api.OrchestrationIdReusePolicy{})
	if errors.Is(err, api.ErrDuplicateInstance) {
		s.log.Warn("an entity started an orchestration whose ID is taken; not starting it", "instance_id", id)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ref := inboxRef{visibleAt: st.ScheduledTime, dueAt: latest(st.ScheduledTime, time.Now()), starts: true, isStart: true}
	ref, err = insertInbox(ctx, tx, api.InstanceID(id), ref, payload)
	if err != nil {
		return nil, err
	}
	return func(now time.Time) { s.addEventLocked(api.InstanceID(id), ref, now) }, nil
}
