package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/approvals-go/approvals/internal/browsertest"
)

// bulkCall sends a bulk call through the SubmitBulkDecisions function's
// route and returns its per-item answers, in order.
func (s *stack) bulkCall(body map[string]any) []map[string]any {
	s.t.Helper()
	code, _, out := s.call("SubmitBulkDecisions", "", body)
	if code != http.StatusOK {
		s.t.Fatalf("bulk call = %d %v", code, out)
	}
	list, _ := out["results"].([]any)
	res := make([]map[string]any, len(list))
	for i, v := range list {
		res[i], _ = v.(map[string]any)
	}
	return res
}

// Issue 20, item 5, across the real processes: bob decides six requests in
// one call. The two that wait for him end Approved; one he is not an
// approver of and one he requested himself are 403, one carol decided
// already 409, an unknown id 404, each with its own problem and its key
// echoed. The call sent again (a retry after a lost answer) answers the
// same.
func TestBulkDecisionsAcrossProcesses(t *testing.T) {
	s := newStack(t)
	s.startApproval("bulk-a", map[string]any{"approver": "bob"})
	s.startApproval("bulk-b", map[string]any{"approvers": []string{"bob", "dave"}})
	s.startApproval("bulk-carol", map[string]any{"approver": "carol"})
	s.startApproval("bulk-own", map[string]any{"requester": "bob", "approver": "carol"})
	s.startApproval("bulk-taken", map[string]any{"approvers": []string{"bob", "carol"}})
	for _, id := range []string{"bulk-a", "bulk-b", "bulk-carol", "bulk-own", "bulk-taken"} {
		s.waitSubmitted(id)
	}
	if code, _, out := s.call("SubmitDecision", "bulk-taken", map[string]any{"approved": false, "approver": "carol"}); code != http.StatusOK {
		t.Fatalf("carol's decision = %d %v", code, out)
	}

	want := []struct {
		id, key string
		status  int
		reason  string
	}{
		{"bulk-a", "key-a", http.StatusOK, ""},
		{"bulk-b", "key-b", http.StatusOK, ""},
		{"bulk-carol", "key-carol", http.StatusForbidden, "not_an_approver"},
		{"bulk-own", "key-own", http.StatusForbidden, "self_decision"},
		{"bulk-taken", "key-taken", http.StatusConflict, ""},
		{"bulk-unknown", "key-unknown", http.StatusNotFound, ""},
	}
	var items []any
	for _, w := range want {
		items = append(items, map[string]any{"id": w.id, "approved": true, "comments": "in bulk", "idempotency_key": w.key})
	}
	call := map[string]any{"approver": "bob", "items": items}
	began := time.Now()
	first := s.bulkCall(call)
	t.Logf("a bulk call of %d items answered in %s", len(items), time.Since(began).Round(time.Millisecond))
	if len(first) != len(want) {
		t.Fatalf("%d answers for %d items: %v", len(first), len(want), first)
	}
	for i, w := range want {
		got := first[i]
		body, _ := got["body"].(map[string]any)
		if got["id"] != w.id || got["idempotency_key"] != w.key || got["status"] != float64(w.status) {
			t.Errorf("item %d = %v, want %s %s %d", i+1, got, w.id, w.key, w.status)
		}
		if w.reason != "" && body["reason"] != w.reason {
			t.Errorf("item %d (%s): reason %v, want %s", i+1, w.id, body["reason"], w.reason)
		}
	}
	if body, _ := first[4]["body"].(map[string]any); body["approval_status"] != "Rejected" {
		t.Errorf("the already-decided item's problem: %v, want the outcome that stands", body)
	}
	for _, id := range []string{"bulk-a", "bulk-b"} {
		out := s.outcome(id, 20*time.Second)
		if result, _ := out["result"].(map[string]any); out["status"] != "Approved" || result["approver"] != "bob" {
			t.Errorf("%s ended %v", id, out)
		}
	}
	for _, id := range []string{"bulk-carol", "bulk-own"} {
		if code, _, out := s.call("GetApproval", id, nil); code != http.StatusAccepted {
			t.Errorf("%s after a refused item = %d %v, want still pending", id, code, out)
		}
	}

	again := s.bulkCall(call)
	for i := range first {
		if again[i]["status"] != first[i]["status"] || again[i]["idempotency_key"] != first[i]["idempotency_key"] {
			t.Errorf("item %d: the retried call answered %v, the first %v", i+1, again[i], first[i])
		}
	}
}

