package scheduler_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/client"

	"github.com/approvals-go/approvals/dts"
	"github.com/approvals-go/approvals/dts/dtstest"
	"github.com/approvals-go/approvals/dts/mgmt"
	"github.com/approvals-go/approvals/internal/testenv"
	"github.com/approvals-go/approvals/scheduler"
)

// Issue #17, items 1 and 2, through durabletask-go's gRPC client and
// worker: an instance started for a later time and terminated before then,
// and one that is sent an event before then.

// startAt starts an approvalLike instance at the time at.
func (e *env) startAt(t *testing.T, id string, at time.Time) api.InstanceID {
	t.Helper()
	iid, err := e.client.ScheduleNewOrchestration(context.Background(), approvalLike, api.WithInstanceID(api.InstanceID(id)), api.WithStartTime(at))
	if err != nil {
		t.Fatalf("start %s at %v: %v", id, at, err)
	}
	return iid
}

// terminatedPromptly terminates id and waits, for a second at most, for it
// to be Terminated; then it checks the history: the start, the
// termination and the completion, in that order.
func (e *env) terminatedPromptly(t *testing.T, id api.InstanceID) {
	t.Helper()
	ctx := context.Background()
	if err := e.client.TerminateOrchestration(ctx, id, api.WithOutput("not needed")); err != nil {
		t.Fatalf("terminate %s: %v", id, err)
	}
	e.isTerminated(t, id)
}

func (e *env) isTerminated(t *testing.T, id api.InstanceID) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	md, err := e.client.WaitForOrchestrationCompletion(ctx, id, api.WithFetchPayloads(true))
	if err != nil {
		t.Fatalf("%s was not terminated within a second: %v", id, err)
	}
	if md.RuntimeStatus != api.RUNTIME_STATUS_TERMINATED || md.SerializedOutput != `"not needed"` {
		t.Fatalf("%s after terminate: %v %s", id, md.RuntimeStatus, md.SerializedOutput)
	}
	h, err := e.mgmt.History(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range h {
		switch {
		case ev.GetOrchestratorStarted() != nil:
		case ev.GetExecutionStarted() != nil:
			got = append(got, "started")
		case ev.GetExecutionTerminated() != nil:
			got = append(got, "terminated")
		case ev.GetExecutionCompleted() != nil:
			got = append(got, "completed "+ev.GetExecutionCompleted().GetOrchestrationStatus().String())
		default:
			got = append(got, "other")
		}
	}
	if len(got) != 3 || got[0] != "started" || got[1] != "terminated" || got[2] != "completed ORCHESTRATION_STATUS_TERMINATED" {
		t.Fatalf("history of %s: %v, want the start, the termination and its completion", id, got)
	}
}

