package scheduler

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/microsoft/durabletask-go/backend"

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

// normalizeEntityID lower-cases the name of "@name@key", as the SDKs do.
func normalizeEntityID(id string) string {
	name, key, ok := mgmt.SplitEntityID(id)
	if !ok {
		return id
	}
	return "@" + strings.ToLower(name) + "@" + key
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
