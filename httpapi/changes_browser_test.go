package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/httpapi"
	"github.com/approvals-go/approvals/internal/browsertest"
)

// On the review page an approver sends a two-stage request back with a
// comment (the form will not post without one), its requester edits the
// item and resubmits it, and the page shows the stages and the round;
// the stage's approver then approves, and the next stage's too.
func TestBrowserRequestChangesAndResubmit(t *testing.T) {
	e := newAPI(t)
	r := e.postJSON(t, httpapi.ApprovalsPath, map[string]any{"request_id": "rounds-page", "requester": "ana", "item": "Laptop",
		"stages": []map[string]any{{"name": "manager", "approvers": []string{"bob"}}, {"name": "finance", "approvers": []string{"carol"}}}})
	if r.code != http.StatusAccepted {
		t.Fatalf("start = %d %s", r.code, r.raw)
	}
	e.until(t, "rounds-page", submitted)
	page := e.url + approval.ReviewPath + "/rounds-page"
	ctx := tab(t, 1280, 1200)
	browsertest.Do(t, ctx, chromedp.Navigate(page))
	if got := browsertest.Text(t, ctx, ".stages"); !strings.Contains(got, "manager Pending") || !strings.Contains(got, "finance Not started") {
		t.Fatalf("stages shown: %q", got)
	}
	browsertest.Axe(t, ctx, "a stage with the request-changes form")
	// Without a comment the browser does not post the form.
	browsertest.Do(t, ctx, chromedp.SendKeys(chromedp.ID("changes-approver"), "bob"))
	if browsertest.Run(t, ctx, chromedp.Evaluate[bool](`document.querySelector("form.changes").checkValidity()`)) {
		t.Fatal("the request for changes may be posted without a comment")
	}
	browsertest.Do(t, ctx, chromedp.SendKeys(chromedp.ID("changes-comments"), "Which model?"))
	browsertest.Click(t, ctx, ".btn-changes")
	e.until(t, "rounds-page", func(r response) bool { return r.body["changes_requested"] == true })
	browsertest.Do(t, ctx, chromedp.Navigate(page))
	if got := browsertest.Text(t, ctx, ".changes-requested"); !strings.Contains(got, "bob") || !strings.Contains(got, "Which model?") {
		t.Fatalf("the page does not say changes were requested: %q", got)
	}
	if n := buttons(t, ctx); n != 0 {
		t.Fatalf("%d decision buttons while changes are requested", n)
	}
	browsertest.Axe(t, ctx, "changes requested, with the resubmit form")
	// The requester's inbox lists it, sent back.
	browsertest.Do(t, ctx, chromedp.Navigate(e.url+approval.ReviewPath+"?status=Pending&approver=ana"))
	if got := browsertest.Text(t, ctx, ".list"); !strings.Contains(got, "Stage 1 of 2") || !strings.Contains(got, "Changes requested") {
		t.Fatalf("the requester's inbox: %q", got)
	}
	browsertest.Do(t, ctx, chromedp.Navigate(page))
	browsertest.Do(t, ctx,
		chromedp.SendKeys(chromedp.ID("resubmit-requester"), "ana"),
		chromedp.SetValue(chromedp.ID("resubmit-item"), "Laptop, 14 inch"),
		chromedp.SendKeys(chromedp.ID("resubmit-comments"), "The small one"),
	)
	browsertest.Click(t, ctx, ".btn-resubmit")
	e.until(t, "rounds-page", func(r response) bool { return r.body["round"] == float64(2) })
	browsertest.Do(t, ctx, chromedp.Navigate(page))
	if got := browsertest.Text(t, ctx, "#item"); got != "Laptop, 14 inch" {
		t.Fatalf("item shown = %q", got)
	}
	if got := browsertest.Text(t, ctx, ".rounds"); !strings.Contains(got, "Which model?") || !strings.Contains(got, "Laptop, 14 inch") || !strings.Contains(got, "The small one") {
		t.Fatalf("rounds shown: %q", got)
	}
	if got := browsertest.Text(t, ctx, ".rounds"); strings.Count(got, "on the review page, by a name typed in, not verified") != 2 {
		t.Fatalf("the round does not say how the request for changes and the resubmission came: %q", got)
	}
	browsertest.Do(t, ctx, chromedp.SendKeys(chromedp.ID("approver"), "bob"))
	browsertest.Click(t, ctx, ".btn-approve")
	e.until(t, "rounds-page", func(r response) bool { return r.body["stage"] == float64(2) })
	browsertest.Do(t, ctx, chromedp.Navigate(page))
	browsertest.Do(t, ctx, chromedp.SendKeys(chromedp.ID("approver"), "carol"))
	browsertest.Click(t, ctx, ".btn-approve")
	f := e.until(t, "rounds-page", finished)
	if f.body["status"] != "Approved" {
		t.Fatalf("recorded %s", f.raw)
	}
	browsertest.Do(t, ctx, chromedp.Navigate(page))
	if got := browsertest.Text(t, ctx, ".stages"); !strings.Contains(got, "manager Approved") || !strings.Contains(got, "finance Approved") {
		t.Fatalf("stages shown at the end: %q", got)
	}
}
