package scheduler

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"

	"github.com/approvals-go/approvals/dts/mgmt"
)

func signal(t *testing.T, s *Store, m mgmt.EntityMessage) {
	t.Helper()
	if m.Kind == 0 {
		m.Kind = mgmt.EntitySignal
	}
	if err := s.SignalEntity(context.Background(), &m); err != nil {
		t.Fatal(err)
	}
}

// nextEntity gets an entity work item, or nil if none comes within d.
func nextEntity(t *testing.T, s *Store, d time.Duration) *entityWorkItem {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	wi, err := s.nextEntityWorkItem(ctx, nil)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return wi
}

func operations(t *testing.T, wi *entityWorkItem) []string {
	t.Helper()
	var ops []string
	for _, e := range wi.ops {
		m, err := mgmt.EntityMessageOf(e)
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, m.Operation+"("+m.Input+")")
	}
	return ops
}

func completeEntity(t *testing.T, s *Store, wi *entityWorkItem, state *string, results ...mgmt.OperationResult) {
	t.Helper()
	if err := s.CompleteEntityTask(context.Background(), mgmt.EntityBatchResult{Results: results, State: state, CompletionToken: wi.token}); err != nil {
		t.Fatal(err)
	}
}

func ptr(s string) *string { return &s }

// A signalled entity is handed out one batch at a time; its result saves
// the state, and what arrived meanwhile comes in the next batch with it.
func TestEntityBatches(t *testing.T) {
	bothStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		signal(t, s, mgmt.EntityMessage{Target: "@Counter@k", Operation: "add", Input: "3", HasInput: true, RequestID: "r1"})
		if _, err := s.reader.Entity(ctx, "@counter@k", true); !errors.Is(err, mgmt.ErrEntityNotFound) {
			t.Fatalf("an entity without state exists: %v", err)
		}
		wi := nextEntity(t, s, time.Second)
		if wi == nil || wi.id != "@counter@k" || wi.state != nil || !slices.Equal(operations(t, wi), []string{"add(3)"}) {
			t.Fatalf("first batch %+v", wi)
		}
		signal(t, s, mgmt.EntityMessage{Target: "@counter@k", Operation: "add", Input: "4", HasInput: true, RequestID: "r2"})
		if again := nextEntity(t, s, 200*time.Millisecond); again != nil {
			t.Fatalf("a second batch of a busy entity was handed out: %+v", again)
		}
		completeEntity(t, s, wi, ptr("3"), mgmt.OperationResult{})
		if err := s.CompleteEntityTask(ctx, mgmt.EntityBatchResult{CompletionToken: wi.token}); err == nil {
			t.Fatal("a batch completed twice")
		}
		e, err := s.reader.Entity(ctx, "@counter@k", true)
		if err != nil || e.State != "3" || e.Backlog != 1 || e.LastModified.IsZero() {
			t.Fatalf("after the first batch: %+v %v", e, err)
		}

		wi = nextEntity(t, s, time.Second)
		if wi == nil || wi.state == nil || *wi.state != "3" || !slices.Equal(operations(t, wi), []string{"add(4)"}) {
			t.Fatalf("second batch %+v", wi)
		}
		if err := s.AbandonEntityTask(ctx, wi.token); err != nil {
			t.Fatal(err)
		}
		wi = nextEntity(t, s, time.Second)
		if wi == nil || !slices.Equal(operations(t, wi), []string{"add(4)"}) {
			t.Fatalf("the abandoned batch was not offered again: %+v", wi)
		}
		completeEntity(t, s, wi, nil, mgmt.OperationResult{}) // deleted

		if _, err := s.reader.Entity(ctx, "@counter@k", true); !errors.Is(err, mgmt.ErrEntityNotFound) {
			t.Fatalf("an entity whose state was deleted exists: %v", err)
		}
		page, err := s.reader.QueryEntities(ctx, mgmt.EntityQuery{IDPrefix: "COUNTER", IncludeTransient: true})
		if err != nil || len(page.Entities) != 1 || page.Entities[0].HasState {
			t.Fatalf("transient entities: %+v %v", page.Entities, err)
		}
		if page, _ := s.reader.QueryEntities(ctx, mgmt.EntityQuery{IDPrefix: "counter"}); len(page.Entities) != 0 {
			t.Fatalf("an entity without state listed without includeTransient: %+v", page.Entities)
		}
		done, err := s.CleanEntityStorage(ctx, mgmt.CleanEntities{RemoveEmpty: true, ReleaseOrphanedLocks: true})
		if err != nil || done.EmptyRemoved != 1 {
			t.Fatalf("clean: %+v %v", done, err)
		}
	})
}

