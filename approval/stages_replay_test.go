package approval_test

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/dts"
	"github.com/approvals-go/approvals/internal/testenv"
)

// record rewrites testdata/history/stages from live runs. The histories
// there were recorded by the first version with stages and rounds; like
// those beside them, never re-record them once a version with stages has
// been deployed.
var record = flag.Bool("record", false, "record testdata/history/stages from live runs")

// shapes are approvals of the new shapes, run live on the real scheduler
// and worker: each step raises an event once the status says the one
// before took effect.
var shapes = []struct {
	name  string
	req   approval.Request
	steps []struct {
		d    approval.Decision
		want func(approval.Submission) bool
	}
	final approval.Status
}{
	{name: "stages", req: approval.Request{Requester: "ana", Item: "car", Stages: []approval.Stage{
		{Name: "manager", Approvers: []string{"bob"}, TimeoutHours: hours(time.Hour), RemindEvery: "20m"},
		{Name: "finance", Approvers: []string{"carol", "dan"}, Policy: approval.PolicyAll, TimeoutHours: hours(2 * time.Hour)},
	}}, steps: []struct {
		d    approval.Decision
		want func(approval.Submission) bool
	}{
		{approval.Decision{IsApproved: ptr(true), Approver: ptr("bob"), Stage: 1}, func(s approval.Submission) bool { return s.Stage == 2 }},
		{approval.Decision{IsApproved: ptr(true), Approver: ptr("carol"), Stage: 2}, func(s approval.Submission) bool { return len(s.Decisions) == 1 }},
		{approval.Decision{IsApproved: ptr(false), Approver: ptr("dan"), Stage: 2, Comments: "no"}, nil},
	}, final: approval.StatusRejected},
	{name: "changes", req: approval.Request{Requester: "ana", Item: "car", Approvers: []string{"bob"}, AllowChanges: true,
		TimeoutHours: hours(time.Hour)}, steps: []struct {
		d    approval.Decision
		want func(approval.Submission) bool
	}{
		{approval.Decision{Action: approval.ActionRequestChanges, Approver: ptr("bob"), Comments: "which?"}, func(s approval.Submission) bool { return s.ChangesRequested }},
		{approval.Decision{Action: approval.ActionResubmit, Approver: ptr("ana"), Item: "car, model T"}, func(s approval.Submission) bool { return s.Round == 2 }},
		{approval.Decision{IsApproved: ptr(true), Approver: ptr("bob"), Round: 2}, nil},
	}, final: approval.StatusApproved},
}

func historyOf(t *testing.T, e *testenv.Env, id string) []*backend.HistoryEvent {
	t.Helper()
	events, _, err := e.Server.Reader(dts.DefaultTaskHub).HistoryWindow(context.Background(), api.InstanceID(id), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	// The scheduler may keep one execution's actions in another order
	// than their ids, which are the order the orchestrator took them in.
	for i := 0; i < len(events); {
		j := i + 1
		for j < len(events) && events[j].GetOrchestratorStarted() == nil {
			j++
		}
		var actions []*backend.HistoryEvent
		var at []int
		for k := i; k < j; k++ {
			if isAction(events[k]) {
				actions, at = append(actions, events[k]), append(at, k)
			}
		}
		slices.SortStableFunc(actions, func(a, b *backend.HistoryEvent) int { return cmp.Compare(a.GetEventId(), b.GetEventId()) })
		for n, k := range at {
			events[k] = actions[n]
		}
		i = j
	}
	return events
}

// TestNewShapesReplayLive runs each new shape live and replays its
// history under the replay harness; with -record it keeps the history.
func TestNewShapesReplayLive(t *testing.T) {
	for _, c := range shapes {
		t.Run(c.name, func(t *testing.T) {
			te := testenv.Start(t, "http://approvals.test")
			e := &env{client: te.Client, logs: te.Logs}
			req := c.req
			req.RequestID = c.name
			e.startApproval(t, c.name, req)
			e.waitPending(t, c.name)
			for _, s := range c.steps {
				e.raise(t, c.name, s.d)
				if s.want != nil {
					waitStatus(t, e, c.name, s.want)
				}
			}
			if _, out := e.outcome(t, c.name); out.Status != c.final {
				t.Fatalf("outcome = %+v", out)
			}
			history := historyOf(t, te, c.name)
			replay(t, c.name, history)
			if *record {
				var lines []string
				for _, ev := range history {
					js, err := protojson.Marshal(ev)
					if err != nil {
						t.Fatal(err)
					}
					lines = append(lines, "  "+string(js))
				}
				dir := filepath.Join("testdata", "history", "stages")
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, c.name+".json"), []byte("[\n"+strings.Join(lines, ",\n")+"\n]\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func waitStatus(t *testing.T, e *env, id string, want func(approval.Submission) bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		md, err := e.client.FetchOrchestrationMetadata(context.Background(), api.InstanceID(id))
		if err != nil {
			t.Fatal(err)
		}
		var sub approval.Submission
		if json.Unmarshal([]byte(md.SerializedCustomStatus), &sub) == nil && want(sub) {
			return
		}
	}
	t.Fatalf("%s never reached the status awaited", id)
}

// TestReplayRecordedStages replays the histories recorded by the first
// version with stages and rounds of changes.
func TestReplayRecordedStages(t *testing.T) {
	for _, c := range shapes {
		t.Run(c.name, func(t *testing.T) {
			steps := replay(t, c.name, loadHistory(t, filepath.Join("stages", c.name)))
			last := steps[len(steps)-1].actions
			if len(last) != 1 || !strings.Contains(last[0], `"status":"`+string(c.final)+`"`) {
				t.Fatalf("last step = %q, want %s", last, c.final)
			}
		})
	}
}
