package worker_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"
	"github.com/microsoft/durabletask-go/task"
	"google.golang.org/protobuf/proto"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/dts"
	"github.com/approvals-go/approvals/dts/dtstest"
	"github.com/approvals-go/approvals/dts/mgmt"
	"github.com/approvals-go/approvals/internal/testenv"
	"github.com/approvals-go/approvals/worker"
)

const apiBase = "http://approvals.test"

// listen connects a listener to the scheduler at cfg and returns the
// function that stops it, waiting until it has. It is also stopped when the
// test ends.
func listen(t *testing.T, cfg dts.Config, exec backend.Executor, opts worker.ListenerOptions) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	conn, err := dts.Dial(ctx, cfg, dts.RoleWorker)
	if err != nil {
		t.Fatal(err)
	}
	l := worker.NewListener(conn, exec, opts)
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-l.Done()
		conn.Close()
	}
	t.Cleanup(stop)
	return stop
}

// approvalRegistry registers the approval's orchestrator and activities,
// which log their notices.
func approvalRegistry(t *testing.T) *task.TaskRegistry {
	t.Helper()
	r := task.NewTaskRegistry()
	if err := approval.Register(r, approval.NewActivities(apiBase, testenv.Quiet())); err != nil {
		t.Fatal(err)
	}
	return r
}

func startApproval(t *testing.T, env *testenv.Env, id string) {
	t.Helper()
	req := approval.Request{RequestID: id, Requester: "ana", Item: "laptop", Approver: "bob"}
	if _, err := env.Client.ScheduleNewOrchestration(context.Background(), approval.OrchestratorName,
		api.WithInstanceID(api.InstanceID(id)), api.WithInput(req)); err != nil {
		t.Fatal(err)
	}
}

func approve(t *testing.T, env *testenv.Env, id string) {
	t.Helper()
	yes, bob := true, "bob"
	if err := env.Client.RaiseEvent(context.Background(), api.InstanceID(id), approval.DecisionEventName,
		api.WithEventPayload(approval.Decision{IsApproved: &yes, Approver: &bob, Comments: "fine"})); err != nil {
		t.Fatal(err)
	}
}

// ended waits, at most within, for id to end and returns its metadata.
func ended(t *testing.T, env *testenv.Env, id string, within time.Duration) *api.OrchestrationMetadata {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	md, err := env.Client.WaitForOrchestrationCompletion(ctx, api.InstanceID(id), api.WithFetchPayloads(true))
	if err != nil {
		t.Fatalf("%s did not end within %s: %v", id, within, err)
	}
	return md
}

// approved checks that id completed as approved.
func approved(t *testing.T, env *testenv.Env, id string) {
	t.Helper()
	md := ended(t, env, id, 15*time.Second)
	var out approval.Outcome
	if md.RuntimeStatus != api.RUNTIME_STATUS_COMPLETED || json.Unmarshal([]byte(md.SerializedOutput), &out) != nil || out.Status != approval.StatusApproved {
		t.Fatalf("%s ended %v with %q (%+v), want Approved", id, md.RuntimeStatus, md.SerializedOutput, md.FailureDetails)
	}
}

// failedToReplay checks that id failed because its history could not be
// replayed, for a reason that says so and holds want.
func failedToReplay(t *testing.T, env *testenv.Env, id, want string) {
	t.Helper()
	ended(t, env, id, 15*time.Second)
	// The management call reads the failure details, which durabletask-go's
	// client leaves out.
	in, err := mgmt.New(env.Conn).Instance(context.Background(), api.InstanceID(id), true)
	if err != nil {
		t.Fatal(err)
	}
	fd := in.FailureDetails
	if in.RuntimeStatus != api.RUNTIME_STATUS_FAILED || fd == nil {
		t.Fatalf("%s ended %v, want failed: %+v", id, in.RuntimeStatus, fd)
	}
	if fd.GetErrorType() != worker.ErrorNonDeterministic ||
		!strings.HasPrefix(fd.GetErrorMessage(), "the orchestrator could not replay this instance's history: ") ||
		!strings.Contains(fd.GetErrorMessage(), want) {
		t.Fatalf("%s failed with %s: %q; want the replay failure naming %q", id, fd.GetErrorType(), fd.GetErrorMessage(), want)
	}
}

