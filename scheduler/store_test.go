package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"
	"google.golang.org/protobuf/encoding/protojson"
)

func event(t *testing.T, js string) *backend.HistoryEvent {
	t.Helper()
	e := &backend.HistoryEvent{}
	if err := protojson.Unmarshal([]byte(js), e); err != nil {
		t.Fatal(err)
	}
	return e
}

func openStore(t *testing.T, path string) *Store {
	t.Helper()
	s, err := OpenStore(path, "normal", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// bothStores runs test on an in-memory store and on a file store: reads
// share the writer's one connection in the first and go through the reader
// pool in the second.
func bothStores(t *testing.T, test func(t *testing.T, s *Store)) {
	t.Helper()
	t.Run("memory", func(t *testing.T) { test(t, openStore(t, "")) })
	t.Run("file", func(t *testing.T) { test(t, openStore(t, filepath.Join(t.TempDir(), "s.db"))) })
}

func startInstance(t *testing.T, s *Store, id string) {
	t.Helper()
	e := event(t, `{"eventId":-1,"timestamp":"2026-01-01T00:00:00Z","executionStarted":{"name":"o","orchestrationInstance":{"instanceId":"`+id+`"}}}`)
	if err := s.CreateOrchestrationInstance(context.Background(), e); err != nil {
		t.Fatal(err)
	}
}

func raised(t *testing.T) *backend.HistoryEvent {
	return event(t, `{"eventId":-1,"timestamp":"2026-01-01T00:00:00Z","eventRaised":{"name":"approval_response"}}`)
}

// addTask queues an activity for id as an orchestrator execution would.
func addTask(t *testing.T, s *Store, id string) {
	t.Helper()
	payload, err := backend.MarshalHistoryEvent(event(t, `{"eventId":0,"timestamp":"2026-01-01T00:00:00Z","taskScheduled":{"name":"a"}}`))
	if err != nil {
		t.Fatal(err)
	}
	err = s.write(context.Background(), func(ctx context.Context, tx *txn) (func(time.Time), error) {
		res, err := tx.ExecContext(ctx, `INSERT INTO tasks (instance_id, payload) VALUES (?, ?)`, id, payload)
		if err != nil {
			return nil, err
		}
		seq, err := res.LastInsertId()
		return func(time.Time) {
			s.tasks.push(seq)
			s.taskOwner[seq] = api.InstanceID(id)
		}, err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func inboxRows(t *testing.T, s *Store, id string) int {
	t.Helper()
	var n int
	if err := s.reader.db.QueryRow(`SELECT count(*) FROM inbox WHERE instance_id = ?`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// fetch gets an orchestration work item, or nil if none comes within d.
func fetch(t *testing.T, s *Store, d time.Duration) *backend.OrchestrationWorkItem {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	wi, err := s.GetOrchestrationWorkItem(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return wi
}

func TestActivityCompletesOnce(t *testing.T) {
	bothStores(t, func(t *testing.T, s *Store) {
		startInstance(t, s, "i1")
		addTask(t, s, "i1")
		wi, err := s.GetActivityWorkItem(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		wi.Result = event(t, `{"eventId":-1,"timestamp":"2026-01-01T00:00:00Z","taskCompleted":{"taskScheduledId":0}}`)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.CompleteActivityWorkItem(context.Background(), wi)
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, backend.ErrWorkItemLockLost):
				t.Fatalf("unexpected error: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d of 2 completions of one dispatch succeeded, want 1 (%v)", ok, errs)
		}
		if n := inboxRows(t, s, "i1"); n != 2 {
			t.Fatalf("inbox holds %d events, want the start and one result", n)
		}
		if err := s.AbandonActivityWorkItem(context.Background(), wi); !errors.Is(err, backend.ErrWorkItemLockLost) {
			t.Fatalf("abandoning a completed activity = %v, want lock lost", err)
		}
	})
}

// After a failed attempt is abandoned with a delay, events that arrive
// meanwhile wait too, and are delivered after the ones the attempt had.
func TestAbandonDelayKeepsOrder(t *testing.T) {
	bothStores(t, func(t *testing.T, s *Store) {
		startInstance(t, s, "i2")
		ctx := context.Background()
		wi := fetch(t, s, time.Second)
		if err := s.AbandonOrchestrationWorkItem(ctx, wi); err != nil { // first retry: no delay
			t.Fatal(err)
		}
		wi = fetch(t, s, time.Second)
		if wi.GetAbandonDelay() <= 0 {
			t.Fatalf("second attempt has no abandon delay (retry count %d)", wi.RetryCount)
		}
		if err := s.AbandonOrchestrationWorkItem(ctx, wi); err != nil {
			t.Fatal(err)
		}
		if err := s.AddNewOrchestrationEvent(ctx, "i2", raised(t)); err != nil {
			t.Fatal(err)
		}
		if early := fetch(t, s, 300*time.Millisecond); early != nil {
			t.Fatalf("a work item with %d events was handed out during the abandon delay", len(early.NewEvents))
		}
		wi = fetch(t, s, 5*time.Second)
		if wi == nil || len(wi.NewEvents) != 2 || wi.NewEvents[0].GetExecutionStarted() == nil || wi.NewEvents[1].GetEventRaised() == nil {
			t.Fatalf("after the delay got %v, want the start and then the event", wi)
		}
	})
}

func TestWriteDuringCloseReturns(t *testing.T) {
	for range 100 {
		s, err := OpenStore("", "full", slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			done <- s.write(context.Background(), func(context.Context, *txn) (func(time.Time), error) { return nil, nil })
		}()
		s.Close()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, errClosed) {
				t.Fatalf("write racing Close = %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a write racing Close never returned")
		}
	}
}

// A restart rebuilds the queues from the file: waiting events, activities
// and timers are all offered again, in-flight locks are not kept.
func TestRestartRestoresQueues(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := OpenStore(path, "full", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	startInstance(t, s, "i3")
	startInstance(t, s, "i4")
	addTask(t, s, "i4")
	if wi := fetch(t, s, time.Second); wi == nil { // locked when the process "dies"
		t.Fatal("no work item")
	}
	s.Close()

	s = openStore(t, path)
	seen := map[api.InstanceID]bool{}
	for range 2 {
		wi := fetch(t, s, time.Second)
		if wi == nil || len(wi.NewEvents) != 1 || wi.NewEvents[0].GetExecutionStarted() == nil {
			t.Fatalf("after restart got %v, want a start event", wi)
		}
		seen[wi.InstanceID] = true
	}
	if !seen["i3"] || !seen["i4"] {
		t.Fatalf("after restart instances %v were offered, want i3 and i4", seen)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if awi, err := s.GetActivityWorkItem(ctx); err != nil || awi.InstanceID != "i4" {
		t.Fatalf("after restart the activity was not offered again: %v %v", awi, err)
	}
}

// markCompleted finishes an instance by hand, as an execution that
// completed would, leaving what was queued for it.
func markCompleted(t *testing.T, s *Store, id string) {
	t.Helper()
	err := s.write(context.Background(), func(ctx context.Context, tx *txn) (func(time.Time), error) {
		_, err := tx.ExecContext(ctx, `UPDATE instances SET status = ? WHERE id = ?`, int32(api.RUNTIME_STATUS_COMPLETED), id)
		return nil, err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Purging an instance cuts off work handed out for it before.
func TestPurgeDropsStaleWork(t *testing.T) {
	bothStores(t, func(t *testing.T, s *Store) {
		startInstance(t, s, "i5")
		addTask(t, s, "i5")
		markCompleted(t, s, "i5")
		if err := s.PurgeOrchestrationState(context.Background(), "i5"); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		if awi, err := s.GetActivityWorkItem(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("an activity of a purged instance was offered: %v %v", awi, err)
		}
		if err := s.AddNewOrchestrationEvent(context.Background(), "i5", raised(t)); !errors.Is(err, api.ErrInstanceNotFound) {
			t.Fatalf("event for a purged instance = %v, want not found", err)
		}
		if _, err := s.GetOrchestrationMetadata(context.Background(), "i5"); !errors.Is(err, api.ErrInstanceNotFound) {
			t.Fatalf("metadata of a purged instance = %v, want not found", err)
		}
	})
}

func TestEventForFinishedInstanceIsDropped(t *testing.T) {
	bothStores(t, func(t *testing.T, s *Store) {
		startInstance(t, s, "i6")
		markCompleted(t, s, "i6")
		before := inboxRows(t, s, "i6")
		if err := s.AddNewOrchestrationEvent(context.Background(), "i6", raised(t)); err != nil {
			t.Fatal(err)
		}
		if after := inboxRows(t, s, "i6"); after != before {
			t.Fatalf("an event for a finished instance was stored (%d -> %d rows)", before, after)
		}
	})
}

func TestTimerHeapIsCompacted(t *testing.T) {
	s := openStore(t, "")
	s.mu.Lock()
	defer s.mu.Unlock()
	far := time.Now().Add(time.Hour)
	// Timers of instances that are gone, as after approvals decided early.
	for i := range 5000 {
		s.addTimerLocked(timer{at: far.Add(time.Duration(i)), id: api.InstanceID("gone")})
	}
	if n := s.timers.len(); n > 1100 {
		t.Fatalf("the timer heap kept %d timers of finished instances", n)
	}
}

func TestTimerCompactionKeepsLiveTimersAndIsRare(t *testing.T) {
	s := openStore(t, "")
	s.mu.Lock()
	defer s.mu.Unlock()
	in := &instance{}
	s.instances["live"] = in
	far := time.Now().Add(time.Hour)
	// One instance with many live timers: compaction must keep them all,
	// and must not run again for every new one.
	for i := range 6000 {
		at := far.Add(time.Duration(i))
		in.inbox = append(in.inbox, inboxRef{seq: int64(i), visibleAt: at})
		s.addTimerLocked(timer{at: at, id: "live"})
	}
	if n := s.timers.len(); n != 6000 {
		t.Fatalf("heap holds %d timers, want the 6000 live ones", n)
	}
	if s.liveTimers < 2000 {
		t.Fatalf("compaction last kept %d timers; with live timers alone it should have run rarely", s.liveTimers)
	}
}