// With no worker running, a bulk call's items are delivered and answered
// 202 (outcome not known yet), and the items share one wait for outcomes
// (APPROVALS_DECISION_WAIT, 1 s here) instead of waiting a second each in
// turn: forty items, five turns of eight, answer well within the five
// seconds that waits one after another would take. Sent again once a
// worker runs, the same call answers 200 for every item.
func TestBulkWithoutWorker(t *testing.T) {
	s := newStack(t)
	var items []any
	for i := range 40 {
		id := fmt.Sprintf("bulk-idle-%d", i)
		s.startApproval(id, map[string]any{"approver": "bob"})
		s.waitSubmitted(id)
		items = append(items, map[string]any{"id": id, "approved": true, "idempotency_key": "k-" + id})
	}
	s.worker.stop(t, syscall.SIGKILL)
	call := map[string]any{"approver": "bob", "items": items}
	began := time.Now()
	first := s.bulkCall(call)
	took := time.Since(began)
	t.Logf("40 items with no worker answered in %s", took.Round(time.Millisecond))
	for i, got := range first {
		if got["status"] != float64(http.StatusAccepted) {
			t.Fatalf("item %d with no worker = %v, want 202", i+1, got)
		}
	}
	if took > 4*time.Second {
		t.Errorf("40 items with no worker took %s: their waits for outcomes were not shared", took)
	}
	s.startWorker()
	for _, it := range items {
		s.outcome(it.(map[string]any)["id"].(string), 30*time.Second)
	}
	for i, got := range s.bulkCall(call) {
		if got["status"] != float64(http.StatusOK) {
			t.Errorf("item %d sent again with a worker = %v, want 200", i+1, got)
		}
	}
}

// The inbox's bulk form in Chromium, on the handler process: bob ticks
// two of the three requests waiting for him, approves them with one
// comment, and sees both decided; the third still waits. "Select all"
// works without a script. The inbox, with its form and with the
// results, passes axe-core on a desktop and on a phone.
func TestInboxBulkInABrowser(t *testing.T) {
	s := newStack(t)
	for _, id := range []string{"inbox-1", "inbox-2", "inbox-3"} {
		s.startApproval(id, map[string]any{"approver": "bob", "item": "Laptop " + id})
		s.waitSubmitted(id)
	}
	ctx := browserTab(t)
	inbox := s.url("/api/review?" + url.Values{"approver": {"bob"}}.Encode())
	for _, size := range browsertest.Sizes {
		browsertest.Do(t, ctx, chromedp.EmulateViewport(size.Width, size.Height), chromedp.Navigate(inbox))
		browsertest.Axe(t, ctx, "the inbox with its bulk form ("+size.Name+")")
	}
	checked := func() int {
		return browsertest.Run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('input.pick:checked').length`))
	}
	browsertest.Do(t, ctx, chromedp.Navigate(inbox))
	browsertest.Click(t, ctx, ".bulk-select a")
	if n := checked(); n != 3 {
		t.Fatalf("after Select all, %d rows are ticked, want 3", n)
	}
	browsertest.Click(t, ctx, ".bulk-select a")
	if n := checked(); n != 0 {
		t.Fatalf("after Clear selection, %d rows are ticked", n)
	}

	// On a phone: two ticked, approved with one comment.
	phone := browsertest.Sizes[1]
	browsertest.Do(t, ctx, chromedp.EmulateViewport(phone.Width, phone.Height), chromedp.Navigate(inbox),
		chromedp.Click(chromedp.CSS(`input.pick[value="inbox-1"]`)),
		chromedp.Click(chromedp.CSS(`input.pick[value="inbox-3"]`)),
		chromedp.SendKeys(chromedp.ID("bulk-comments"), "Both within budget"))
	browsertest.Click(t, ctx, ".bulk .btn-approve")
	if got := browsertest.Text(t, ctx, "#results-title"); got != "2 of 2 decided" {
		t.Fatalf("the results say %q", got)
	}
	results := browsertest.Text(t, ctx, ".results")
	for _, want := range []string{"Laptop inbox-1", "Laptop inbox-3", "Approved."} {
		if !strings.Contains(results, want) {
			t.Errorf("the results do not show %q:\n%s", want, results)
		}
	}
	if rows := browsertest.Text(t, ctx, "#bulk .list"); !strings.Contains(rows, "Laptop inbox-2") || strings.Contains(rows, "inbox-1") {
		t.Errorf("after deciding, the inbox lists:\n%s", rows)
	}
	browsertest.Axe(t, ctx, "the inbox with bulk results ("+phone.Name+")")
	for _, id := range []string{"inbox-1", "inbox-3"} {
		out := s.outcome(id, 20*time.Second)
		if result, _ := out["result"].(map[string]any); out["status"] != "Approved" || result["comments"] != "Both within budget" {
			t.Errorf("%s ended %v", id, out)
		}
	}
	if code, _, _ := s.call("GetApproval", "inbox-2", nil); code != http.StatusAccepted {
		t.Errorf("inbox-2, not ticked, = %d, want still pending", code)
	}

	// On a desktop: the one left, rejected.
	desktop := browsertest.Sizes[0]
	browsertest.Do(t, ctx, chromedp.EmulateViewport(desktop.Width, desktop.Height), chromedp.Navigate(inbox),
		chromedp.Click(chromedp.CSS(`input.pick[value="inbox-2"]`)))
	browsertest.Click(t, ctx, ".bulk .btn-reject")
	if got := browsertest.Text(t, ctx, "#results-title"); got != "1 of 1 decided" {
		t.Fatalf("the results say %q", got)
	}
	browsertest.Axe(t, ctx, "the inbox with bulk results ("+desktop.Name+")")
	if out := s.outcome("inbox-2", 20*time.Second); out["status"] != "Rejected" {
		t.Errorf("inbox-2 ended %v", out)
	}
}
