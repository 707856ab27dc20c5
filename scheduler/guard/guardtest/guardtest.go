// Package guardtest is a protocol test suite for a scheduler guarded by
// scheduler/guard, driven by durabletask-go v0.6.0 workers and clients over
// connections from the dts package. Run it against any scheduler by giving
// Run a StartFunc; StartVanilla runs it against durabletask-go's own gRPC
// executor and SQLite backend.
package guardtest

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"
	"github.com/microsoft/durabletask-go/backend/sqlite"
	"github.com/microsoft/durabletask-go/client"
	"github.com/microsoft/durabletask-go/task"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/approvals-go/approvals/dts"
	"github.com/approvals-go/approvals/dts/dtsproto"
	"github.com/approvals-go/approvals/dts/dtstest"
	"github.com/approvals-go/approvals/scheduler/guard"
)

// StartFunc starts a scheduler whose gRPC server has guard.New(opts)
// installed and serves over creds (nil: plaintext). It returns the address
// to dial, on 127.0.0.1, and registers its own cleanup with t.
type StartFunc func(t *testing.T, opts guard.Options, creds credentials.TransportCredentials) string

// Names of the trivial orchestration the suite runs.
const (
	Orchestrator = "guardtest_orchestrator"
	Activity     = "guardtest_activity"
)

// Bounds on waits. They are generous upper limits, not expectations:
// durabletask-go's SQLite workers poll with up to 5 s of backoff.
const (
	completeWithin  = 60 * time.Second
	notCompleteWait = 3 * time.Second
	eventWithin     = 30 * time.Second
)

// Registry returns a registry with an orchestrator that calls one activity
// and returns its result ("hello " + input).
func Registry() *task.TaskRegistry {
	r := task.NewTaskRegistry()
	must(r.AddOrchestratorN(Orchestrator, func(ctx *task.OrchestrationContext) (any, error) {
		var in string
		if err := ctx.GetInput(&in); err != nil {
			return nil, err
		}
		var out string
		if err := ctx.CallActivity(Activity, task.WithActivityInput(in)).Await(&out); err != nil {
			return nil, err
		}
		return out, nil
	}))
	must(r.AddActivityN(Activity, func(ctx task.ActivityContext) (any, error) {
		var in string
		if err := ctx.GetInput(&in); err != nil {
			return nil, err
		}
		return "hello " + in, nil
	}))
	return r
}

func must(err error) {
	if err != nil {
		panic(err) // only reachable through a programming error in Registry
	}
}

// Run runs the protocol tests against the scheduler start starts.
func Run(t *testing.T, start StartFunc) {
	t.Run("CompletesWithDTSWorker", func(t *testing.T) { testCompletes(t, start) })
	t.Run("PlainWorkerDoesNotComplete", func(t *testing.T) { testPlainWorker(t, start) })
	t.Run("HealthPingsSwallowed", func(t *testing.T) { testPings(t, start) })
	t.Run("WrongTaskHubFailsFast", func(t *testing.T) { testWrongHub(t, start) })
	t.Run("TLSAndBearerToken", func(t *testing.T) { testTLSAndToken(t, start) })
}

func testCompletes(t *testing.T, start StartFunc) {
	addr := start(t, guard.Options{TaskHubs: []string{"default", "other"}, PingInterval: 100 * time.Millisecond}, nil)
	cfg := dts.Config{Address: addr, TaskHub: "default"}
	logs := &dtstest.Logs{}
	listen(t, DialDTS(t, cfg, dts.RoleWorker), logs)
	cl := client.NewTaskHubGrpcClient(DialDTS(t, cfg, dts.RoleClient), dts.Logger(logs.Logger()))
	runToCompletion(t, cl, logs)
}

func testPlainWorker(t *testing.T, start StartFunc) {
	addr := start(t, guard.Options{PingInterval: 100 * time.Millisecond}, nil)
	logs := &dtstest.Logs{}
	// A vanilla v0.6.0 worker: the task hub header, nothing else.
	plain, err := grpc.Dial(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoker(metadata.AppendToOutgoingContext(ctx, "taskhub", "default"), method, req, reply, cc, opts...)
		}),
		grpc.WithStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			return streamer(metadata.AppendToOutgoingContext(ctx, "taskhub", "default"), desc, cc, method, opts...)
		}),
	)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = plain.Close() })
	listen(t, plain, logs)

	cl := client.NewTaskHubGrpcClient(DialDTS(t, dts.Config{Address: addr, TaskHub: "default"}, dts.RoleClient), dts.Logger(logs.Logger()))
	id := schedule(t, cl)
	// The worker runs the orchestrator, but the scheduler refuses its
	// completion for lack of a token.
	waitFor(t, eventWithin, "the scheduler rejecting the completion", func() bool {
		return logs.Count("completion token missing") > 0
	})
	ctx, cancel := context.WithTimeout(context.Background(), notCompleteWait)
	defer cancel()
	if md, err := cl.WaitForOrchestrationCompletion(ctx, id); err == nil {
		t.Fatalf("orchestration completed (%v) although the worker sent no completion tokens", md.RuntimeStatus)
	}
	// Positive control for HealthPingsSwallowed: without the dts
	// interceptors, v0.6.0 logs every ping.
	waitFor(t, eventWithin, "v0.6.0 logging a health ping as an unknown work item", func() bool {
		return logs.Count("unknown work item") > 0
	})
}

