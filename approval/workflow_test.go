package approval_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/client"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/dts/dtstest"
	"github.com/approvals-go/approvals/internal/testenv"
)

type env struct {
	client *client.TaskHubGrpcClient
	logs   *dtstest.Logs
}

func start(t *testing.T) *env {
	e := testenv.Start(t, "http://approvals.test")
	return &env{client: e.Client, logs: e.Logs}
}

func hours(d time.Duration) *float64 {
	h := d.Hours()
	return &h
}

func (e *env) startApproval(t *testing.T, id string, req approval.Request) {
	t.Helper()
	if _, err := e.client.ScheduleNewOrchestration(context.Background(), approval.OrchestratorName,
		api.WithInstanceID(api.InstanceID(id)), api.WithInput(req)); err != nil {
		t.Fatal(err)
	}
}

// waitPending waits until the orchestrator has submitted the request and
// published its custom status.
func (e *env) waitPending(t *testing.T, id string) approval.Submission {
	t.Helper()
	status := testenv.WaitCustomStatus(t, e.client, id)
	var sub approval.Submission
	if err := json.Unmarshal([]byte(status), &sub); err != nil {
		t.Fatalf("custom status %q: %v", status, err)
	}
	return sub
}

func (e *env) raise(t *testing.T, id string, payload any) {
	t.Helper()
	if err := e.client.RaiseEvent(context.Background(), api.InstanceID(id), approval.DecisionEventName, api.WithEventPayload(payload)); err != nil {
		t.Fatal(err)
	}
}

// outcome waits for completion and returns the raw output and the decoded outcome.
func (e *env) outcome(t *testing.T, id string) (map[string]any, approval.Outcome) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	md, err := e.client.WaitForOrchestrationCompletion(ctx, api.InstanceID(id))
	if err != nil {
		t.Fatalf("wait for %s: %v", id, err)
	}
	if md.RuntimeStatus != api.RUNTIME_STATUS_COMPLETED {
		t.Fatalf("%s ended %v: %+v", id, md.RuntimeStatus, md.FailureDetails)
	}
	var raw map[string]any
	var out approval.Outcome
	if err := json.Unmarshal([]byte(md.SerializedOutput), &raw); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(md.SerializedOutput), &out); err != nil {
		t.Fatal(err)
	}
	return raw, out
}

func keys(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return strings.Join(sortStrings(ks), ",")
}

