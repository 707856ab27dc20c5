package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/approvals-go/approvals/dts"
	"github.com/approvals-go/approvals/dts/dtstest"
	"github.com/approvals-go/approvals/dts/mgmt"
	"github.com/approvals-go/approvals/internal/testenv"
	"github.com/approvals-go/approvals/scheduler"
)

// With no worker to drain it, the backlog fills with the starts a client
// makes; at the bound StartInstance is answered RESOURCE_EXHAUSTED, the
// refused instance does not exist and the SQLite file holds exactly the
// starts that were accepted. Raised events and terminations are still
// taken.
func TestStartsPastTheBacklogBoundAreRefused(t *testing.T) {
	const bound = 5
	logs := &dtstest.Logs{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// One work item at a time is handed to the (absent) worker, so at
	// most one accepted start is out of the backlog.
	_, addr := testenv.ServeScheduler(t, ctx, scheduler.Options{DataDir: t.TempDir(), Synchronous: "normal", Logger: logs.Logger(),
		MaxBacklog: bound, Parallelism: 1})
	conn, _ := testenv.Dial(t, ctx, addr)
	defer conn.Close()
	c := client.NewTaskHubGrpcClient(conn, dts.Logger(logs.Logger()))
	m := mgmt.New(conn)

	var accepted []string
	refused := ""
	var refusal error
	for i := range bound + 10 {
		id := fmt.Sprintf("start-%02d", i)
		if _, err := c.ScheduleNewOrchestration(ctx, "anything", api.WithInstanceID(api.InstanceID(id))); err != nil {
			refused, refusal = id, err
			break
		}
		accepted = append(accepted, id)
	}
	if refused == "" {
		t.Fatalf("%d starts accepted with a bound of %d and no worker", len(accepted), bound)
	}
	if status.Code(refusal) != codes.ResourceExhausted || !strings.Contains(refusal.Error(), "busy") {
		t.Fatalf("refused start answered %v, want RESOURCE_EXHAUSTED saying the scheduler is busy", refusal)
	}
	if len(accepted) < bound || len(accepted) > bound+1 {
		t.Fatalf("%d starts accepted before the first refusal, want %d (and one more if a dispatcher took one)", len(accepted), bound)
	}
	if _, err := c.FetchOrchestrationMetadata(ctx, api.InstanceID(refused)); !errors.Is(err, api.ErrInstanceNotFound) {
		t.Fatalf("the refused start %s: %v, want not found", refused, err)
	}
	page, err := m.QueryInstances(ctx, mgmt.Query{PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Instances) != len(accepted) {
		t.Fatalf("%d instances stored, want the %d accepted", len(page.Instances), len(accepted))
	}

	if err := c.RaiseEvent(ctx, api.InstanceID(accepted[0]), "decision"); err != nil {
		t.Fatalf("raise at the bound: %v", err)
	}
	if err := c.TerminateOrchestration(ctx, api.InstanceID(accepted[1])); err != nil {
		t.Fatalf("terminate at the bound: %v", err)
	}
	if _, err := c.ScheduleNewOrchestration(ctx, "anything", api.WithInstanceID("start-later")); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("start while still at the bound: %v, want RESOURCE_EXHAUSTED", err)
	}
	if !strings.Contains(logs.String(), "refusing new starts") {
		t.Errorf("the refusals were not logged:\n%s", logs)
	}
}
