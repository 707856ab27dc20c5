package scheduler

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"
	"github.com/microsoft/durabletask-go/task"
)

// runner plays the worker in-process: it runs the orchestrators of a
// registry on the work items the test fetches, with durabletask-go's own
// executor, and saves what they did.
type runner struct {
	t    *testing.T
	s    *Store
	exec backend.Executor
}

func newRunner(t *testing.T, s *Store) *runner {
	r := task.NewTaskRegistry()
	// flow: an activity, a wait for "go", another activity; like an
	// approval without its names.
	r.AddOrchestratorN("flow", func(ctx *task.OrchestrationContext) (any, error) {
		if err := ctx.CallActivity("first").Await(nil); err != nil {
			return nil, err
		}
		if err := ctx.WaitForSingleEvent("go", -1).Await(nil); err != nil {
			return nil, err
		}
		return nil, ctx.CallActivity("then").Await(nil)
	})
	r.AddOrchestratorN("parent", func(ctx *task.OrchestrationContext) (any, error) {
		var out string
		err := ctx.CallSubOrchestrator("child", task.WithSubOrchestrationInstanceID(string(ctx.ID)+"-child")).Await(&out)
		return out, err
	})
	r.AddOrchestratorN("child", func(*task.OrchestrationContext) (any, error) { return "done", nil })
	return &runner{t: t, s: s, exec: task.NewTaskExecutor(r)}
}

func (r *runner) start(name, id string) error {
	return r.s.CreateOrchestrationInstance(context.Background(),
		event(r.t, `{"eventId":-1,"timestamp":"2026-01-01T00:00:00Z","executionStarted":{"name":"`+name+`","orchestrationInstance":{"instanceId":"`+id+`"}}}`))
}

// next fetches an orchestration work item, failing the test if none comes.
func (r *runner) next() *backend.OrchestrationWorkItem {
	r.t.Helper()
	wi := fetch(r.t, r.s, 5*time.Second)
	if wi == nil {
		r.t.Fatal("no orchestration work item")
	}
	return wi
}

// run executes a work item as durabletask-go's orchestration worker does
// and completes it.
func (r *runner) run(wi *backend.OrchestrationWorkItem) {
	r.t.Helper()
	ctx := context.Background()
	st, err := r.s.GetOrchestrationRuntimeState(ctx, wi)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, e := range append([]*backend.HistoryEvent{event(r.t, `{"eventId":-1,"timestamp":"2026-01-01T00:00:00Z","orchestratorStarted":{}}`)}, wi.NewEvents...) {
		if err := st.AddEvent(e); err != nil {
			r.t.Fatal(err)
		}
	}
	res, err := r.exec.ExecuteOrchestrator(ctx, wi.InstanceID, st.OldEvents(), st.NewEvents())
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := st.ApplyActions(res.Response.GetActions(), nil); err != nil {
		r.t.Fatal(err)
	}
	wi.State = st
	if err := r.s.CompleteOrchestrationWorkItem(ctx, wi); err != nil {
		r.t.Fatalf("complete %s: %v", wi.InstanceID, err)
	}
}

// activity fetches the next activity and completes it; it returns the
// instance and the activity's name.
func (r *runner) activity() (api.InstanceID, string) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	wi, err := r.s.GetActivityWorkItem(ctx)
	if err != nil {
		r.t.Fatalf("no activity work item: %v", err)
	}
	wi.Result = event(r.t, fmt.Sprintf(`{"eventId":-1,"timestamp":"2026-01-01T00:00:00Z","taskCompleted":{"taskScheduledId":%d}}`, wi.NewEvent.GetEventId()))
	if err := r.s.CompleteActivityWorkItem(context.Background(), wi); err != nil {
		r.t.Fatal(err)
	}
	return wi.InstanceID, wi.NewEvent.GetTaskScheduled().GetName()
}

func raisedNamed(t *testing.T, name string) *backend.HistoryEvent {
	return event(t, `{"eventId":-1,"timestamp":"2026-01-01T00:00:00Z","eventRaised":{"name":"`+name+`"}}`)
}

