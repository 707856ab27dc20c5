package scheduler_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/client"
	"github.com/microsoft/durabletask-go/task"

	"github.com/approvals-go/approvals/dts"
	"github.com/approvals-go/approvals/dts/dtstest"
	"github.com/approvals-go/approvals/internal/testenv"
	"github.com/approvals-go/approvals/scheduler"
	"github.com/approvals-go/approvals/scheduler/guard"
)

// Task hubs share the port and nothing else: each has its own instances,
// its own workers and its own file.
func TestTaskHubsAreIsolated(t *testing.T) {
	dir := t.TempDir()
	logs := &dtstest.Logs{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, addr := testenv.ServeScheduler(t, ctx, scheduler.Options{DataDir: dir, Logger: logs.Logger(),
		Guard: guard.Options{TaskHubs: []string{"default", "billing"}}})

	clients := map[string]*client.TaskHubGrpcClient{}
	for _, hub := range []string{"default", "billing"} {
		cfg, err := dts.Settings{Endpoint: "http://" + addr, TaskHub: hub}.Resolve()
		if err != nil {
			t.Fatal(err)
		}
		cfg.Logger = logs.Logger()
		wconn, err := dts.Dial(ctx, cfg, dts.RoleWorker)
		if err != nil {
			t.Fatal(err)
		}
		defer wconn.Close()
		cconn, err := dts.Dial(ctx, cfg, dts.RoleClient)
		if err != nil {
			t.Fatal(err)
		}
		defer cconn.Close()
		// Each hub's worker answers with its hub's name, so the output
		// shows which worker ran the orchestration.
		r := task.NewTaskRegistry()
		r.AddOrchestratorN("whoami", func(octx *task.OrchestrationContext) (any, error) {
			var who string
			err := octx.CallActivity("name").Await(&who)
			return who, err
		})
		r.AddActivityN("name", func(task.ActivityContext) (any, error) { return hub, nil })
		if err := client.NewTaskHubGrpcClient(wconn, dts.Logger(logs.Logger())).StartWorkItemListener(ctx, r); err != nil {
			t.Fatal(err)
		}
		clients[hub] = client.NewTaskHubGrpcClient(cconn, dts.Logger(logs.Logger()))
	}

	if _, err := clients["billing"].ScheduleNewOrchestration(ctx, "whoami", api.WithInstanceID("only-in-billing")); err != nil {
		t.Fatal(err)
	}
	if _, err := clients["default"].FetchOrchestrationMetadata(ctx, "only-in-billing"); !errors.Is(err, api.ErrInstanceNotFound) {
		t.Fatalf("an instance of hub billing is visible in hub default: %v", err)
	}
	for hub, c := range clients {
		if hub == "default" {
			if _, err := c.ScheduleNewOrchestration(ctx, "whoami", api.WithInstanceID("same-id")); err != nil {
				t.Fatal(err)
			}
		} else if _, err := c.ScheduleNewOrchestration(ctx, "whoami", api.WithInstanceID("same-id")); err != nil {
			t.Fatalf("the same instance id in another hub was refused: %v", err)
		}
	}
	for hub, c := range clients {
		wctx, done := context.WithTimeout(ctx, 10*time.Second)
		md, err := c.WaitForOrchestrationCompletion(wctx, "same-id", api.WithFetchPayloads(true))
		done()
		if err != nil {
			t.Fatalf("hub %s: %v\n%s", hub, err, logs)
		}
		if md.SerializedOutput != `"`+hub+`"` {
			t.Fatalf("hub %s: orchestration ran on the worker of %s", hub, md.SerializedOutput)
		}
	}
	for _, f := range []string{scheduler.DatabaseFile, scheduler.HubFile("billing")} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("no database file for a hub: %v", err)
		}
	}
	if scheduler.HubFile("billing") == scheduler.DatabaseFile || scheduler.HubFile("a/b") == scheduler.HubFile("a_b") {
		t.Fatal("hub files collide")
	}
}

func TestDataDirectoryIsExclusive(t *testing.T) {
	dir := t.TempDir()
	first, err := scheduler.New(context.Background(), scheduler.Options{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scheduler.New(context.Background(), scheduler.Options{DataDir: dir, Logger: slog.New(slog.DiscardHandler)}); err == nil || !strings.Contains(err.Error(), "in use by another scheduler") {
		t.Fatalf("a second scheduler on the same data directory = %v", err)
	}
	if err := first.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	again, err := scheduler.New(context.Background(), scheduler.Options{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("the data directory stayed locked after Close: %v", err)
	}
	again.Close(context.Background())
}
