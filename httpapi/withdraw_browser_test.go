package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/config"
	"github.com/approvals-go/approvals/httpapi"
	"github.com/approvals-go/approvals/internal/browsertest"
)

// signInTab makes every request of the tab carry who's principal, as App
// Service Authentication's proxy adds it.
func signInTab(t *testing.T, ctx context.Context, who string) {
	t.Helper()
	headers := network.Headers{}
	for k, v := range signedIn(who) {
		headers[k] = v[0]
	}
	for _, err := range []error{
		call(ctx, network.Enable, network.EnableParams{}),
		call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: headers}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// count is how many elements of the open page sel selects.
func count(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	return browsertest.Run(t, ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
}

const (
	withdrawOffer   = `a[href*="withdraw=confirm"]`
	withdrawConfirm = `button[name="action"][value="withdraw"]`
)

// withdrawInBrowser withdraws approval id as the open tab's viewer, the
// requester, whose review page it shows: the offer leads to a confirm
// step and withdraws nothing; the confirm step's button does, with the
// reason typed, and the browser is back on the page, which shows the
// withdrawal. typed is the name to type, when the page asks for one.
func withdrawInBrowser(t *testing.T, ctx context.Context, e *apiEnv, id, typed string) {
	t.Helper()
	page := e.url + approval.ReviewPath + "/" + id
	browsertest.Click(t, ctx, withdrawOffer)
	if got := browsertest.Text(t, ctx, "#withdraw-title"); got != "Withdraw this request?" {
		t.Fatalf("the confirm step says %q", got)
	}
	if n := buttons(t, ctx); n != 0 {
		t.Fatalf("the confirm step shows %d decision buttons", n)
	}
	if n := e.orch.decisions.Load(); n != 0 {
		t.Fatalf("the offer alone raised %d events", n)
	}
	if typed != "" {
		browsertest.Do(t, ctx, chromedp.SendKeys(chromedp.ID("requester"), typed))
	}
	browsertest.Do(t, ctx, chromedp.SendKeys(chromedp.ID("reason"), "Bought one with the team's budget."))
	browsertest.Click(t, ctx, withdrawConfirm)

	if loc := browsertest.Run(t, ctx, chromedp.Location()); loc != page {
		t.Fatalf("after withdrawing the browser is at %s", loc)
	}
	if got := browsertest.Text(t, ctx, ".badge"); got != "Withdrawn" {
		t.Fatalf("badge = %q", got)
	}
	if got := browsertest.Text(t, ctx, "#outcome-title"); got != "Withdrawn by ana" {
		t.Fatalf("outcome = %q", got)
	}
	if got := browsertest.Text(t, ctx, ".comments"); got != "Bought one with the team's budget." {
		t.Fatalf("reason = %q", got)
	}
	if n := count(t, ctx, withdrawOffer) + buttons(t, ctx); n != 0 {
		t.Fatalf("a withdrawn approval offers %d withdrawals or decisions", n)
	}
	if f := e.until(t, id, finished); f.body["status"] != "Withdrawn" {
		t.Fatalf("recorded %s", f.raw)
	}
	if n := e.orch.decisions.Load(); n != 1 {
		t.Fatalf("%d events raised, want 1", n)
	}
}

// Issue 18, item 10: the requester withdraws from the review page, on a
// phone, and sees the outcome; the confirm step is clean for axe-core.
// Signed in, ana is offered the withdrawal and no decision she cannot
// make, while bob, an approver, is offered his decision and no
// withdrawal. In the development identity mode the page cannot tell who
// is looking, says so, and takes the name typed.
func TestBrowserWithdraw(t *testing.T) {
	t.Run("signed in", func(t *testing.T) {
		e := newAPIWith(t, httpapi.Options{Identity: config.IdentityAppService})
		e.startFor(t, "wd-in", "Second monitor", "bob")
		page := e.url + approval.ReviewPath + "/wd-in"

		bob := tab(t, 390, 844)
		signInTab(t, bob, "bob")
		browsertest.Do(t, bob, chromedp.Navigate(page))
		if n := count(t, bob, withdrawOffer); n != 0 || buttons(t, bob) != 2 {
			t.Fatalf("bob's page: %d withdraw offers, %d decision buttons", n, buttons(t, bob))
		}

		ana := tab(t, 390, 844)
		signInTab(t, ana, "ana")
		browsertest.Do(t, ana, chromedp.Navigate(page))
		if n := buttons(t, ana); n != 0 {
			t.Fatalf("ana, the requester, is offered %d decision buttons", n)
		}
		if got := browsertest.Text(t, ana, ".alert-info"); got != "You requested this, so someone else must decide it." {
			t.Fatalf("ana's page says %q", got)
		}
		browsertest.Axe(t, ana, "the requester's page (signed in)")
		browsertest.Do(t, ana, chromedp.Navigate(page+"?withdraw=confirm"))
		if got := browsertest.Text(t, ana, ".withdraw .as"); got != "You are withdrawing it as ana, its requester." {
			t.Fatalf("the confirm step says %q", got)
		}
		browsertest.Axe(t, ana, "withdraw confirm (signed in)")
		browsertest.Do(t, ana, chromedp.Navigate(page))
		withdrawInBrowser(t, ana, e, "wd-in", "")

		// Bob, opening his page now, finds it withdrawn.
		browsertest.Do(t, bob, chromedp.Navigate(page))
		if got := browsertest.Text(t, bob, "#outcome-title"); got != "Withdrawn by ana" || buttons(t, bob) != 0 {
			t.Fatalf("bob's page after the withdrawal: %q, %d buttons", got, buttons(t, bob))
		}
	})

	t.Run("typed name", func(t *testing.T) {
		e := newAPI(t)
		e.startFor(t, "wd-dev", "Second monitor", "bob")
		ctx := tab(t, 390, 844)
		browsertest.Do(t, ctx, chromedp.Navigate(e.url+approval.ReviewPath+"/wd-dev"))
		if got := browsertest.Text(t, ctx, ".withdraw-offer"); !strings.Contains(got, "cannot tell who you are") {
			t.Fatalf("the offer does not say the page cannot tell who is looking: %q", got)
		}
		// A name that is not the requester's is refused, and the confirm
		// step comes back with the reason and what was typed.
		browsertest.Click(t, ctx, withdrawOffer)
		browsertest.Do(t, ctx, chromedp.SendKeys(chromedp.ID("requester"), "bob"))
		browsertest.Click(t, ctx, withdrawConfirm)
		if got := browsertest.Text(t, ctx, ".alert-error"); !strings.Contains(got, "Your withdrawal was not recorded.") || !strings.Contains(got, "only its requester may withdraw") {
			t.Fatalf("bob's withdrawal is answered %q", got)
		}
		if e.orch.decisions.Load() != 0 || count(t, ctx, withdrawConfirm) != 1 {
			t.Fatal("a refused withdrawal raised an event, or the confirm step is gone")
		}
		browsertest.Do(t, ctx, chromedp.Navigate(e.url+approval.ReviewPath+"/wd-dev"))
		withdrawInBrowser(t, ctx, e, "wd-dev", "ana")
	})
}

// Every text of the people's pages can be read, at least 4.5:1 against
// what is behind it: pending, decided, withdrawn, the withdraw offer and
// its confirm step, the inbox and an error page. The named elements are checked by name, so that the
// test cannot pass by finding none of them.
func TestBrowserPagesTextContrast(t *testing.T) {
	e := newAPI(t)
	e.startFor(t, "tc-pending", "Laptop for the new designer", "bob")
	e.startFor(t, "tc-decided", "Standing desk", "bob")
	if r := e.postJSON(t, "/api/approvals/tc-decided/decision", map[string]any{"approved": false, "approver": "bob", "comments": "Over budget."}); r.code != http.StatusOK {
		t.Fatalf("decide = %d %s", r.code, r.raw)
	}
	e.startFor(t, "tc-withdrawn", "Conference trip", "bob")
	if r := e.postForm(t, "/api/review/tc-withdrawn", url.Values{"action": {"withdraw"}, "requester": {"ana"}, "reason": {"Cancelled."}}); r.code != http.StatusOK {
		t.Fatalf("withdraw = %d %s", r.code, r.raw)
	}
	review := e.url + approval.ReviewPath + "/"
	pages := []struct {
		name, url string
		named     []string
	}{
		{"pending", review + "tc-pending", []string{".eyebrow", "dt", ".hint", ".btn-approve", ".btn-reject", ".withdraw-offer h2", ".withdraw-offer p", ".withdraw-offer .btn"}},
		{"withdraw confirm", review + "tc-pending?withdraw=confirm", []string{".withdraw h2", ".withdraw p", ".withdraw label", ".withdraw .hint", ".btn-danger", ".btn-quiet"}},
		{"decided", review + "tc-decided", []string{".outcome h2", ".outcome .muted", ".comments"}},
		{"withdrawn", review + "tc-withdrawn", []string{".badge", ".outcome h2", ".outcome p", ".comments"}},
		{"inbox", e.url + approval.ReviewPath + "?approver=bob", []string{".row .item", ".row .meta"}},
		{"not found", review + "no-such-approval", []string{"h1"}},
	}
	ctx := tab(t, 1280, 900)
	var bad []string
	for _, p := range pages {
		browsertest.Do(t, ctx, chromedp.Navigate(p.url))
		texts := browsertest.Run(t, ctx, browsertest.TextColours(""))
		if len(texts) < 5 {
			t.Fatalf("%s: only %d texts found", p.name, len(texts))
		}
		for _, sel := range p.named {
			if len(browsertest.Run(t, ctx, browsertest.TextColours(sel))) == 0 {
				t.Fatalf("%s: no text in %s to check", p.name, sel)
			}
		}
		for _, x := range texts {
			if r := browsertest.Contrast(t, x.Fg, x.Bg); r < browsertest.MinContrast {
				bad = append(bad, fmt.Sprintf("%s: %s %q: %.2f:1 (%s on %s, %s)", p.name, x.El, x.Text, r, x.Fg, x.Bg, x.Size))
			}
		}
	}
	if len(bad) > 0 {
		t.Fatalf("%d texts under %.1f:1:\n%s", len(bad), browsertest.MinContrast, strings.Join(bad, "\n"))
	}
}