// decided waits for an approvalLike instance started at at, sent "yes"
// before then, to complete with it; it must not have started before at,
// and the start comes before the event in its history.
func (e *env) decided(t *testing.T, id api.InstanceID, at time.Time) {
	t.Helper()
	md := e.complete(t, id)
	if md.RuntimeStatus != api.RUNTIME_STATUS_COMPLETED || md.SerializedOutput != `"yesyes"` {
		t.Fatalf("%s: %v %s, want it completed with the decision sent before its start", id, md.RuntimeStatus, md.SerializedOutput)
	}
	h, err := e.mgmt.History(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	started, raised := -1, -1
	for i, ev := range h {
		if ev.GetExecutionStarted() != nil && started < 0 {
			started = i
		}
		if ev.GetEventRaised() != nil && raised < 0 {
			raised = i
		}
	}
	if started < 0 || raised < started {
		t.Fatalf("history of %s: the start at %d, the event at %d", id, started, raised)
	}
	if first := h[0].GetTimestamp().AsTime(); first.Before(at) {
		t.Fatalf("%s ran at %v, %v before its start time", id, first, at.Sub(first))
	}
}

// pending checks that id has not started.
func (e *env) pending(t *testing.T, id api.InstanceID) {
	t.Helper()
	md, err := e.client.FetchOrchestrationMetadata(context.Background(), id)
	if err != nil || md.RuntimeStatus != api.RUNTIME_STATUS_PENDING {
		t.Fatalf("%s before its start time: %v %v, want Pending", id, md, err)
	}
}

// checkStatuses fails the test for every instance whose stored status
// contradicts its history (see scheduler.Contradiction), of the first
// maxChecked in the default hub. The instances may still be changing, so a
// contradiction must last to count.
func (e *env) checkStatuses(t *testing.T) {
	t.Helper()
	const maxChecked = 300
	ctx := context.Background()
	var ids []api.InstanceID
	for token := ""; len(ids) < maxChecked; {
		page, err := e.mgmt.QueryInstances(ctx, mgmt.Query{ContinuationToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range page.Instances {
			ids = append(ids, in.InstanceID)
		}
		if token = page.ContinuationToken; token == "" {
			break
		}
	}
	for _, id := range ids {
		var problem string
		for try := 0; try < 50; try++ {
			// History first: an instance only moves on, so a row read
			// after its history is at least as far along.
			h, err := e.mgmt.History(ctx, id)
			if errors.Is(err, api.ErrInstanceNotFound) {
				problem = ""
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			in, err := e.mgmt.Instance(ctx, id, true)
			if errors.Is(err, api.ErrInstanceNotFound) {
				problem = ""
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if problem = scheduler.Contradiction(in.RuntimeStatus, !in.CompletedAt.IsZero(), in.SerializedOutput, h); problem == "" {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if problem != "" {
			t.Errorf("instance %s: stored status contradicts its history: %s", id, problem)
		}
	}
}

// (a) Started two seconds ahead and terminated at once: Terminated
// promptly, with a history that starts and ends it, and purgeable; it never
// runs.
func TestTerminateBeforeADelayedStartThroughClient(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()
	at := time.Now().Add(2 * time.Second)
	id := e.startAt(t, "doomed", at)
	e.pending(t, id)
	e.terminatedPromptly(t, id)
	if time.Now().After(at) {
		t.Fatal("the test took until the start time; it proves nothing")
	}
	e.checkStatuses(t)
	if err := e.client.PurgeOrchestrationState(ctx, id); err != nil {
		t.Fatalf("purge: %v", err)
	}
	if _, err := e.client.FetchOrchestrationMetadata(ctx, id); !errors.Is(err, api.ErrInstanceNotFound) {
		t.Fatalf("after purge: %v, want not found", err)
	}
	// Nothing of it is left to run when its start time comes.
	time.Sleep(time.Until(at) + 300*time.Millisecond)
	if _, err := e.client.FetchOrchestrationMetadata(ctx, id); !errors.Is(err, api.ErrInstanceNotFound) {
		t.Fatalf("after its start time: %v, want not found", err)
	}
}

// (b) Started a second ahead and sent its decision before then: it starts
// at its time and acts on the decision.
func TestEventBeforeADelayedStartThroughClient(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()
	at := time.Now().Add(time.Second)
	id := e.startAt(t, "early-decision", at)
	if err := e.client.RaiseEvent(ctx, id, decisionEvent, api.WithEventPayload("yes")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	e.pending(t, id)
	e.decided(t, id, at)
	e.checkStatuses(t)
}

// node is one run of a scheduler on a data directory, with a worker and
// clients connected, for tests that restart it.
type node struct {
	*env
	srv    *scheduler.Server
	cancel context.CancelFunc
}

func startNode(t *testing.T, dir string, logs *dtstest.Logs) *node {
	t.Helper()
	e := &env{logs: logs}
	ctx, cancel := context.WithCancel(context.Background())
	srv, addr := testenv.ServeScheduler(t, ctx, scheduler.Options{DataDir: dir, Synchronous: "normal", Logger: logs.Logger()})
	e.addr = addr
	n := &node{env: e, srv: srv, cancel: cancel}
	t.Cleanup(n.stop)
	wconn := e.dial(t, "default", dts.RoleWorker)
	if err := client.NewTaskHubGrpcClient(wconn, dts.Logger(logs.Logger())).StartWorkItemListener(ctx, registry()); err != nil {
		t.Fatal(err)
	}
	cconn := e.dial(t, "default", dts.RoleClient)
	e.client = client.NewTaskHubGrpcClient(cconn, dts.Logger(logs.Logger()))
	e.mgmt = mgmt.New(cconn)
	return n
}

func (n *node) stop() {
	n.cancel()
	ctx, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	n.srv.Close(ctx)
}

// (c) Both across a restart of a scheduler on a file store while the
// starts are still ahead: an instance terminated before the restart stays
// terminated and never runs; one terminated after it ends at once; one
// sent its decision before the restart starts at its time and acts on it.
func TestDelayedStartsAcrossARestart(t *testing.T) {
	dir := t.TempDir()
	logs := &dtstest.Logs{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("scheduler logs:\n%s", logs)
		}
	})
	ctx := context.Background()
	n := startNode(t, dir, logs)
	at := time.Now().Add(3 * time.Second)
	before := n.startAt(t, "terminated-before", at)
	after := n.startAt(t, "terminated-after", at)
	waits := n.startAt(t, "decided-before", at)
	n.terminatedPromptly(t, before)
	if err := n.client.RaiseEvent(ctx, waits, decisionEvent, api.WithEventPayload("yes")); err != nil {
		t.Fatal(err)
	}
	n.stop()

	n = startNode(t, dir, logs)
	if time.Now().After(at) {
		t.Fatal("the restart took until the start time; the test proves nothing")
	}
	n.isTerminated(t, before)
	n.pending(t, after)
	n.pending(t, waits)
	n.terminatedPromptly(t, after)
	if time.Now().After(at) {
		t.Fatal("the test took until the start time; it proves nothing")
	}
	n.decided(t, waits, at)
	n.checkStatuses(t)
	for _, id := range []api.InstanceID{before, after, waits} {
		if err := n.client.PurgeOrchestrationState(ctx, id); err != nil {
			t.Fatalf("purge %s: %v", id, err)
		}
	}
}