func testPings(t *testing.T, start StartFunc) {
	addr := start(t, guard.Options{PingInterval: 20 * time.Millisecond}, nil)
	logs := &dtstest.Logs{}
	cfg := dts.Config{Address: addr, TaskHub: "default", Logger: logs.Logger()}
	opts, err := dts.DialOptions(cfg, dts.RoleWorker)
	if err != nil {
		t.Fatalf("dial options: %v", err)
	}
	// An interceptor added after dts's own sits inside them and sees the
	// raw stream, pings included.
	var pings atomic.Int64
	opts = append(opts, grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		cs, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil {
			return nil, err
		}
		return &pingCounter{ClientStream: cs, n: &pings}, nil
	}))
	conn, err := grpc.Dial(addr, opts...)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	listen(t, conn, logs)
	waitFor(t, eventWithin, "three health pings", func() bool { return pings.Load() >= 3 })
	cl := client.NewTaskHubGrpcClient(DialDTS(t, dts.Config{Address: addr, TaskHub: "default"}, dts.RoleClient), dts.Logger(logs.Logger()))
	runToCompletion(t, cl, logs)
	if n := logs.Count("unknown work item"); n != 0 {
		t.Fatalf("%d \"unknown work item\" log lines; health pings leaked to durabletask-go:\n%s", n, logs)
	}
}

type pingCounter struct {
	grpc.ClientStream
	n *atomic.Int64
}

func (p *pingCounter) RecvMsg(m any) error {
	err := p.ClientStream.RecvMsg(m)
	if msg, ok := m.(proto.Message); err == nil && ok && dtsproto.HasMessage(msg.ProtoReflect(), dtsproto.FieldWorkItemHealthPing) {
		p.n.Add(1)
	}
	return err
}

func testWrongHub(t *testing.T, start StartFunc) {
	addr := start(t, guard.Options{TaskHubs: []string{"default"}}, nil)
	cfg := dts.Config{Address: addr, TaskHub: "nope"}
	logs := &dtstest.Logs{}
	ctx, cancel := context.WithTimeout(context.Background(), eventWithin)
	defer cancel()

	cl := client.NewTaskHubGrpcClient(DialDTS(t, cfg, dts.RoleClient), dts.Logger(logs.Logger()))
	_, err := cl.ScheduleNewOrchestration(ctx, Orchestrator, api.WithInput("x"))
	checkNotFound(t, "ScheduleNewOrchestration", err)

	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	err = client.NewTaskHubGrpcClient(DialDTS(t, cfg, dts.RoleWorker), dts.Logger(logs.Logger())).StartWorkItemListener(wctx, Registry())
	checkNotFound(t, "StartWorkItemListener", err)
}

func checkNotFound(t *testing.T, call string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s with an unknown task hub succeeded", call)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%s with an unknown task hub hung until the deadline: %v", call, err)
	}
	if code := status.Code(err); code != codes.NotFound {
		t.Fatalf("%s: code %v, want NotFound: %v", call, code, err)
	}
	if !strings.Contains(err.Error(), `task hub "nope" not found`) {
		t.Fatalf("%s: error does not say which task hub is missing: %v", call, err)
	}
}

func testTLSAndToken(t *testing.T, start StartFunc) {
	serverTLS, roots := dtstest.SelfSigned(t)
	const secret = "test-secret-0123456789"
	addr := start(t, guard.Options{Token: secret, PingInterval: 100 * time.Millisecond}, credentials.NewTLS(serverTLS))
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	// Dial by name so the certificate's DNS name is what gets checked.
	cfg := dts.Config{Address: net.JoinHostPort("localhost", port), TLS: true, RootCAs: roots, TaskHub: "default", Token: secret}
	logs := &dtstest.Logs{}
	listen(t, DialDTS(t, cfg, dts.RoleWorker), logs)
	cl := client.NewTaskHubGrpcClient(DialDTS(t, cfg, dts.RoleClient), dts.Logger(logs.Logger()))
	runToCompletion(t, cl, logs)
	if strings.Contains(logs.String(), secret) {
		t.Fatalf("the bearer secret appears in the logs")
	}

	for name, tok := range map[string]string{"wrong token": "not-the-secret", "no token": ""} {
		bad := cfg
		bad.Token = tok
		ctx, cancel := context.WithTimeout(context.Background(), eventWithin)
		_, err := client.NewTaskHubGrpcClient(DialDTS(t, bad, dts.RoleClient), dts.Logger(logs.Logger())).
			ScheduleNewOrchestration(ctx, Orchestrator, api.WithInput("x"))
		cancel()
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("%s: got %v, want Unauthenticated", name, err)
		}
	}
}

