// Package testenv starts an embedded scheduler on a real loopback port with
// an approval worker connected (the worker package's listener, as the
// worker binary runs it), for tests across packages.
package testenv

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/client"
	"github.com/microsoft/durabletask-go/task"
	"google.golang.org/grpc"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/dts"
	"github.com/approvals-go/approvals/dts/dtstest"
	"github.com/approvals-go/approvals/scheduler"
	"github.com/approvals-go/approvals/worker"
)

// Env is a running scheduler with a worker and a client connection.
type Env struct {
	Client *client.TaskHubGrpcClient
	// Conn is the client's connection, for other clients of the protocol
	// (the management client, the HTTP API's adapter).
	Conn *grpc.ClientConn
	// Server is the scheduler itself, for in-process readers.
	Server *scheduler.Server
	// Logs collects what the activities log, as JSON lines.
	Logs *dtstest.Logs
	// Scheduler is where the scheduler listens, for further connections.
	Scheduler dts.Config
}

// Options adjust the environment.
type Options struct {
	// OnFile keeps the scheduler's state in a file of the test's temporary
	// directory, so that reads go through the reader pool; otherwise it is
	// in memory.
	OnFile bool
	// Activities, when set, adjusts the activities before they are
	// registered: a notifier that records, a link signer.
	Activities func(*approval.Activities)
	// Register adds orchestrators and activities beside the approval's.
	Register func(*task.TaskRegistry) error
	// NoWorker starts the scheduler alone, for tests that connect workers
	// of their own.
	NoWorker bool
}

// Quiet is a logger that discards everything.
func Quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// Start runs an in-memory scheduler and an approval worker whose links point
// at apiBase. Everything stops when the test ends.
func Start(t testing.TB, apiBase string) *Env {
	return StartWith(t, apiBase, Options{})
}

// StartWith is Start with options.
func StartWith(t testing.TB, apiBase string, opts Options) *Env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	schedOpts := scheduler.Options{Logger: Quiet()}
	if opts.OnFile {
		// Tests need no power-cut durability; normal sync is faster.
		schedOpts.DataDir, schedOpts.Synchronous = filepath.Join(t.TempDir(), "scheduler"), "normal"
	}
	srv, addr := ServeScheduler(t, ctx, schedOpts)
	cconn, cfg := Dial(t, ctx, addr)
	logs := &dtstest.Logs{}
	var stopWorker func()
	t.Cleanup(func() {
		cancel()
		if stopWorker != nil {
			stopWorker()
		}
		cconn.Close()
		// ServeScheduler's own cleanup, which runs after this one, then
		// closes the scheduler.
	})
	if !opts.NoWorker {
		stopWorker = startWorker(ctx, t, cfg, apiBase, opts, logs)
	}
	return &Env{Client: client.NewTaskHubGrpcClient(cconn, dts.Logger(Quiet())), Conn: cconn, Server: srv, Logs: logs, Scheduler: cfg}
}

// startWorker connects the approval worker's listener; the function it
// returns waits for the listener to stop once ctx has ended, and closes
// its connection.
func startWorker(ctx context.Context, t testing.TB, cfg dts.Config, apiBase string, opts Options, logs *dtstest.Logs) func() {
	t.Helper()
	wconn, err := dts.Dial(ctx, cfg, dts.RoleWorker)
	if err != nil {
		t.Fatal(err)
	}
	acts := approval.NewActivities(apiBase, slog.New(slog.NewJSONHandler(logs, nil)))
	if opts.Activities != nil {
		opts.Activities(acts)
	}
	r := task.NewTaskRegistry()
	if err := approval.Register(r, acts); err != nil {
		t.Fatal(err)
	}
	if opts.Register != nil {
		if err := opts.Register(r); err != nil {
			t.Fatal(err)
		}
	}
	l := worker.NewListener(wconn, task.NewTaskExecutor(r), worker.ListenerOptions{
		SlowActivities: approval.SlowActivities(),
		ShutdownGrace:  5 * time.Second,
		Logger:         Quiet(),
	})
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return func() {
		<-l.Done()
		wconn.Close()
	}
}

// WaitCustomStatus waits until id has published a custom status, which an
// approval does once it waits for decisions, and returns it.
func WaitCustomStatus(t testing.TB, c *client.TaskHubGrpcClient, id string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		md, err := c.FetchOrchestrationMetadata(context.Background(), api.InstanceID(id))
		if err != nil {
			t.Fatal(err)
		}
		if md.SerializedCustomStatus != "" {
			return md.SerializedCustomStatus
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s published no custom status within 15 s", id)
	return ""
}

// Dial connects a client to the default task hub of the scheduler that
// ServeScheduler serves on addr, and returns the connection, which the
// caller closes, and the settings it used.
func Dial(t testing.TB, ctx context.Context, addr string) (*grpc.ClientConn, dts.Config) {
	t.Helper()
	cfg, err := dts.Settings{Endpoint: "http://" + addr, TaskHub: dts.DefaultTaskHub}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := dts.Dial(ctx, cfg, dts.RoleClient)
	if err != nil {
		t.Fatal(err)
	}
	return conn, cfg
}

// ServeScheduler runs an embedded scheduler with opts on a loopback port
// until the test ends (or ctx, which stops its dispatchers), and returns
// it and its address. Close may be called earlier, as a restart does.
func ServeScheduler(t testing.TB, ctx context.Context, opts scheduler.Options) (*scheduler.Server, string) {
	t.Helper()
	srv, err := scheduler.New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(func() {
		closeCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
		defer done()
		if err := srv.Close(closeCtx); err != nil {
			t.Errorf("close the scheduler: %v", err)
		}
	})
	return srv, lis.Addr().String()
}