func sortStrings(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

func ptr[T any](v T) *T { return &v }

func TestApproved(t *testing.T) {
	e := start(t)
	e.startApproval(t, "exp-1", approval.Request{RequestID: "exp-1", Requester: "ana", Item: "laptop", TimeoutHours: hours(time.Hour)})
	sub := e.waitPending(t, "exp-1")
	if sub.Status != approval.StatusPending || sub.RequestID != "exp-1" || sub.ApprovalURL != "http://approvals.test/api/review/exp-1" {
		t.Fatalf("custom status = %+v", sub)
	}
	if _, err := time.Parse(time.RFC3339, sub.SubmittedAt); err != nil {
		t.Fatalf("submitted_at %q: %v", sub.SubmittedAt, err)
	}
	e.raise(t, "exp-1", map[string]any{"is_approved": true, "approver": "bob", "comments": "ok", "response_time": "2026-01-01T00:00:00Z"})
	raw, out := e.outcome(t, "exp-1")
	if keys(raw) != "approver,comments,processed_at,request_id,status" {
		t.Fatalf("output fields = %s", keys(raw))
	}
	if out.Status != approval.StatusApproved || out.Approver != "bob" || out.Comments != "ok" || out.RequestID != "exp-1" {
		t.Fatalf("outcome = %+v", out)
	}
	if !strings.Contains(e.logs.String(), `"approval_url":"http://approvals.test/api/review/exp-1"`) {
		t.Fatalf("the notifier did not log the approval link:\n%s", e.logs.String())
	}
}

func TestRejected(t *testing.T) {
	e := start(t)
	e.startApproval(t, "exp-2", approval.Request{RequestID: "exp-2", Requester: "ana", Item: "chair"})
	e.waitPending(t, "exp-2")
	e.raise(t, "exp-2", approval.Decision{IsApproved: ptr(false), Approver: ptr("carol"), Comments: "too expensive"})
	_, out := e.outcome(t, "exp-2")
	if out.Status != approval.StatusRejected || out.Approver != "carol" || out.Comments != "too expensive" {
		t.Fatalf("outcome = %+v", out)
	}
}

func TestTimeout(t *testing.T) {
	e := start(t)
	began := time.Now()
	e.startApproval(t, "exp-3", approval.Request{RequestID: "exp-3", Requester: "ana", Item: "desk", TimeoutHours: hours(approval.MinTimeout)})
	raw, out := e.outcome(t, "exp-3")
	if keys(raw) != "request_id,status,timed_out_at" {
		t.Fatalf("output fields = %s", keys(raw))
	}
	if out.Status != approval.StatusTimeout {
		t.Fatalf("outcome = %+v", out)
	}
	at, err := time.Parse(time.RFC3339, out.TimedOutAt)
	if err != nil {
		t.Fatal(err)
	}
	if at.Before(began.Add(approval.MinTimeout)) || !strings.HasSuffix(out.TimedOutAt, "Z") {
		t.Fatalf("timed_out_at %s is before the deadline or not UTC", out.TimedOutAt)
	}
	// A decision after the timeout changes nothing.
	e.raise(t, "exp-3", approval.Decision{IsApproved: ptr(true)})
	_, again := e.outcome(t, "exp-3")
	if again.Status != approval.StatusTimeout {
		t.Fatalf("late decision changed the outcome to %+v", again)
	}
}

// A decision raised before the orchestrator starts waiting is buffered and
// used when it does.
func TestDecisionBeforeWaiting(t *testing.T) {
	e := start(t)
	e.startApproval(t, "exp-4", approval.Request{RequestID: "exp-4", Requester: "ana", Item: "phone", TimeoutHours: hours(time.Hour)})
	e.raise(t, "exp-4", approval.Decision{IsApproved: ptr(true), Approver: ptr("dave")})
	_, out := e.outcome(t, "exp-4")
	if out.Status != approval.StatusApproved || out.Approver != "dave" {
		t.Fatalf("outcome = %+v", out)
	}
}

func TestTwoDecisionsOneOutcome(t *testing.T) {
	e := start(t)
	e.startApproval(t, "exp-5", approval.Request{RequestID: "exp-5", Requester: "ana", Item: "car", TimeoutHours: hours(time.Hour)})
	e.waitPending(t, "exp-5")
	e.raise(t, "exp-5", approval.Decision{IsApproved: ptr(false), Approver: ptr("erin")})
	e.raise(t, "exp-5", approval.Decision{IsApproved: ptr(true), Approver: ptr("frank")})
	_, out := e.outcome(t, "exp-5")
	if out.Status != approval.StatusRejected || out.Approver != "erin" {
		t.Fatalf("outcome = %+v, want the first decision", out)
	}
	time.Sleep(200 * time.Millisecond)
	_, later := e.outcome(t, "exp-5")
	if !reflect.DeepEqual(later, out) {
		t.Fatalf("outcome changed from %+v to %+v", out, later)
	}
	if n := strings.Count(e.logs.String(), `"msg":"approval processed"`); n != 1 {
		t.Fatalf("approval processed %d times, want 1", n)
	}
}

func TestDefaults(t *testing.T) {
	e := start(t)
	// No timeout_hours (24 h default) and no request_id: the instance ID is used.
	e.startApproval(t, "exp-6", approval.Request{Requester: "ana", Item: "lamp"})
	sub := e.waitPending(t, "exp-6")
	if sub.RequestID != "exp-6" {
		t.Fatalf("request_id = %q, want the instance ID", sub.RequestID)
	}
	e.raise(t, "exp-6", map[string]any{"comments": "no fields"})
	_, out := e.outcome(t, "exp-6")
	if out.Status != approval.StatusRejected || out.Approver != approval.UnknownApprover || out.Comments != "no fields" {
		t.Fatalf("outcome = %+v, want Rejected by Unknown", out)
	}
}