func TestQueryEntitiesPages(t *testing.T) {
	bothStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		for _, key := range []string{"c", "a", "b"} {
			signal(t, s, mgmt.EntityMessage{Target: "@counter@" + key, Operation: "add"})
			completeEntity(t, s, nextEntity(t, s, time.Second), ptr(`"`+key+`"`), mgmt.OperationResult{})
		}
		signal(t, s, mgmt.EntityMessage{Target: "@other@a", Operation: "add"})
		completeEntity(t, s, nextEntity(t, s, time.Second), ptr("1"), mgmt.OperationResult{})
		var got []string
		q := mgmt.EntityQuery{IDPrefix: "@counter@", PageSize: 2, IncludeState: true}
		for {
			page, err := s.reader.QueryEntities(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page.Entities {
				got = append(got, e.ID+"="+e.State)
			}
			if page.ContinuationToken == "" {
				break
			}
			q.ContinuationToken = page.ContinuationToken
		}
		if want := []string{`@counter@a="a"`, `@counter@b="b"`, `@counter@c="c"`}; !slices.Equal(got, want) {
			t.Fatalf("pages gave %v, want %v", got, want)
		}
	})
}

// queueFromOrchestration queues a message an orchestration sent.
func queueFromOrchestration(t *testing.T, s *Store, m mgmt.EntityMessage) {
	t.Helper()
	err := s.write(context.Background(), func(ctx context.Context, tx *txn) (func(time.Time), error) {
		return s.queueEntityMessage(ctx, tx, &m, m.Event(-1))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// newerKinds are the kinds of the newer events an orchestration work item
// brings, as its worker sees them.
func newerKinds(wi *backend.OrchestrationWorkItem) []string {
	var kinds []string
	for _, e := range restored(wi.NewEvents) {
		if n, ok := mgmt.DecodeNewer(e); ok {
			kinds = append(kinds, n.Kind)
		}
	}
	return kinds
}

// The result of a call goes back to the orchestration that called; a lock
// request takes each entity of its set in turn and is granted by the
// last, and while an entity is locked only its holder's messages run.
func TestEntityCallsAndLocks(t *testing.T) {
	bothStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		startInstance(t, s, "o1")
		queueFromOrchestration(t, s, mgmt.EntityMessage{Kind: mgmt.EntityLock, Target: "@c@a", LockSet: []string{"@c@a", "@c@b"},
			CriticalSection: "cs1", ParentInstance: "o1"})
		signal(t, s, mgmt.EntityMessage{Target: "@c@a", Operation: "fromClient"})
		if wi := nextEntity(t, s, 300*time.Millisecond); wi != nil {
			t.Fatalf("a client's signal ran while the entity was locked: %v", operations(t, wi))
		}
		for _, id := range []string{"@c@a", "@c@b"} {
			if e, _ := s.reader.QueryEntities(ctx, mgmt.EntityQuery{IDPrefix: id, IncludeTransient: true}); len(e.Entities) != 1 || e.Entities[0].LockedBy != "o1" {
				t.Fatalf("%s after the lock request: %+v", id, e.Entities)
			}
		}
		wi := fetch(t, s, time.Second)
		if wi == nil || wi.InstanceID != "o1" || !slices.Equal(newerKinds(wi), []string{"entityLockGranted"}) {
			t.Fatalf("the orchestration was not granted its lock: %v", wi)
		}
		if err := s.AbandonOrchestrationWorkItem(ctx, wi); err != nil {
			t.Fatal(err)
		}

		queueFromOrchestration(t, s, mgmt.EntityMessage{Kind: mgmt.EntityCall, Target: "@c@a", Operation: "get", RequestID: "call-1", ParentInstance: "o1"})
		ewi := nextEntity(t, s, time.Second)
		if ewi == nil || !slices.Equal(operations(t, ewi), []string{"get()"}) {
			t.Fatalf("the holder's call did not run: %+v", ewi)
		}
		completeEntity(t, s, ewi, ptr("5"), mgmt.OperationResult{Output: "5", HasOutput: true})
		wi = fetch(t, s, time.Second)
		if wi == nil || !slices.Equal(newerKinds(wi), []string{"entityLockGranted", "entityOperationCompleted"}) {
			t.Fatalf("the call's result did not reach the orchestration: %v", newerKinds(wi))
		}
		if err := s.AbandonOrchestrationWorkItem(ctx, wi); err != nil {
			t.Fatal(err)
		}

		for _, id := range []string{"@c@a", "@c@b"} {
			queueFromOrchestration(t, s, mgmt.EntityMessage{Kind: mgmt.EntityUnlock, Target: id, CriticalSection: "cs1", ParentInstance: "o1"})
		}
		ewi = nextEntity(t, s, time.Second)
		if ewi == nil || !slices.Equal(operations(t, ewi), []string{"fromClient()"}) {
			t.Fatalf("the client's signal did not run after the unlock: %+v", ewi)
		}
		failure := &backend.TaskFailureDetails{ErrorType: "Error", ErrorMessage: "no"}
		completeEntity(t, s, ewi, ptr("5"), mgmt.OperationResult{Failure: failure})
		if e, err := s.reader.Entity(ctx, "@c@a", false); err != nil || e.LockedBy != "" {
			t.Fatalf("after the unlock: %+v %v", e, err)
		}
	})
}

// An orchestration that finished while holding a lock leaves an orphaned
// lock, which CleanEntityStorage releases.
func TestCleanReleasesOrphanedLocks(t *testing.T) {
	s := openStore(t, "")
	queueFromOrchestration(t, s, mgmt.EntityMessage{Kind: mgmt.EntityLock, Target: "@c@a", LockSet: []string{"@c@a"},
		CriticalSection: "cs1", ParentInstance: "gone"})
	signal(t, s, mgmt.EntityMessage{Target: "@c@a", Operation: "waits"})
	if wi := nextEntity(t, s, 200*time.Millisecond); wi != nil {
		t.Fatal("ran while locked")
	}
	done, err := s.CleanEntityStorage(context.Background(), mgmt.CleanEntities{ReleaseOrphanedLocks: true})
	if err != nil || done.LocksReleased != 1 {
		t.Fatalf("clean: %+v %v", done, err)
	}
	if wi := nextEntity(t, s, time.Second); wi == nil || !slices.Equal(operations(t, wi), []string{"waits()"}) {
		t.Fatalf("the signal did not run once the lock was released: %+v", wi)
	}
}

// Entities, their state, waiting messages and locks survive a restart.
func TestEntitiesSurviveRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := openStore(t, path)
	signal(t, s, mgmt.EntityMessage{Target: "@c@a", Operation: "one"})
	completeEntity(t, s, nextEntity(t, s, time.Second), ptr("1"), mgmt.OperationResult{})
	signal(t, s, mgmt.EntityMessage{Target: "@c@a", Operation: "two"})
	later := time.Now().Add(time.Second)
	signal(t, s, mgmt.EntityMessage{Target: "@c@b", Operation: "later", ScheduledTime: later})
	queueFromOrchestration(t, s, mgmt.EntityMessage{Kind: mgmt.EntityLock, Target: "@c@l", LockSet: []string{"@c@l"}, CriticalSection: "cs", ParentInstance: "o"})
	if wi := nextEntity(t, s, time.Second); wi == nil || wi.id != "@c@a" { // in flight when the process "dies"
		t.Fatalf("before the restart: %+v", wi)
	}
	s.Close()

	s = openStore(t, path)
	wi := nextEntity(t, s, time.Second)
	if wi == nil || wi.id != "@c@a" || wi.state == nil || *wi.state != "1" || !slices.Equal(operations(t, wi), []string{"two()"}) {
		t.Fatalf("after the restart: %+v", wi)
	}
	signal(t, s, mgmt.EntityMessage{Target: "@c@l", Operation: "blocked"})
	wi = nextEntity(t, s, 3*time.Second)
	if wi == nil || wi.id != "@c@b" || time.Now().Before(later) {
		t.Fatalf("the delayed signal: %+v", wi)
	}
	if wi := nextEntity(t, s, 200*time.Millisecond); wi != nil {
		t.Fatalf("the lock was lost in the restart: %+v", wi)
	}
}

