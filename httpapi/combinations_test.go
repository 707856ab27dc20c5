package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/approvals-go/approvals/httpapi"
)

// A decision retried after a lost answer, once its stage was decided and
// the next one began, is the vote recorded in that stage: answered 200,
// as a retry in its own stage is, and never raised again. Another
// decision from the same person is still refused.
func TestARetriedDecisionOfAPassedStageIsItsVote(t *testing.T) {
	e := newAPI(t)
	r := e.postJSON(t, httpapi.ApprovalsPath, map[string]any{"request_id": "retry-stage", "requester": "ana", "item": "laptops",
		"stages": []map[string]any{{"name": "manager", "approvers": []string{"bob"}, "timeout_hours": 2}, {"name": "finance", "approvers": []string{"carol"}, "timeout_hours": 2}}})
	if r.code != http.StatusAccepted {
		t.Fatalf("start = %d %s", r.code, r.raw)
	}
	e.until(t, "retry-stage", submitted)
	const path = "/api/approvals/retry-stage/decision"
	vote := map[string]any{"approved": true, "approver": "bob", "comments": "fine"}
	if d := e.postJSON(t, path, vote); d.code != http.StatusOK || d.body["stage"] != float64(2) {
		t.Fatalf("bob = %d %s", d.code, d.raw)
	}
	if d := e.postJSON(t, path, vote); d.code != http.StatusOK || d.body["status"] != "Pending" {
		t.Fatalf("bob's retry = %d %s", d.code, d.raw)
	}
	if d := e.postJSON(t, path, map[string]any{"approved": true, "approver": "BOB", "comments": "fine", "stage": 1}); d.code != http.StatusOK {
		t.Fatalf("bob's retry naming stage 1 = %d %s", d.code, d.raw)
	}
	if d := e.postJSON(t, path, map[string]any{"approved": false, "approver": "bob", "comments": "fine"}); d.code != http.StatusForbidden || d.body["reason"] != "not_an_approver" {
		t.Fatalf("bob otherwise = %d %s", d.code, d.raw)
	}
	if n := e.orch.decisions.Load(); n != 1 {
		t.Fatalf("%d decisions raised, want bob's once", n)
	}
	if d := e.postJSON(t, path, map[string]any{"approved": true, "approver": "carol"}); d.code != http.StatusOK || d.body["status"] != "Approved" {
		t.Fatalf("carol = %d %s", d.code, d.raw)
	}
	if d := e.postJSON(t, path, vote); d.code != http.StatusOK || d.body["status"] != "Approved" {
		t.Fatalf("bob's retry once approved = %d %s", d.code, d.raw)
	}
}

// A delegate may send a request back as the approver they decide for may:
// the request for changes is the approver's, made by the delegate, as a
// decision is.
func TestADelegateRequestsChangesForTheApprover(t *testing.T) {
	e := newDelegatingAPI(t, httpapi.Options{})
	e.delegate(t, "alice", "bob", time.Now().Add(time.Hour))
	r := e.postJSON(t, httpapi.ApprovalsPath, map[string]any{"request_id": "dl-changes", "requester": "ana", "item": "laptops", "timeout": "2h",
		"approvers": []string{"alice"}, "allow_changes": true})
	if r.code != http.StatusAccepted {
		t.Fatalf("start = %d %s", r.code, r.raw)
	}
	e.until(t, "dl-changes", submitted)
	d := e.postJSON(t, "/api/approvals/dl-changes/changes", map[string]any{"approver": "bob", "comments": "two orders"})
	rounds, _ := d.body["rounds"].([]any)
	if d.code != http.StatusOK || len(rounds) != 1 || rounds[0].(map[string]any)["acting_for"] != "alice" {
		t.Fatalf("bob's request for changes = %d %s", d.code, d.raw)
	}
	if d := e.postJSON(t, "/api/approvals/dl-changes/changes", map[string]any{"approver": "bob", "comments": "two orders"}); d.code != http.StatusOK {
		t.Fatalf("bob's retry = %d %s", d.code, d.raw)
	}
}
