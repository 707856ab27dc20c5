package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Under policy all, each approver's decision is answered 200 once it is
// recorded; the approval ends when the last one approves. A person decides
// once: the same decision again is answered as before, another is a 409.
func TestPolicyAllOverHTTP(t *testing.T) {
	e := newAPI(t)
	r := e.postJSON(t, "/api/approvals", map[string]any{"request_id": "all-1", "requester": "ana", "item": "car",
		"approvers": []string{"bob", "carol"}, "policy": "all", "timeout": "1h"})
	if r.code != http.StatusAccepted || r.body["policy"] != "all" || r.body["required"] != 2.0 {
		t.Fatalf("start = %d %s", r.code, r.raw)
	}
	e.until(t, "all-1", submitted)
	bob := map[string]any{"approved": true, "approver": "bob", "comments": "fine"}
	first := e.postJSON(t, "/api/approvals/all-1/decision", bob)
	if first.code != http.StatusOK || first.body["status"] != "Pending" {
		t.Fatalf("bob's decision = %d %s", first.code, first.raw)
	}
	if votes, _ := first.body["decisions"].([]any); len(votes) != 1 {
		t.Fatalf("decisions after bob = %s", first.raw)
	}
	if again := e.postJSON(t, "/api/approvals/all-1/decision", bob); again.code != http.StatusOK {
		t.Fatalf("bob again = %d %s", again.code, again.raw)
	}
	if other := e.postJSON(t, "/api/approvals/all-1/decision", map[string]any{"approved": false, "approver": "BOB"}); other.code != http.StatusConflict {
		t.Fatalf("bob changing his mind = %d %s", other.code, other.raw)
	}
	last := e.postJSON(t, "/api/approvals/all-1/decision", map[string]any{"approved": true, "approver": "carol"})
	if last.code != http.StatusOK || last.body["status"] != "Approved" {
		t.Fatalf("carol's decision = %d %s", last.code, last.raw)
	}
	if n := e.orch.decisions.Load(); n != 2 {
		t.Fatalf("%d decisions raised, want 2: repeats raise nothing", n)
	}
	// bob's decision is part of the outcome, so repeating it still says so.
	if again := e.postJSON(t, "/api/approvals/all-1/decision", bob); again.code != http.StatusOK || again.body["status"] != "Approved" {
		t.Fatalf("bob's decision after the outcome = %d %s", again.code, again.raw)
	}
}

func TestQuorumRejectsWhenUnreachable(t *testing.T) {
	e := newAPI(t)
	e.postJSON(t, "/api/approvals", map[string]any{"request_id": "q-1", "requester": "ana", "item": "car",
		"approvers": []string{"a", "b", "c"}, "policy": "quorum", "required": 2})
	e.until(t, "q-1", submitted)
	if r := e.postJSON(t, "/api/approvals/q-1/decision", map[string]any{"approved": false, "approver": "a"}); r.code != http.StatusOK || r.body["status"] != "Pending" {
		t.Fatalf("a = %d %s", r.code, r.raw)
	}
	if r := e.postJSON(t, "/api/approvals/q-1/decision", map[string]any{"approved": false, "approver": "b"}); r.code != http.StatusOK || r.body["status"] != "Rejected" {
		t.Fatalf("b = %d %s", r.code, r.raw)
	}
}

// Only the requester withdraws; a withdrawn approval takes no decision.
func TestWithdraw(t *testing.T) {
	e := newAPI(t)
	e.postJSON(t, "/api/approvals", map[string]any{"request_id": "w-1", "requester": "ana", "item": "car", "approver": "bob"})
	p := e.until(t, "w-1", submitted)
	if p.body["withdraw_uri"] != e.url+"/api/approvals/w-1/withdraw" {
		t.Fatalf("status offers no withdraw link: %s", p.raw)
	}
	if r := e.postJSON(t, "/api/approvals/w-1/withdraw", map[string]any{"requester": "bob", "reason": "mine now"}); r.code != http.StatusForbidden || r.body["reason"] != "not_the_requester" {
		t.Fatalf("withdrawal by bob = %d %s", r.code, r.raw)
	}
	if n := e.orch.decisions.Load(); n != 0 {
		t.Fatal("a refused withdrawal reached the scheduler")
	}
	r := e.postForm(t, "/api/approvals/w-1/withdraw", url.Values{"requester": {"ANA"}, "reason": {"bought one"}})
	result, _ := r.body["result"].(map[string]any)
	if r.code != http.StatusOK || r.body["status"] != "Withdrawn" || result["approver"] != "ANA" || result["comments"] != "bought one" {
		t.Fatalf("withdrawal by ana = %d %s", r.code, r.raw)
	}
	if again := e.postForm(t, "/api/approvals/w-1/withdraw", url.Values{"requester": {"ANA"}, "reason": {"bought one"}}); again.code != http.StatusOK {
		t.Fatalf("the same withdrawal again = %d %s", again.code, again.raw)
	}
	if d := e.postJSON(t, "/api/approvals/w-1/decision", map[string]any{"approved": true, "approver": "bob"}); d.code != http.StatusConflict || d.body["approval_status"] != "Withdrawn" {
		t.Fatalf("decision after withdrawal = %d %s", d.code, d.raw)
	}
}

// A callback_url the worker could not safely call is refused at the start,
// and nothing is started.
func TestCallbackURLRefused(t *testing.T) {
	e := newAPI(t)
	for _, u := range []string{
		"http://flows.example/hook", "https://127.0.0.1/hook", "https://10.1.2.3/hook", "https://169.254.169.254/metadata",
		"https://[::1]/hook", "https://[fd00:ec2::254]/", "ftp://flows.example/", "hook",
	} {
		r := e.postJSON(t, "/api/approvals", map[string]any{"requester": "ana", "item": "car", "callback_url": u})
		if r.code != http.StatusBadRequest || r.body["field"] != "callback_url" {
			t.Errorf("callback_url %s = %d %s", u, r.code, r.raw)
		}
	}
	if n := e.orch.starts.Load(); n != 0 {
		t.Fatalf("%d refused starts reached the scheduler", n)
	}
	ok := e.postJSON(t, "/api/approvals", map[string]any{"requester": "ana", "item": "car", "callback_url": "https://flows.example/hook?sig=s3cr3t"})
	if ok.code != http.StatusAccepted || ok.body["callback"] != true {
		t.Fatalf("a public https callback = %d %s", ok.code, ok.raw)
	}
	if strings.Contains(ok.raw, "s3cr3t") {
		t.Fatalf("the status shows the callback URL, which may hold a secret: %s", ok.raw)
	}
}