// failedInstance writes an instance that failed in its activity: what a
// worker and durabletask-go's runtime would have saved.
func failedInstance(t *testing.T, s *Store, id string) {
	t.Helper()
	startInstance(t, s, id)
	wi := fetch(t, s, time.Second)
	st, err := s.GetOrchestrationRuntimeState(context.Background(), wi)
	if err != nil {
		t.Fatal(err)
	}
	for _, js := range []string{
		`{"eventId":-1,"timestamp":"2026-01-01T00:00:01Z","orchestratorStarted":{}}`,
		`{"eventId":-1,"timestamp":"2026-01-01T00:00:01Z","executionStarted":{"name":"o","orchestrationInstance":{"instanceId":"` + id + `","executionId":"e1"}}}`,
		`{"eventId":0,"timestamp":"2026-01-01T00:00:01Z","taskScheduled":{"name":"a"}}`,
		`{"eventId":-1,"timestamp":"2026-01-01T00:00:02Z","taskFailed":{"taskScheduledId":0,"failureDetails":{"errorMessage":"boom"}}}`,
		`{"eventId":-1,"timestamp":"2026-01-01T00:00:02Z","executionCompleted":{"orchestrationStatus":"ORCHESTRATION_STATUS_FAILED","failureDetails":{"errorMessage":"boom"}}}`,
	} {
		if err := st.AddEvent(event(t, js)); err != nil {
			t.Fatal(err)
		}
	}
	wi.State = st
	if err := s.CompleteOrchestrationWorkItem(context.Background(), wi); err != nil {
		t.Fatal(err)
	}
}

