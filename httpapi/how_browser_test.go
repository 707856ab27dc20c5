package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/httpapi"
	"github.com/approvals-go/approvals/internal/browsertest"
)

// The review page says beside each decision how it came and how its
// sender was known, as the audit records them: bob by his signed link on
// the page, carol in a bulk decision, dan through the API with a typed
// name; the outcome says it of dan's, which settled it.
func TestBrowserShowsHowEachDecisionCame(t *testing.T) {
	e := newSignedAPI(t)
	const id = "how-page"
	if r := e.postJSON(t, httpapi.ApprovalsPath, map[string]any{"request_id": id, "requester": "ana", "item": "Team offsite",
		"approvers": []string{"bob", "carol", "dan"}, "policy": "all", "timeout": "2h"}); r.code != http.StatusAccepted {
		t.Fatalf("start = %d %s", r.code, r.raw)
	}
	e.until(t, id, submitted)
	ctx := tab(t, 1280, 1000)
	browsertest.Do(t, ctx, chromedp.Navigate(e.notices.link(t, id, "bob")))
	browsertest.Click(t, ctx, ".btn-approve")
	e.until(t, id, func(r response) bool { d, _ := r.body["decisions"].([]any); return len(d) == 1 })
	bulk := results(t, e.postJSON(t, httpapi.BulkDecisionPath, map[string]any{"approver": "carol", "items": []any{bulkItem(id, "k-how", true)}}))
	if len(bulk) != 1 || bulk[0]["status"] != float64(http.StatusOK) {
		t.Fatalf("carol in bulk: %v", bulk)
	}
	if r := e.postJSON(t, "/api/approvals/"+id+"/decision", map[string]any{"approved": true, "approver": "dan"}); r.code != http.StatusOK {
		t.Fatalf("dan = %d %s", r.code, r.raw)
	}
	e.until(t, id, finished)

	browsertest.Do(t, ctx, chromedp.Navigate(e.url+approval.ReviewPath+"/"+id))
	got := browsertest.Run(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('.vote-list li')].map(li => li.querySelector('.vote-how')?.textContent ?? '')`))
	want := []string{"on the review page, by signed link", "in a bulk decision, by a name typed in, not verified", "through the API, by a name typed in, not verified"}
	if len(got) != len(want) {
		t.Fatalf("the page shows %q beside the decisions, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("the page shows %q beside the decisions, want %q", got, want)
		}
	}
	if got := browsertest.Text(t, ctx, ".outcome-how"); got != want[2] {
		t.Fatalf("the outcome says %q", got)
	}
	browsertest.Axe(t, ctx, "the decisions with how each came")
}
