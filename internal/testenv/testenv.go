// Package testenv starts an embedded scheduler on a real loopback port with
// an approval worker connected, for tests across packages.
package testenv

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/client"
	"github.com/microsoft/durabletask-go/task"
	"google.golang.org/grpc"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/dts"
	"github.com/approvals-go/approvals/dts/dtstest"
	"github.com/approvals-go/approvals/scheduler"
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
	srv, err := scheduler.New(ctx, schedOpts)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)

	cfg, err := dts.Settings{Endpoint: "http://" + lis.Addr().String(), TaskHub: dts.DefaultTaskHub}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	wconn, err := dts.Dial(ctx, cfg, dts.RoleWorker)
	if err != nil {
		t.Fatal(err)
	}
	cconn, err := dts.Dial(ctx, cfg, dts.RoleClient)
	if err != nil {
		t.Fatal(err)
	}
	logs := &dtstest.Logs{}
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
	if err := client.NewTaskHubGrpcClient(wconn, dts.Logger(Quiet())).StartWorkItemListener(ctx, r); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		wconn.Close()
		cconn.Close()
		closeCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		srv.Close(closeCtx)
	})
	return &Env{Client: client.NewTaskHubGrpcClient(cconn, dts.Logger(Quiet())), Conn: cconn, Server: srv, Logs: logs}
}
