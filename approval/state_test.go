package approval_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"

	"github.com/approvals-go/approvals/approval"
)

// An approval's orchestration ended by its runtime status, as StateOf
// reads it: a terminated one is Terminated with the reason it was given,
// a failed one Failed with what failed, neither saying the same thing
// twice.
func TestStateOfEndings(t *testing.T) {
	md := func(status api.OrchestrationStatus, output string, fd *backend.TaskFailureDetails) *api.OrchestrationMetadata {
		return &api.OrchestrationMetadata{InstanceID: "a-1", Name: approval.OrchestratorName, RuntimeStatus: status,
			SerializedInput: `{"request_id":"a-1","requester":"ana","item":"Laptop"}`, SerializedOutput: output, FailureDetails: fd}
	}
	for _, c := range []struct {
		name   string
		md     *api.OrchestrationMetadata
		status approval.Status
		error  string
	}{
		{"terminated with a reason", md(api.RUNTIME_STATUS_TERMINATED, `"Duplicate of EXP-3107"`, nil), approval.StatusTerminated, "Duplicate of EXP-3107"},
		{"terminated without one", md(api.RUNTIME_STATUS_TERMINATED, "", nil), approval.StatusTerminated, ""},
		{"terminated with a JSON reason", md(api.RUNTIME_STATUS_TERMINATED, `{"why":"x"}`, nil), approval.StatusTerminated, `{"why":"x"}`},
		{"failed", md(api.RUNTIME_STATUS_FAILED, "", &backend.TaskFailureDetails{ErrorType: "panic", ErrorMessage: "boom"}), approval.StatusFailed, "boom"},
		{"failed without details", md(api.RUNTIME_STATUS_FAILED, "", nil), approval.StatusFailed, "the workflow failed without details"},
		{"completed without an outcome", md(api.RUNTIME_STATUS_COMPLETED, `"?"`, nil), approval.StatusFailed, "the approval finished without a readable outcome"},
		{"canceled", md(api.RUNTIME_STATUS_CANCELED, "", nil), approval.StatusFailed, "the workflow failed without details"},
	} {
		st, ok := approval.StateOf(c.md)
		if !ok || st.Status != c.status || st.Error != c.error || st.Result != nil || st.Pending() {
			t.Errorf("%s: %s %q (ok %v), want %s %q", c.name, st.Status, st.Error, ok, c.status, c.error)
		}
		// The inbox asks the scheduler for the runtime statuses of a
		// status: this one must be among them.
		if !slices.Contains(st.Status.RuntimeStatuses(), c.md.RuntimeStatus) {
			t.Errorf("%s: %s.RuntimeStatuses() = %v lacks %v", c.name, st.Status, st.Status.RuntimeStatuses(), c.md.RuntimeStatus)
		}
	}
	if slices.Contains(approval.StatusFailed.RuntimeStatuses(), api.RUNTIME_STATUS_TERMINATED) {
		t.Error("a terminated orchestration is still looked for among the Failed")
	}
	if st, ok := approval.ParseStatus("terminated"); !ok || st != approval.StatusTerminated || !slices.Contains(approval.Statuses, st) {
		t.Errorf("ParseStatus(terminated) = %v %v", st, ok)
	}
	// Every status is either pending or final, and the final ones are
	// looked for among finished orchestrations only.
	for _, s := range approval.Statuses {
		if len(s.RuntimeStatuses()) == 0 {
			t.Errorf("%s: no runtime statuses", s)
		}
	}
}

// An approval run by a worker keeping exactly the sample's contract, as
// StateOf reads it: submitted, though the submission's time (local, no
// zone) does not read; a deadline worked out and said to be; no features;
// an outcome that claims no comments, since the sample records none.
func TestStateOfSeedContract(t *testing.T) {
	created := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	md := &api.OrchestrationMetadata{InstanceID: "s-1", Name: approval.OrchestratorName, RuntimeStatus: api.RUNTIME_STATUS_RUNNING, CreatedAt: created,
		SerializedInput:        `{"request_id":"s-1","requester":"ana","item":"Laptop","timeout_hours":0.5}`,
		SerializedCustomStatus: `{"request_id":"s-1","status":"Pending","submitted_at":"2026-12-02T11:00:00.123456","approval_url":"http://localhost:8000/api/approvals/s-1"}`}
	st, _ := approval.StateOf(md)
	if !st.Submitted() || !st.SubmittedAt.IsZero() || !st.DeadlineDerived || !st.ExpiresAt.Equal(created.Add(30*time.Minute)) || st.Supports(approval.FeatureWithdraw) {
		t.Fatalf("pending: submitted %v at %v, deadline %v derived %v, features %v", st.Submitted(), st.SubmittedAt, st.ExpiresAt, st.DeadlineDerived, st.Progress.Features)
	}
	if !st.Standing().Submitted {
		t.Fatal("the rules take the seed's approval for one not yet submitted")
	}

	md.RuntimeStatus = api.RUNTIME_STATUS_COMPLETED
	md.SerializedOutput = `{"request_id":"s-1","status":"Approved","processed_at":"2026-12-02T11:05:00.5","approver":"bob"}`
	st, _ = approval.StateOf(md)
	if st.Result == nil || st.Result.CommentsRecorded() {
		t.Fatalf("outcome %+v: comments recorded", st.Result)
	}
	b, err := json.Marshal(st.Result)
	if err != nil || strings.Contains(string(b), "comments") {
		t.Fatalf("the seed's outcome as the API shows it: %s (%v), want no comments claimed", b, err)
	}
	// Our own worker's outcome says its comments, empty ones too.
	ours := approval.Outcome{RequestID: "a-1", Status: approval.StatusApproved, Approver: "bob"}
	if b, _ := json.Marshal(ours); !ours.CommentsRecorded() || !strings.Contains(string(b), `"comments":""`) {
		t.Fatalf("our outcome: %s", b)
	}
}