// DialDTS dials cfg with dts.Dial and closes the connection at cleanup.
func DialDTS(t *testing.T, cfg dts.Config, role dts.Role) *grpc.ClientConn {
	t.Helper()
	conn, err := dts.Dial(context.Background(), cfg, role)
	if err != nil {
		t.Fatalf("dts.Dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// listen starts a v0.6.0 work item listener on conn until the test ends.
func listen(t *testing.T, conn grpc.ClientConnInterface, logs *dtstest.Logs) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w := client.NewTaskHubGrpcClient(conn, dts.Logger(logs.Logger()))
	if err := w.StartWorkItemListener(ctx, Registry()); err != nil {
		t.Fatalf("start work item listener: %v", err)
	}
}

func schedule(t *testing.T, cl *client.TaskHubGrpcClient) api.InstanceID {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventWithin)
	defer cancel()
	id, err := cl.ScheduleNewOrchestration(ctx, Orchestrator, api.WithInput("world"))
	if err != nil {
		t.Fatalf("schedule orchestration: %v", err)
	}
	return id
}

func runToCompletion(t *testing.T, cl *client.TaskHubGrpcClient, logs *dtstest.Logs) {
	t.Helper()
	id := schedule(t, cl)
	ctx, cancel := context.WithTimeout(context.Background(), completeWithin)
	defer cancel()
	md, err := cl.WaitForOrchestrationCompletion(ctx, id, api.WithFetchPayloads(true))
	if err != nil {
		t.Fatalf("orchestration %s did not complete: %v\nlogs:\n%s", id, err, logs)
	}
	if got := md.RuntimeStatus.String(); got != "ORCHESTRATION_STATUS_COMPLETED" {
		t.Fatalf("status %s (failure %v), want completed\nlogs:\n%s", got, md.FailureDetails, logs)
	}
	if md.SerializedOutput != `"hello world"` {
		t.Fatalf("output %s, want \"hello world\"", md.SerializedOutput)
	}
}

// waitFor polls cond until it holds or within passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s after %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// StartVanilla is a StartFunc for durabletask-go's own gRPC executor with an
// in-memory SQLite backend.
func StartVanilla(t *testing.T, opts guard.Options, creds credentials.TransportCredentials) string {
	t.Helper()
	logs := &dtstest.Logs{}
	logger := dts.Logger(logs.Logger())
	if opts.Logger == nil {
		opts.Logger = logs.Logger()
	}
	g := guard.New(opts)
	srvOpts := g.ServerOptions()
	if creds != nil {
		srvOpts = append(srvOpts, grpc.Creds(creds))
	}
	srv := grpc.NewServer(srvOpts...)

	be := sqlite.NewSqliteBackend(sqlite.NewSqliteOptions(""), logger)
	if err := be.CreateTaskHub(context.Background()); err != nil {
		t.Fatalf("create task hub: %v", err)
	}
	executor, register := backend.NewGrpcExecutor(be, logger)
	register(srv)
	// The dispatch loops are the test's own: durabletask-go's TaskHubWorker
	// shutdown races its loop (WaitGroup Add against Wait), which -race
	// reports. These poll the backend every few milliseconds instead.
	ctx, stop := context.WithCancel(context.Background())
	var loops sync.WaitGroup
	dispatchers := []backend.TaskWorker{
		backend.NewOrchestrationWorker(be, executor, logger),
		backend.NewActivityTaskWorker(be, executor, logger),
	}
	for _, d := range dispatchers {
		loops.Add(1)
		go func() {
			defer loops.Done()
			for ctx.Err() == nil {
				if found, _ := d.ProcessNext(ctx); !found {
					select {
					case <-ctx.Done():
					case <-time.After(5 * time.Millisecond):
					}
				}
			}
		}()
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		stop()
		loops.Wait()
		for _, d := range dispatchers {
			d.StopAndDrain()
		}
		if t.Failed() {
			t.Logf("scheduler logs:\n%s", logs)
		}
	})
	return lis.Addr().String()
}