// RewindInstance sends a failed instance's worker its whole history with
// an ExecutionRewound; the history the worker rewrote replaces it, and
// another ExecutionRewound starts its replay.
func TestRewind(t *testing.T) {
	bothStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if err := s.Rewind(ctx, "missing", ""); !errors.Is(err, api.ErrInstanceNotFound) {
			t.Fatalf("rewind of a missing instance: %v", err)
		}
		failedInstance(t, s, "f")
		startInstance(t, s, "running")
		if err := s.Rewind(ctx, "running", ""); !errors.Is(err, mgmt.ErrNotFailed) {
			t.Fatalf("rewind of an instance that has not failed: %v", err)
		}
		if err := s.Rewind(ctx, "f", "again"); err != nil {
			t.Fatal(err)
		}
		in, err := s.reader.Instance(ctx, "f", true)
		if err != nil || in.RuntimeStatus != api.RUNTIME_STATUS_RUNNING || in.FailureDetails != nil || !in.CompletedAt.IsZero() {
			t.Fatalf("after RewindInstance: %+v %v", in, err)
		}
		var wi *backend.OrchestrationWorkItem
		for wi = fetch(t, s, time.Second); wi != nil && wi.InstanceID != "f"; wi = fetch(t, s, time.Second) {
		}
		if wi == nil || !slices.Equal(newerKinds(wi), []string{"executionRewound"}) {
			t.Fatalf("the rewind's work item: %v", wi)
		}
		st, err := s.GetOrchestrationRuntimeState(ctx, wi)
		if err != nil || st.IsCompleted() {
			t.Fatalf("the runtime is given a completed state (it would drop the work item): %v", err)
		}
		s.mu.Lock()
		var full []*backend.HistoryEvent
		if n := s.newer["f"]; n != nil {
			full = n.rewindFrom
		}
		s.mu.Unlock()
		if len(full) != 5 || full[4].GetExecutionCompleted() == nil {
			t.Fatalf("the worker would not get the whole history: %v", full)
		}

		// What the JS SDK's buildRewindResult answers.
		rewound := []*backend.HistoryEvent{
			full[0],
			event(t, `{"eventId":-1,"timestamp":"2026-01-01T00:00:01Z","executionStarted":{"name":"o","orchestrationInstance":{"instanceId":"f","executionId":"e2"}}}`),
			orchestratorStarted(), mgmt.ExecutionRewound("again", ""),
		}
		s.mu.Lock()
		delivered := s.instances["f"].delivered
		s.mu.Unlock()
		if err := s.write(ctx, func(ctx context.Context, tx *txn) (func(time.Time), error) {
			return s.saveRewind(ctx, tx, "f", rewound, delivered)
		}); err != nil {
			t.Fatal(err)
		}
		history, err := s.reader.History(ctx, "f", "")
		if err != nil || len(history) != 4 || !mgmt.IsExecutionRewound(history[3]) {
			t.Fatalf("history after the rewind: %v %v", history, err)
		}
		in, _ = s.reader.Instance(ctx, "f", false)
		if in.ExecutionID != "e2" || in.RuntimeStatus != api.RUNTIME_STATUS_RUNNING {
			t.Fatalf("instance after the rewind: %+v", in)
		}
		wi = fetch(t, s, time.Second)
		if wi == nil || wi.InstanceID != "f" || !slices.Equal(newerKinds(wi), []string{"executionRewound"}) {
			t.Fatalf("the replay after the rewind: %v", wi)
		}
		if st, err := s.GetOrchestrationRuntimeState(ctx, wi); err != nil || st.IsCompleted() || len(st.OldEvents()) != 4 {
			t.Fatalf("state of the replay: %v", err)
		}
	})
}
