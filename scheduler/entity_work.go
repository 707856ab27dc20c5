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

// maxEntityBatch bounds the operations of one entity work item.
const maxEntityBatch = 100

// entityWorkItem is a batch of an entity's operations handed to a worker.
type entityWorkItem struct {
	id    string
	token string
	state *string
	ops   []*backend.HistoryEvent
}

// nextEntityWorkItem blocks until an entity whose name accepts allows (nil
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

// newToken is a completion token for an entity batch. It goes to the
// worker and is the only check on CompleteEntityTask and
// AbandonEntityTask (the guard's tokens cover only orchestrations and
// activities), so it is random, unlike the store's internal lock IDs.
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
