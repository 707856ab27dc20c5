package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"
	"github.com/microsoft/durabletask-go/client"
	"github.com/microsoft/durabletask-go/task"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/approvals-go/approvals/dts"
	"github.com/approvals-go/approvals/dts/dtstest"
	"github.com/approvals-go/approvals/dts/mgmt"
	"github.com/approvals-go/approvals/internal/testenv"
	"github.com/approvals-go/approvals/scheduler"
	"github.com/approvals-go/approvals/scheduler/guard"
)

// Orchestrators of the management tests.
const (
	// approvalLike waits for decisionEvent up to a day, as an approval
	// does, then hands the decision to an activity and returns its result.
	approvalLike  = "approval_like"
	decisionEvent = "approval_response"
	echo          = "echo"  // returns its input
	fail          = "fail"  // fails
	chain         = "chain" // calls an activity as often as its input says
	double        = "double"
)

func registry() *task.TaskRegistry {
	r := task.NewTaskRegistry()
	r.AddOrchestratorN(approvalLike, func(ctx *task.OrchestrationContext) (any, error) {
		ctx.SetCustomStatus("waiting")
		var decision string
		if err := ctx.WaitForSingleEvent(decisionEvent, 24*time.Hour).Await(&decision); err != nil {
			return "timeout", nil
		}
		var out string
		err := ctx.CallActivity(double, task.WithActivityInput(decision)).Await(&out)
		return out, err
	})
	r.AddOrchestratorN(echo, func(ctx *task.OrchestrationContext) (any, error) {
		var in string
		err := ctx.GetInput(&in)
		return in, err
	})
	r.AddOrchestratorN(fail, func(*task.OrchestrationContext) (any, error) {
		return nil, errors.New("failed on purpose")
	})
	r.AddOrchestratorN(chain, func(ctx *task.OrchestrationContext) (any, error) {
		var n int
		if err := ctx.GetInput(&n); err != nil {
			return nil, err
		}
		for i := range n {
			if err := ctx.CallActivity(double, task.WithActivityInput(fmt.Sprint(i))).Await(nil); err != nil {
				return nil, err
			}
		}
		return n, nil
	})
	r.AddActivityN(double, func(ctx task.ActivityContext) (any, error) {
		var in string
		err := ctx.GetInput(&in)
		return in + in, err
	})
	return r
}

// env is an embedded scheduler on a loopback port with its store in a
// file, a worker running registry(), and clients, all through dts.Dial and
// so through the guard with the task hub header.
type env struct {
	addr   string
	client *client.TaskHubGrpcClient
	mgmt   *mgmt.Client
	logs   *dtstest.Logs
	// chunks counts the history chunks the mgmt client received.
	chunks atomic.Int64
}

func startEnv(t *testing.T, configure ...func(*scheduler.Options)) *env {
	t.Helper()
	e := &env{logs: &dtstest.Logs{}}
	ctx, cancel := context.WithCancel(context.Background())
	opts := scheduler.Options{DataDir: t.TempDir(), Synchronous: "normal", Logger: e.logs.Logger(),
		Guard: guard.Options{TaskHubs: []string{"default", "other"}}}
	for _, c := range configure {
		c(&opts)
	}
	_, e.addr = testenv.ServeScheduler(t, ctx, opts)
	t.Cleanup(func() {
		cancel()
		if t.Failed() {
			t.Logf("scheduler logs:\n%s", e.logs)
		}
	})
	wconn := e.dial(t, "default", dts.RoleWorker)
	if err := client.NewTaskHubGrpcClient(wconn, dts.Logger(e.logs.Logger())).StartWorkItemListener(ctx, registry()); err != nil {
		t.Fatal(err)
	}
	cconn := e.dial(t, "default", dts.RoleClient, grpc.WithChainStreamInterceptor(e.countChunks))
	e.client = client.NewTaskHubGrpcClient(cconn, dts.Logger(e.logs.Logger()))
	e.mgmt = mgmt.New(cconn)
	// Runs first, while the scheduler still serves: whatever a test did,
	// no stored status may contradict its instance's history.
	t.Cleanup(func() {
		if !t.Failed() {
			e.checkStatuses(t)
		}
	})
	return e
}