// An instance whose history the code cannot replay (an earlier version of
// the orchestrator, registered under the same name, created a timer where
// today's code calls an activity) fails on its own, with a reason that
// says so, while another approval on the same worker is decided.
func TestUnreplayableHistoryFailsOnlyItsInstance(t *testing.T) {
	env := testenv.StartWith(t, apiBase, testenv.Options{NoWorker: true})

	old := task.NewTaskRegistry()
	if err := old.AddOrchestratorN(approval.OrchestratorName, func(ctx *task.OrchestrationContext) (any, error) {
		ctx.SetCustomStatus(`"waiting"`)
		return nil, ctx.CreateTimer(time.Hour).Await(nil)
	}); err != nil {
		t.Fatal(err)
	}
	stopOld := listen(t, env.Scheduler, task.NewTaskExecutor(old), worker.ListenerOptions{Logger: testenv.Quiet()})
	startApproval(t, env, "old-1")
	testenv.WaitCustomStatus(t, env.Client, "old-1")
	stopOld()

	logs := &dtstest.Logs{}
	listen(t, env.Scheduler, task.NewTaskExecutor(approvalRegistry(t)), worker.ListenerOptions{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	startApproval(t, env, "new-1")
	testenv.WaitCustomStatus(t, env.Client, "new-1")
	approve(t, env, "old-1")
	failedToReplay(t, env, "old-1", "CreateTimer with sequence number 0")
	approve(t, env, "new-1")
	approved(t, env, "new-1")

	// And the worker goes on taking new approvals.
	startApproval(t, env, "new-2")
	testenv.WaitCustomStatus(t, env.Client, "new-2")
	approve(t, env, "new-2")
	approved(t, env, "new-2")
	if !strings.Contains(logs.String(), `"instance_id":"old-1"`) || !strings.Contains(logs.String(), "orchestration failed") {
		t.Errorf("the worker did not log the failed instance:\n%s", logs)
	}
}

// pythonExecutor runs the Go orchestrator as the Python SDK would number
// its actions: from 1 rather than 0. What it records is a history shaped
// like the Python SDK's.
type pythonExecutor struct{ backend.Executor }

func (p pythonExecutor) ExecuteOrchestrator(ctx context.Context, id api.InstanceID, past, events []*backend.HistoryEvent) (*backend.ExecutionResults, error) {
	res, err := p.Executor.ExecuteOrchestrator(ctx, id, renumber(past, -1), renumber(events, -1))
	if err != nil {
		return nil, err
	}
	for _, a := range res.Response.GetActions() {
		a.Id++
	}
	return res, nil
}

// renumber shifts the sequence numbers in events by d.
func renumber(events []*backend.HistoryEvent, d int32) []*backend.HistoryEvent {
	out := make([]*backend.HistoryEvent, len(events))
	for i, e := range events {
		e = proto.Clone(e).(*backend.HistoryEvent)
		switch {
		case e.GetTaskScheduled() != nil, e.GetTimerCreated() != nil, e.GetSubOrchestrationInstanceCreated() != nil:
			e.EventId += d
		case e.GetTaskCompleted() != nil:
			e.GetTaskCompleted().TaskScheduledId += d
		case e.GetTaskFailed() != nil:
			e.GetTaskFailed().TaskScheduledId += d
		case e.GetTimerFired() != nil:
			e.GetTimerFired().TimerId += d
		}
		out[i] = e
	}
	return out
}

// A history written the way the Python SDK numbers actions does not stop
// the worker: that instance fails, naming the sequence number it could
// not match, and approvals of its own go on.
func TestPythonNumberedHistoryDoesNotStopTheWorker(t *testing.T) {
	env := testenv.StartWith(t, apiBase, testenv.Options{NoWorker: true})
	r := approvalRegistry(t)

	stopPython := listen(t, env.Scheduler, pythonExecutor{task.NewTaskExecutor(r)}, worker.ListenerOptions{Logger: testenv.Quiet()})
	startApproval(t, env, "py-1")
	testenv.WaitCustomStatus(t, env.Client, "py-1")
	stopPython()
	history, err := mgmt.New(env.Conn).History(context.Background(), "py-1")
	if err != nil {
		t.Fatal(err)
	}
	var scheduled []int32
	for _, e := range history {
		if e.GetTaskScheduled() != nil || e.GetTimerCreated() != nil {
			scheduled = append(scheduled, e.EventId)
		}
	}
	if len(scheduled) == 0 || scheduled[0] != 1 {
		t.Fatalf("recorded sequence numbers %v, want them to start at 1 as the Python SDK's", scheduled)
	}

	listen(t, env.Scheduler, task.NewTaskExecutor(r), worker.ListenerOptions{Logger: testenv.Quiet()})
	startApproval(t, env, "go-1")
	approve(t, env, "py-1")
	failedToReplay(t, env, "py-1", "sequence number 1")
	testenv.WaitCustomStatus(t, env.Client, "go-1")
	approve(t, env, "go-1")
	approved(t, env, "go-1")
}

// A notification send that hangs holds up neither the submission nor the
// decision of an approval, even with one slot for each kind of activity,
// and slow activities run no more at once than their pool allows.
func TestSlowActivitiesDoNotHoldUpDecisions(t *testing.T) {
	env := testenv.StartWith(t, apiBase, testenv.Options{NoWorker: true})
	acts := approval.NewActivities(apiBase, testenv.Quiet())
	r := task.NewTaskRegistry()
	release := make(chan struct{})
	running := make(chan struct{}, 10)
	for _, reg := range []error{
		r.AddOrchestratorN(approval.OrchestratorName, approval.Orchestrate),
		r.AddActivityN(approval.SubmitActivityName, acts.SubmitApprovalRequest),
		r.AddActivityN(approval.ProcessActivityName, acts.ProcessApproval),
		r.AddActivityN(approval.NotifyActivityName, func(ctx task.ActivityContext) (any, error) {
			running <- struct{}{}
			<-release
			return nil, nil
		}),
		r.AddOrchestratorN("remind_everyone", func(ctx *task.OrchestrationContext) (any, error) {
			var sends []task.Task
			for range 4 {
				sends = append(sends, ctx.CallActivity(approval.NotifyActivityName))
			}
			for _, s := range sends {
				if err := s.Await(nil); err != nil {
					return nil, err
				}
			}
			return nil, nil
		}),
	} {
		if reg != nil {
			t.Fatal(reg)
		}
	}
	listen(t, env.Scheduler, task.NewTaskExecutor(r), worker.ListenerOptions{
		MaxOrchestrations: 2, MaxActivities: 1, MaxSlowActivities: 1,
		SlowActivities: []string{approval.NotifyActivityName},
		Logger:         testenv.Quiet(),
	})
	// Registered last, so that it runs first: the listener's stop waits
	// for the sends in flight.
	t.Cleanup(func() { close(release) })

	if _, err := env.Client.ScheduleNewOrchestration(context.Background(), "remind_everyone"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-running:
	case <-time.After(15 * time.Second):
		t.Fatal("no notification send started")
	}
	startApproval(t, env, "exp-1")
	testenv.WaitCustomStatus(t, env.Client, "exp-1")
	approve(t, env, "exp-1")
	// The sends hang until the test ends; the decision is not behind them.
	approved(t, env, "exp-1")
	if n := len(running); n != 0 {
		t.Errorf("%d more sends ran while the first hung; the slow pool has one slot", n)
	}
}

// An activity that panics fails its task, which the orchestrator sees as
// an error, and the worker goes on.
func TestActivityPanicFailsItsTask(t *testing.T) {
	env := testenv.StartWith(t, apiBase, testenv.Options{NoWorker: true})
	var calls atomic.Int32
	listen(t, env.Scheduler, task.NewTaskExecutor(oneStep(t, func(ctx task.ActivityContext) (any, error) {
		if calls.Add(1) == 1 {
			panic("boom")
		}
		return "fine", nil
	})), worker.ListenerOptions{MaxActivities: 1, Logger: testenv.Quiet()})
	for _, id := range []string{"p-1", "p-2"} {
		if _, err := env.Client.ScheduleNewOrchestration(context.Background(), "one_step", api.WithInstanceID(api.InstanceID(id))); err != nil {
			t.Fatal(err)
		}
		ended(t, env, id, 15*time.Second)
	}
	in, err := mgmt.New(env.Conn).Instance(context.Background(), "p-1", true)
	if err != nil {
		t.Fatal(err)
	}
	if in.RuntimeStatus != api.RUNTIME_STATUS_FAILED || !strings.Contains(in.FailureDetails.GetErrorMessage(), "panic: boom") {
		t.Fatalf("p-1 ended %v: %+v; want failed by the activity's panic", in.RuntimeStatus, in.FailureDetails)
	}
	if md := ended(t, env, "p-2", time.Second); md.RuntimeStatus != api.RUNTIME_STATUS_COMPLETED || md.SerializedOutput != `"fine"` {
		t.Fatalf("p-2 ended %v with %q", md.RuntimeStatus, md.SerializedOutput)
	}
}
