// Package testenv starts an embedded scheduler on a real loopback port with
// an approval worker connected, for tests across packages.
package testenv

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/client"
	"github.com/microsoft/durabletask-go/task"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/dts"
	"github.com/approvals-go/approvals/dts/dtstest"
	"github.com/approvals-go/approvals/scheduler"
)

// Env is a running scheduler with a worker and a client connection.
type Env struct {
	Client *client.TaskHubGrpcClient
	// Logs collects what the activities log, as JSON lines.
	Logs *dtstest.Logs
}

// Quiet is a logger that discards everything.
func Quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// Start runs an in-memory scheduler and an approval worker whose links point
// at apiBase. Everything stops when the test ends.
func Start(t testing.TB, apiBase string) *Env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := scheduler.New(ctx, scheduler.Options{Logger: Quiet()})
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
	r := task.NewTaskRegistry()
	if err := approval.Register(r, approval.NewActivities(apiBase, slog.New(slog.NewJSONHandler(logs, nil)))); err != nil {
		t.Fatal(err)
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
	return &Env{Client: client.NewTaskHubGrpcClient(cconn, dts.Logger(Quiet())), Logs: logs}
}