func (e *env) dial(t *testing.T, hub string, role dts.Role, extra ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	opts, err := dts.DialOptions(dts.Config{Address: e.addr, TaskHub: hub, Logger: e.logs.Logger()}, role)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.Dial(e.addr, append(opts, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func (e *env) countChunks(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	cs, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil || !strings.HasSuffix(method, "/StreamInstanceHistory") {
		return cs, err
	}
	return &chunkCounter{ClientStream: cs, n: &e.chunks}, nil
}

type chunkCounter struct {
	grpc.ClientStream
	n *atomic.Int64
}

func (c *chunkCounter) RecvMsg(m any) error {
	err := c.ClientStream.RecvMsg(m)
	if err == nil {
		c.n.Add(1)
	}
	return err
}

func (e *env) start(t *testing.T, name, id string, input any) api.InstanceID {
	t.Helper()
	opts := []api.NewOrchestrationOptions{api.WithInstanceID(api.InstanceID(id))}
	if input != nil {
		opts = append(opts, api.WithInput(input))
	}
	iid, err := e.client.ScheduleNewOrchestration(context.Background(), name, opts...)
	if err != nil {
		t.Fatalf("start %s: %v", id, err)
	}
	return iid
}

// waitStatus waits until the instance is in status want.
func (e *env) waitStatus(t *testing.T, id api.InstanceID, want api.OrchestrationStatus) *mgmt.Instance {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		in, err := e.mgmt.Instance(context.Background(), id, true)
		if err == nil && in.RuntimeStatus == want {
			return in
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: waited 30s for %v; last %v %v", id, want, in, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waiting waits until an approvalLike instance waits for its decision.
func (e *env) waiting(t *testing.T, id api.InstanceID) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		in, err := e.mgmt.Instance(context.Background(), id, true)
		if err == nil && in.SerializedCustomStatus != "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never waited for its decision: %v %v", id, in, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *env) complete(t *testing.T, id api.InstanceID) *api.OrchestrationMetadata {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	md, err := e.client.WaitForOrchestrationCompletion(ctx, id, api.WithFetchPayloads(true))
	if err != nil {
		t.Fatalf("%s did not complete: %v", id, err)
	}
	return md
}

func ids(ins []*mgmt.Instance) []string {
	out := make([]string, len(ins))
	for i, in := range ins {
		out[i] = string(in.InstanceID)
	}
	return out
}

func TestQueryInstancesFilters(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()
	for i := range 3 {
		e.start(t, approvalLike, fmt.Sprintf("wait-%d", i), nil)
	}
	for i := range 2 {
		e.complete(t, e.start(t, echo, fmt.Sprintf("done-%d", i), "hello"))
	}
	e.complete(t, e.start(t, fail, "broken", nil))
	for i := range 3 {
		e.waiting(t, api.InstanceID(fmt.Sprintf("wait-%d", i)))
	}

	all, err := e.mgmt.QueryInstances(ctx, mgmt.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(all.Instances); !slices.Equal(got, []string{"broken", "done-1", "done-0", "wait-2", "wait-1", "wait-0"}) {
		t.Fatalf("all instances, newest first: %v", got)
	}
	if all.ContinuationToken != "" {
		t.Fatalf("a page holding everything has a continuation token")
	}
	for _, in := range all.Instances {
		if in.SerializedInput != "" || in.SerializedCustomStatus != "" {
			t.Fatalf("%s: payloads returned without FetchPayloads", in.InstanceID)
		}
		if in.ExecutionID == "" || in.CreatedAt.IsZero() || in.Name == "" {
			t.Fatalf("%s: missing fields %+v", in.InstanceID, in)
		}
	}

	cases := []struct {
		name string
		q    mgmt.Query
		want []string
	}{
		{"running", mgmt.Query{Statuses: []api.OrchestrationStatus{api.RUNTIME_STATUS_RUNNING}}, []string{"wait-2", "wait-1", "wait-0"}},
		{"completed or failed", mgmt.Query{Statuses: []api.OrchestrationStatus{api.RUNTIME_STATUS_FAILED, api.RUNTIME_STATUS_COMPLETED}}, []string{"broken", "done-1", "done-0"}},
		{"prefix", mgmt.Query{IDPrefix: "done-"}, []string{"done-1", "done-0"}},
		{"prefix and status", mgmt.Query{IDPrefix: "wait-", Statuses: []api.OrchestrationStatus{api.RUNTIME_STATUS_COMPLETED}}, nil},
		{"created from", mgmt.Query{CreatedFrom: all.Instances[2].CreatedAt}, []string{"broken", "done-1", "done-0"}},
		{"created to", mgmt.Query{CreatedTo: all.Instances[3].CreatedAt}, []string{"wait-2", "wait-1", "wait-0"}},
		{"created between", mgmt.Query{CreatedFrom: all.Instances[4].CreatedAt, CreatedTo: all.Instances[1].CreatedAt}, []string{"done-1", "done-0", "wait-2", "wait-1"}},
	}
	for _, c := range cases {
		page, err := e.mgmt.QueryInstances(ctx, c.q)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := ids(page.Instances); !slices.Equal(got, c.want) {
			t.Fatalf("%s: got %v, want %v", c.name, got, c.want)
		}
	}

	withPayloads, err := e.mgmt.QueryInstances(ctx, mgmt.Query{FetchPayloads: true})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*mgmt.Instance{}
	for _, in := range withPayloads.Instances {
		byID[string(in.InstanceID)] = in
	}
	if in := byID["done-0"]; in.SerializedInput != `"hello"` || in.SerializedOutput != `"hello"` || in.CompletedAt.IsZero() || in.RuntimeStatus != api.RUNTIME_STATUS_COMPLETED {
		t.Fatalf("completed instance with payloads: %+v", in)
	}
	if in := byID["wait-0"]; in.SerializedCustomStatus != "waiting" || !in.CompletedAt.IsZero() {
		t.Fatalf("waiting instance with payloads: %+v", in)
	}
	if in := byID["broken"]; in.FailureDetails == nil || !strings.Contains(in.FailureDetails.GetErrorMessage(), "failed on purpose") {
		t.Fatalf("failed instance with payloads: %+v", in)
	}

	for _, tok := range []string{"not-a-token", "Mi41Lng", "MS5hYmMueA"} {
		if _, err := e.mgmt.QueryInstances(ctx, mgmt.Query{ContinuationToken: tok}); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("continuation token %q: %v, want InvalidArgument", tok, err)
		}
	}
}

// Paging newest first while instances are being created: every instance
// that existed when paging began appears exactly once, and the pages are in
// order.
func TestQueryInstancesPagingWhileCreating(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()
	before := map[string]bool{}
	for i := range 120 {
		id := fmt.Sprintf("early-%03d", i)
		e.start(t, echo, id, "x")
		before[id] = true
	}
	stop := make(chan struct{})
	var created atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := e.client.ScheduleNewOrchestration(ctx, echo, api.WithInstanceID(api.InstanceID(fmt.Sprintf("late-%04d", i)))); err != nil {
				t.Errorf("start while paging: %v", err)
				return
			}
			created.Add(1)
		}
	}()
	seen := map[string]int{}
	var last *mgmt.Instance
	tok, pages := "", 0
	for {
		page, err := e.mgmt.QueryInstances(ctx, mgmt.Query{PageSize: 7, ContinuationToken: tok, IDPrefix: "early-"})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, in := range page.Instances {
			seen[string(in.InstanceID)]++
			if last != nil && (in.CreatedAt.After(last.CreatedAt) || in.CreatedAt.Equal(last.CreatedAt) && in.InstanceID > last.InstanceID) {
				t.Fatalf("%s comes after %s but is newer", in.InstanceID, last.InstanceID)
			}
			last = in
		}
		// Both an unfiltered and a filtered walk: the unfiltered one sees
		// the new instances at its head only.
		if tok = page.ContinuationToken; tok == "" {
			break
		}
		time.Sleep(time.Millisecond) // let instances be created between pages
	}
	allSeen := map[string]int{}
	tok = ""
	for {
		page, err := e.mgmt.QueryInstances(ctx, mgmt.Query{PageSize: 9, ContinuationToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range page.Instances {
			allSeen[string(in.InstanceID)]++
		}
		if tok = page.ContinuationToken; tok == "" {
			break
		}
	}
	close(stop)
	wg.Wait()
	for id := range before {
		if seen[id] != 1 || allSeen[id] != 1 {
			t.Fatalf("%s seen %d times with the prefix, %d without, want once each", id, seen[id], allSeen[id])
		}
	}
	for id, n := range allSeen {
		if n != 1 {
			t.Fatalf("%s seen %d times", id, n)
		}
	}
	if len(seen) != len(before) {
		t.Fatalf("prefix walk saw %d instances, want %d", len(seen), len(before))
	}
	t.Logf("%d pages of 7 while %d instances were created", pages, created.Load())
}

func TestListInstanceIDs(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()
	var done []api.InstanceID
	for i := range 5 {
		id := e.start(t, echo, fmt.Sprintf("c-%d", i), "x")
		e.complete(t, id)
		done = append(done, id)
	}
	e.start(t, approvalLike, "r-0", nil)
	e.waiting(t, "r-0")

	var got []api.InstanceID
	key := ""
	for {
		page, err := e.mgmt.ListInstanceIDs(ctx, mgmt.IDQuery{Statuses: []api.OrchestrationStatus{api.RUNTIME_STATUS_COMPLETED}, PageSize: 2, LastInstanceKey: key})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.IDs) > 2 {
			t.Fatalf("page of %d IDs, asked for 2", len(page.IDs))
		}
		got = append(got, page.IDs...)
		if key = page.LastInstanceKey; key == "" {
			break
		}
	}
	if !slices.Equal(got, done) {
		t.Fatalf("completed IDs %v, want %v", got, done)
	}

	c2, err := e.mgmt.Instance(ctx, "c-2", false)
	if err != nil {
		t.Fatal(err)
	}
	page, err := e.mgmt.ListInstanceIDs(ctx, mgmt.IDQuery{CompletedFrom: c2.CompletedAt})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(page.IDs, done[2:]) {
		t.Fatalf("completed since c-2: %v, want %v", page.IDs, done[2:])
	}
	// The upper bound is exclusive, as in the SDKs' reference backend.
	page, err = e.mgmt.ListInstanceIDs(ctx, mgmt.IDQuery{CompletedTo: c2.CompletedAt})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(page.IDs, done[:2]) {
		t.Fatalf("completed before c-2: %v, want %v", page.IDs, done[:2])
	}
	// Only finished instances are listed, whatever is asked.
	for _, q := range []mgmt.IDQuery{{Statuses: []api.OrchestrationStatus{api.RUNTIME_STATUS_RUNNING}}, {}} {
		page, err = e.mgmt.ListInstanceIDs(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(page.IDs, "r-0") {
			t.Fatalf("%+v listed the running instance: %v", q, page.IDs)
		}
	}
	// Terminated is finished too, and comes in the order it finished.
	if err := e.client.TerminateOrchestration(ctx, "r-0"); err != nil {
		t.Fatal(err)
	}
	e.complete(t, "r-0")
	page, err = e.mgmt.ListInstanceIDs(ctx, mgmt.IDQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if want := append(slices.Clone(done), "r-0"); !slices.Equal(page.IDs, want) {
		t.Fatalf("finished: %v, want %v in finishing order", page.IDs, want)
	}
	if _, err := e.mgmt.ListInstanceIDs(ctx, mgmt.IDQuery{LastInstanceKey: "no-such"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("an unknown last instance key: %v, want InvalidArgument", err)
	}
}

func TestStreamInstanceHistory(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()
	id := e.start(t, chain, "long", 60)
	if md := e.complete(t, id); md.RuntimeStatus != api.RUNTIME_STATUS_COMPLETED {
		t.Fatalf("chain: %v %v", md.RuntimeStatus, md.FailureDetails)
	}
	history, err := e.mgmt.History(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var scheduled, completed int
	for i, ev := range history {
		if ev.GetTaskScheduled() != nil {
			scheduled++
		}
		if c := ev.GetTaskCompleted(); c != nil {
			completed++
			if c.GetTaskScheduledId() != int32(completed-1) {
				t.Fatalf("event %d completes task %d, want %d: history out of order", i, c.GetTaskScheduledId(), completed-1)
			}
		}
	}
	if history[0].GetOrchestratorStarted() == nil || history[1].GetExecutionStarted() == nil || history[len(history)-1].GetExecutionCompleted() == nil {
		t.Fatalf("history does not run from start to completion: first %v, second %v, last %v", history[0], history[1], history[len(history)-1])
	}
	if scheduled != 60 || completed != 60 {
		t.Fatalf("%d activities scheduled and %d completed in the history, want 60 each", scheduled, completed)
	}
	if n := e.chunks.Load(); n < 2 {
		t.Fatalf("%d events came in %d chunk(s), want several", len(history), n)
	}
	t.Logf("%d events in %d chunks", len(history), e.chunks.Load())

	if _, err := e.mgmt.History(ctx, "no-such-instance"); !errors.Is(err, api.ErrInstanceNotFound) || status.Code(err) != codes.NotFound {
		t.Fatalf("history of an unknown instance: %v, want NotFound", err)
	}
}

func TestPurgeInstances(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()
	for i := range 4 {
		e.complete(t, e.start(t, echo, fmt.Sprintf("old-%d", i), "x"))
	}
	e.complete(t, e.start(t, fail, "old-failed", nil))
	for i := range 2 {
		e.start(t, approvalLike, fmt.Sprintf("live-%d", i), nil)
		e.waiting(t, api.InstanceID(fmt.Sprintf("live-%d", i)))
	}
	cutoff, err := e.mgmt.Instance(ctx, "live-1", false)
	if err != nil {
		t.Fatal(err)
	}
	e.complete(t, e.start(t, echo, "new-0", "x"))

	if n, err := e.mgmt.Purge(ctx, "old-0"); err != nil || n != 1 {
		t.Fatalf("purge a completed instance: %d %v", n, err)
	}
	if _, err := e.mgmt.Instance(ctx, "old-0", false); !errors.Is(err, api.ErrInstanceNotFound) {
		t.Fatalf("a purged instance is still there: %v", err)
	}
	if _, err := e.mgmt.History(ctx, "old-0"); !errors.Is(err, api.ErrInstanceNotFound) {
		t.Fatalf("a purged instance still has a history: %v", err)
	}
	for _, id := range []api.InstanceID{"live-0", "no-such", "old-0"} {
		if n, err := e.mgmt.Purge(ctx, id); err != nil || n != 0 {
			t.Fatalf("purge %s: %d %v, want 0 deleted", id, n, err)
		}
	}
	if n, err := e.mgmt.PurgeBatch(ctx, []api.InstanceID{"old-1", "live-0", "no-such", "old-2"}); err != nil || n != 2 {
		t.Fatalf("purge a batch with two finished instances: %d %v", n, err)
	}
	// By filter: everything created up to live-1, in any status, with the
	// running instances left alone.
	if n, err := e.mgmt.PurgeWhere(ctx, mgmt.PurgeFilter{CreatedTo: cutoff.CreatedAt, Statuses: []api.OrchestrationStatus{api.RUNTIME_STATUS_RUNNING}}); err != nil || n != 0 {
		t.Fatalf("purge running instances by filter: %d %v, want 0", n, err)
	}
	n, err := e.mgmt.PurgeWhere(ctx, mgmt.PurgeFilter{CreatedTo: cutoff.CreatedAt})
	if err != nil || n != 2 {
		t.Fatalf("purge by filter: %d %v, want old-3 and old-failed", n, err)
	}
	left, err := e.mgmt.QueryInstances(ctx, mgmt.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(left.Instances); !slices.Equal(got, []string{"new-0", "live-1", "live-0"}) {
		t.Fatalf("left after the purges: %v", got)
	}
	// The running ones still run.
	for _, id := range []api.InstanceID{"live-0", "live-1"} {
		if err := e.client.RaiseEvent(ctx, id, decisionEvent, api.WithEventPayload("yes")); err != nil {
			t.Fatal(err)
		}
		if md := e.complete(t, id); md.SerializedOutput != `"yesyes"` {
			t.Fatalf("%s after the purges: %s", id, md.SerializedOutput)
		}
	}
	if _, err := e.mgmt.PurgeBatch(ctx, make([]api.InstanceID, mgmt.MaxBatch+1)); err == nil {
		t.Fatal("a batch over the limit was sent")
	}
}

// A suspended approval keeps the decision raised meanwhile and acts on it
// once resumed.
func TestSuspendHoldsEventsUntilResume(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()
	id := e.start(t, approvalLike, "held", nil)
	e.waiting(t, id)
	if err := e.mgmt.Suspend(ctx, id, "on hold"); err != nil {
		t.Fatal(err)
	}
	e.waitStatus(t, id, api.RUNTIME_STATUS_SUSPENDED)
	if err := e.client.RaiseEvent(ctx, id, decisionEvent, api.WithEventPayload("yes")); err != nil {
		t.Fatal(err)
	}
	// The decision reaches the history, and nothing more happens.
	deadline := time.Now().Add(30 * time.Second)
	for {
		h, err := e.mgmt.History(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(h, func(ev *backend.HistoryEvent) bool { return ev.GetEventRaised() != nil }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the decision never reached the suspended instance's history")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	in, err := e.mgmt.Instance(ctx, id, true)
	if err != nil || in.RuntimeStatus != api.RUNTIME_STATUS_SUSPENDED {
		t.Fatalf("suspended instance after a decision: %+v %v", in, err)
	}
	if err := e.mgmt.Resume(ctx, id, "go on"); err != nil {
		t.Fatal(err)
	}
	if md := e.complete(t, id); md.RuntimeStatus != api.RUNTIME_STATUS_COMPLETED || md.SerializedOutput != `"yesyes"` {
		t.Fatalf("resumed instance: %v %s", md.RuntimeStatus, md.SerializedOutput)
	}
}

func TestTerminateInstance(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()
	running := e.start(t, approvalLike, "running", nil)
	suspended := e.start(t, approvalLike, "suspended", nil)
	e.waiting(t, running)
	e.waiting(t, suspended)
	if err := e.mgmt.Suspend(ctx, suspended, ""); err != nil {
		t.Fatal(err)
	}
	e.waitStatus(t, suspended, api.RUNTIME_STATUS_SUSPENDED)
	for _, id := range []api.InstanceID{running, suspended} {
		if err := e.mgmt.Terminate(ctx, id, "no longer needed"); err != nil {
			t.Fatal(err)
		}
		md := e.complete(t, id)
		if md.RuntimeStatus != api.RUNTIME_STATUS_TERMINATED || md.SerializedOutput != `"no longer needed"` {
			t.Fatalf("%s after terminate: %v %s", id, md.RuntimeStatus, md.SerializedOutput)
		}
		in, err := e.mgmt.Instance(ctx, id, false)
		if err != nil || in.CompletedAt.IsZero() {
			t.Fatalf("%s: no completion time after terminate: %+v %v", id, in, err)
		}
	}
	if err := e.mgmt.Terminate(ctx, "no-such", "x"); !errors.Is(err, api.ErrInstanceNotFound) {
		t.Fatalf("terminate an unknown instance: %v", err)
	}
}

func TestRestartInstance(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()
	id := e.start(t, echo, "again", "hi")
	e.complete(t, id)
	first, err := e.mgmt.Instance(ctx, id, false)
	if err != nil {
		t.Fatal(err)
	}
	same, err := e.mgmt.Restart(ctx, id, false)
	if err != nil || same != id {
		t.Fatalf("restart under the same ID: %s %v", same, err)
	}
	md := e.complete(t, id)
	second, err := e.mgmt.Instance(ctx, id, true)
	if err != nil {
		t.Fatal(err)
	}
	if md.SerializedOutput != `"hi"` || second.ExecutionID == first.ExecutionID || second.ExecutionID == "" || !second.CreatedAt.After(first.CreatedAt) {
		t.Fatalf("restarted instance: output %s, executions %q then %q, created %v then %v", md.SerializedOutput, first.ExecutionID, second.ExecutionID, first.CreatedAt, second.CreatedAt)
	}
	newID, err := e.mgmt.Restart(ctx, id, true)
	if err != nil || newID == id || newID == "" {
		t.Fatalf("restart under a new ID: %q %v", newID, err)
	}
	if md := e.complete(t, newID); md.SerializedOutput != `"hi"` || md.Name != echo {
		t.Fatalf("restart under a new ID: %s %s", md.Name, md.SerializedOutput)
	}

	live := e.start(t, approvalLike, "live", nil)
	e.waiting(t, live)
	if _, err := e.mgmt.Restart(ctx, live, false); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("restart a running instance under its own ID: %v, want FailedPrecondition", err)
	}
	if _, err := e.mgmt.Restart(ctx, "no-such", false); !errors.Is(err, api.ErrInstanceNotFound) {
		t.Fatalf("restart an unknown instance: %v", err)
	}
}

// The new calls go through the guard: another hub's instances are not
// visible, and an unknown hub is refused.
func TestManagementCallsRespectTaskHubs(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()
	e.complete(t, e.start(t, echo, "in-default", "x"))
	other := mgmt.New(e.dial(t, "other", dts.RoleClient))
	if page, err := other.QueryInstances(ctx, mgmt.Query{}); err != nil || len(page.Instances) != 0 {
		t.Fatalf("hub other sees %v (%v)", ids(page.Instances), err)
	}
	if page, err := other.ListInstanceIDs(ctx, mgmt.IDQuery{}); err != nil || len(page.IDs) != 0 {
		t.Fatalf("hub other lists %v (%v)", page.IDs, err)
	}
	if _, err := other.History(ctx, "in-default"); !errors.Is(err, api.ErrInstanceNotFound) {
		t.Fatalf("hub other reads the history of an instance of hub default: %v", err)
	}
	nope := mgmt.New(e.dial(t, "nope", dts.RoleClient))
	checks := map[string]func() error{
		"QueryInstances": func() error { _, err := nope.QueryInstances(ctx, mgmt.Query{}); return err },
		"ListInstanceIds": func() error {
			_, err := nope.ListInstanceIDs(ctx, mgmt.IDQuery{})
			return err
		},
		"StreamInstanceHistory": func() error { _, err := nope.History(ctx, "in-default"); return err },
		"RestartInstance":       func() error { _, err := nope.Restart(ctx, "in-default", true); return err },
	}
	for name, call := range checks {
		if err := call(); err == nil || !strings.Contains(err.Error(), `task hub "nope" not found`) {
			t.Fatalf("%s on an unknown hub: %v", name, err)
		}
	}
}

// Tags sent with StartInstance (a field v0.6.0's types lack) come back on
// reads, and a restart keeps them.
func TestStartTagsAreKept(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()
	// StartInstance's field 8 is map<string, string> tags.
	var entry []byte
	entry = protowire.AppendTag(entry, 1, protowire.BytesType)
	entry = protowire.AppendString(entry, "team")
	entry = protowire.AppendTag(entry, 2, protowire.BytesType)
	entry = protowire.AppendString(entry, "finance")
	var tags []byte
	tags = protowire.AppendTag(tags, 8, protowire.BytesType)
	tags = protowire.AppendBytes(tags, entry)
	addTags := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if strings.HasSuffix(method, "/StartInstance") {
			m := req.(proto.Message).ProtoReflect()
			m.SetUnknown(append(m.GetUnknown(), tags...))
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	tagged := client.NewTaskHubGrpcClient(e.dial(t, "default", dts.RoleClient, grpc.WithChainUnaryInterceptor(addTags)), dts.Logger(e.logs.Logger()))
	id, err := tagged.ScheduleNewOrchestration(ctx, echo, api.WithInstanceID("tagged"), api.WithInput("x"))
	if err != nil {
		t.Fatal(err)
	}
	e.complete(t, id)
	in, err := e.mgmt.Instance(ctx, id, false)
	if err != nil || in.Tags["team"] != "finance" || len(in.Tags) != 1 {
		t.Fatalf("tags read back: %+v %v", in, err)
	}
	page, err := e.mgmt.QueryInstances(ctx, mgmt.Query{IDPrefix: "tagged"})
	if err != nil || len(page.Instances) != 1 || page.Instances[0].Tags["team"] != "finance" {
		t.Fatalf("tags in a query: %v", err)
	}
	if _, err := e.mgmt.Restart(ctx, id, false); err != nil {
		t.Fatal(err)
	}
	e.complete(t, id)
	if in, err := e.mgmt.Instance(ctx, id, false); err != nil || in.Tags["team"] != "finance" {
		t.Fatalf("tags after a restart: %+v %v", in, err)
	}
	if in, err := e.mgmt.Instance(ctx, e.start(t, echo, "untagged", "x"), false); err != nil || in.Tags != nil {
		t.Fatalf("an instance started without tags: %+v %v", in, err)
	}
}

// Retention purges what finished longer ago than the retention period,
// and nothing that still runs.
func TestRetentionPurgesFinishedInstances(t *testing.T) {
	const keep = 500 * time.Millisecond
	e := startEnv(t, func(o *scheduler.Options) { o.Retention = keep })
	ctx := context.Background()
	for i := range 3 {
		e.complete(t, e.start(t, echo, fmt.Sprintf("done-%d", i), "x"))
	}
	e.complete(t, e.start(t, fail, "failed", nil))
	live := e.start(t, approvalLike, "live", nil)
	e.waiting(t, live)
	terminated := e.start(t, approvalLike, "terminated", nil)
	e.waiting(t, terminated)
	if err := e.mgmt.Terminate(ctx, terminated, "stop"); err != nil {
		t.Fatal(err)
	}
	finished := time.Now()
	e.complete(t, terminated)
	deadline := time.Now().Add(30 * time.Second)
	for {
		page, err := e.mgmt.QueryInstances(ctx, mgmt.Query{})
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(page.Instances); slices.Equal(got, []string{"live"}) {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("left after 30s of retention: %v", got)
		} else if time.Since(finished) < keep && !slices.Contains(got, "terminated") {
			t.Fatalf("terminated was purged before its retention period was over: %v left", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if e.logs.Count("retention: purged finished instances") == 0 {
		t.Fatal("the sweep did not log what it purged")
	}
	if err := e.client.RaiseEvent(ctx, live, decisionEvent, api.WithEventPayload("ok")); err != nil {
		t.Fatal(err)
	}
	if md := e.complete(t, live); md.SerializedOutput != `"okok"` {
		t.Fatalf("the running instance after retention sweeps: %s", md.SerializedOutput)
	}
}
