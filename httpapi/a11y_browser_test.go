package httpapi_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/microsoft/durabletask-go/api"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/internal/browsertest"
)

// Every page a person meets passes axe-core with no violation, on a
// desktop and on a phone: pending with its form, the signed link's confirm
// step, a vote recorded under policy all, decided, the withdraw confirm
// step, withdrawn, terminated, the inbox, and the error pages (not found,
// and the inbox refused with signed links).
func TestAxeEveryPage(t *testing.T) {
	plain := newAPI(t)
	plain.startFor(t, "axe-pending", "Laptop for the new designer", "bob")
	plain.startFor(t, "axe-decided", "Standing desk", "bob")
	if r := plain.postJSON(t, "/api/approvals/axe-decided/decision", map[string]any{"approved": true, "approver": "bob", "comments": "Within budget."}); r.code != http.StatusOK {
		t.Fatalf("decide = %d %s", r.code, r.raw)
	}
	plain.until(t, "axe-decided", finished)
	plain.startAll(t, "axe-voted")
	if r := plain.postForm(t, "/api/review/axe-voted", url.Values{"approved": {"true"}, "approver": {"bob"}}); r.code != http.StatusOK {
		t.Fatalf("bob's vote = %d %s", r.code, r.raw)
	}

	plain.startFor(t, "axe-withdrawn", "Second monitor", "bob")
	if r := plain.postForm(t, "/api/review/axe-withdrawn", url.Values{"action": {"withdraw"}, "requester": {"ana"}, "reason": {"Bought one."}}); r.code != http.StatusOK {
		t.Fatalf("ana's withdrawal = %d %s", r.code, r.raw)
	}

	plain.startFor(t, "axe-terminated", "Chair", "bob")
	if err := plain.client.TerminateOrchestration(t.Context(), "axe-terminated", api.WithOutput("Duplicate")); err != nil {
		t.Fatal(err)
	}
	plain.until(t, "axe-terminated", finished)

	signed := newSignedAPI(t)
	signed.startFor(t, "axe-signed", "Conference trip", "carol")

	pages := []axePage{
		{"pending", plain.url + approval.ReviewPath + "/axe-pending"},
		{"decided", plain.url + approval.ReviewPath + "/axe-decided"},
		{"vote recorded", plain.url + approval.ReviewPath + "/axe-voted?notice=recorded"},
		{"withdraw confirm", plain.url + approval.ReviewPath + "/axe-pending?withdraw=confirm"},
		{"withdrawn", plain.url + approval.ReviewPath + "/axe-withdrawn"},
		{"terminated", plain.url + approval.ReviewPath + "/axe-terminated"},
		{"inbox", plain.url + approval.ReviewPath + "?approver=bob"},
		{"inbox, nothing waiting", plain.url + approval.ReviewPath + "?approver=nobody&status=Pending"},
		{"not found", plain.url + approval.ReviewPath + "/no-such-approval"},
		{"confirm (signed link)", signed.notices.link(t, "axe-signed", "carol")},
		{"inbox refused (signed links)", signed.url + approval.ReviewPath},
	}
	axePages(t, pages)
}

// axePage is a page to check, by the name a failure shows.
type axePage struct{ name, url string }

// axePages runs axe-core on every page, at every size.
func axePages(t *testing.T, pages []axePage) {
	t.Helper()
	for _, size := range browsertest.Sizes {
		t.Run(size.Name, func(t *testing.T) {
			ctx := tab(t, size.Width, size.Height)
			for _, p := range pages {
				browsertest.Do(t, ctx, chromedp.Navigate(p.url))
				browsertest.Axe(t, ctx, p.name+" ("+size.Name+")")
			}
		})
	}
}