// An event raised for an instance under way is handed out before the
// starts of a burst of new instances that were queued before it, the
// activity it leads to before the activities of those new instances' first
// executions, and that activity's result before them again; then the new
// instances follow in the order they came. After a restart the instances
// are sorted the same way again.
func TestWorkUnderWayGoesFirst(t *testing.T) {
	acrossRestarts(t, func(t *testing.T, s *Store, c storeCase) {
		r := newRunner(t, s)

		// An instance under way: it ran, its first activity is done,
		// and it waits for "go".
		if err := r.start("flow", "old"); err != nil {
			t.Fatal(err)
		}
		r.run(r.next())
		if id, name := r.activity(); id != "old" || name != "first" {
			t.Fatalf("activity %s of %s, want first of old", name, id)
		}
		r.run(r.next())

		// A burst of new instances: half have run their first
		// execution and queued an activity, half wait to begin.
		const burst = 40
		for i := range burst {
			if err := r.start("flow", fmt.Sprintf("new-%02d", i)); err != nil {
				t.Fatal(err)
			}
		}
		for i := range burst / 2 {
			wi := r.next()
			if want := api.InstanceID(fmt.Sprintf("new-%02d", i)); wi.InstanceID != want {
				t.Fatalf("work item for %s, want %s: new instances begin in the order they came", wi.InstanceID, want)
			}
			r.run(wi)
		}
		if c.restart {
			s = reopen(t, s, c.path)
			r.s = s
		}

		if err := s.AddNewOrchestrationEvent(context.Background(), "old", raisedNamed(t, "go")); err != nil {
			t.Fatal(err)
		}
		wi := r.next()
		if wi.InstanceID != "old" {
			t.Fatalf("work item for %s, want old: the event for the instance under way goes before %d new instances", wi.InstanceID, burst/2)
		}
		r.run(wi)
		if !c.restart {
			// A restart forgets which execution queued an activity;
			// see Store.load.
			if id, name := r.activity(); id != "old" || name != "then" {
				t.Fatalf("activity %s of %s, want then of old, before %d first activities of new instances", name, id, burst/2)
			}
			// Its result, too, goes before the new instances.
			if wi := r.next(); wi.InstanceID != "old" {
				t.Fatalf("work item for %s, want old with its activity's result", wi.InstanceID)
			}
		}
		for i := burst / 2; i < burst; i++ {
			wi := r.next()
			if want := api.InstanceID(fmt.Sprintf("new-%02d", i)); wi.InstanceID != want {
				t.Fatalf("work item for %s, want %s", wi.InstanceID, want)
			}
		}
		checkRows(t, s)
	})
}

// At the bound a client's start is refused and leaves nothing behind,
// while everything else that adds work goes on: an orchestration's
// sub-orchestration, raised events, a termination, a restart under a new
// ID. Once workers drain the backlog, starts are taken again.
func TestOnlyClientStartsAreRefused(t *testing.T) {
	bothStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		s.maxBacklog = 2
		r := newRunner(t, s)
		if err := r.start("parent", "parent"); err != nil {
			t.Fatal(err)
		}
		parent := r.next() // handed out: no longer waiting
		for _, id := range []string{"a", "b"} {
			if err := r.start("child", id); err != nil {
				t.Fatalf("start %s under the bound: %v", id, err)
			}
		}
		err := r.start("child", "refused")
		if !errors.Is(err, ErrBacklogFull) {
			t.Fatalf("start at the bound: %v, want ErrBacklogFull", err)
		}
		if _, err := s.reader.Instance(ctx, "refused", false); !errors.Is(err, api.ErrInstanceNotFound) {
			t.Fatalf("a refused start left an instance: %v", err)
		}
		if n := inboxRows(t, s, "refused"); n != 0 {
			t.Fatalf("a refused start left %d waiting events", n)
		}
		if n := instanceRows(t, s); n != 3 {
			t.Fatalf("%d instances stored, want parent, a and b", n)
		}

		r.run(parent)
		if _, err := s.reader.Instance(ctx, "parent-child", false); err != nil {
			t.Fatalf("the sub-orchestration was not created at the bound: %v", err)
		}
		if err := s.AddNewOrchestrationEvent(ctx, "a", raised(t)); err != nil {
			t.Fatalf("raise at the bound: %v", err)
		}
		terminate := event(t, `{"eventId":-1,"timestamp":"2026-01-01T00:00:00Z","executionTerminated":{}}`)
		if err := s.AddNewOrchestrationEvent(ctx, "b", terminate); err != nil {
			t.Fatalf("terminate at the bound: %v", err)
		}
		if _, err := s.Restart(ctx, "a", true); err != nil {
			t.Fatalf("restart under a new ID at the bound: %v", err)
		}
		if err := r.start("child", "refused"); !errors.Is(err, ErrBacklogFull) {
			t.Fatalf("start still at the bound: %v, want ErrBacklogFull", err)
		}

		for wi := fetch(t, s, 100*time.Millisecond); wi != nil; wi = fetch(t, s, 100*time.Millisecond) {
			r.run(wi)
		}
		if err := r.start("child", "refused"); err != nil {
			t.Fatalf("start once the backlog is drained: %v", err)
		}
	})
}

func instanceRows(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.reader.db.QueryRow(`SELECT count(*) FROM instances`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
