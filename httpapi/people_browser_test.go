package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/config"
	"github.com/approvals-go/approvals/httpapi"
	"github.com/approvals-go/approvals/internal/browsertest"
)

// newSignedAPI is the API with a link key: the notices carry signed links.
func newSignedAPI(t *testing.T) *apiEnv {
	t.Helper()
	return newAPIWith(t, httpapi.Options{Links: testSigner(t)})
}

// call sends one protocol command to the tab.
func call[P, R any](ctx context.Context, cmd cdp.Command[P, R], params P) error {
	_, err := chromedp.Call(ctx, cmd, params)
	return err
}

// pageLinks are the addresses the links of the open page lead to.
func pageLinks(t *testing.T, ctx context.Context) []string {
	t.Helper()
	return browsertest.Run(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("a[href]")].map(a => a.href)`))
}

// noDeadEnd fails if the open page is one an approver cannot act on: a
// refusal that speaks of configuration, or whose only way on leads back
// to itself.
func noDeadEnd(t *testing.T, ctx context.Context, where string) {
	t.Helper()
	text := browsertest.Text(t, ctx, "body")
	if strings.Contains(text, "APPROVALS_") || strings.Contains(text, "appservice") {
		t.Errorf("%s shows configuration to an approver:\n%s", where, text)
	}
	here := browsertest.Run(t, ctx, chromedp.Location())
	for _, link := range pageLinks(t, ctx) {
		if link == here && !strings.Contains(link, "#") {
			t.Errorf("%s links to itself: %s", where, link)
		}
	}
}

// Issue 18, item 6: with a link key set, an approver who opens their
// signed link never meets a dead end. Every link on their page, before
// and after deciding, leads somewhere they can use, and the inbox, if
// they find its address anyway, says what to do in words, not
// APPROVALS_IDENTITY=appservice, and does not lead back to itself.
func TestBrowserSignedLinkNoDeadEnd(t *testing.T) {
	e := newSignedAPI(t)
	e.startFor(t, "nav-1", "Conference trip", "bob")
	link := e.notices.link(t, "nav-1", "bob")
	ctx := tab(t, 390, 844)

	follow := func(when string) {
		t.Helper()
		page := browsertest.Run(t, ctx, chromedp.Location())
		noDeadEnd(t, ctx, "the page "+when)
		for _, to := range pageLinks(t, ctx) {
			if strings.HasPrefix(to, page+"#") {
				continue // the skip link, and the brand without an inbox
			}
			browsertest.Do(t, ctx, chromedp.Navigate(to))
			noDeadEnd(t, ctx, to+", linked from the page "+when)
			browsertest.Do(t, ctx, chromedp.Navigate(page))
		}
	}
	browsertest.Do(t, ctx, chromedp.Navigate(link))
	follow("before deciding")
	browsertest.Click(t, ctx, ".btn-approve")
	if got := browsertest.Text(t, ctx, "#outcome-title"); got != "Approved by bob" {
		t.Fatalf("outcome = %q", got)
	}
	follow("after deciding")

	browsertest.Do(t, ctx, chromedp.Navigate(e.url+approval.ReviewPath))
	noDeadEnd(t, ctx, "the inbox")
	if text := browsertest.Text(t, ctx, "main"); !strings.Contains(text, "link you were sent") {
		t.Errorf("the inbox does not say how to reach a request:\n%s", text)
	}
}

// Issue 18, item 7: under policy all, after bob approves, his page says
// his vote is recorded and who is still to decide, and offers him no
// form; his inbox no longer lists the request, carol's still does. By
// signed link, and signed in (App Service Authentication's headers, as
// its proxy would add them).
func TestBrowserVoteAcknowledged(t *testing.T) {
	acknowledged := func(t *testing.T, ctx context.Context) {
		t.Helper()
		// Right after the vote the page says "The decision is recorded";
		// opened again by him, "Your decision is recorded: you approved".
		if got := browsertest.Text(t, ctx, ".alert-info"); !strings.Contains(got, "decision is recorded") || !strings.HasSuffix(got, "Still to decide: carol.") {
			t.Errorf("after bob's vote the page says %q", got)
		}
		if n := buttons(t, ctx); n != 0 {
			t.Errorf("after his vote bob is offered %d decision buttons", n)
		}
		if got := browsertest.Text(t, ctx, ".badge"); got != "Pending" {
			t.Errorf("badge = %q", got)
		}
	}
	start := func(t *testing.T, e *apiEnv, id string) {
		t.Helper()
		r := e.postJSON(t, httpapi.ApprovalsPath, map[string]any{"request_id": id, "requester": "ana", "item": "Team offsite",
			"approvers": []string{"bob", "carol"}, "policy": "all", "timeout": "2h"})
		if r.code != http.StatusAccepted {
			t.Fatalf("start = %d %s", r.code, r.raw)
		}
		e.until(t, id, submitted)
	}

	t.Run("signed link", func(t *testing.T) {
		e := newSignedAPI(t)
		start(t, e, "ack-link")
		ctx := tab(t, 390, 844)
		browsertest.Do(t, ctx, chromedp.Navigate(e.notices.link(t, "ack-link", "bob")))
		browsertest.Click(t, ctx, ".btn-approve")
		acknowledged(t, ctx)
		// Opened again, the link still knows him.
		browsertest.Do(t, ctx, chromedp.Navigate(e.notices.link(t, "ack-link", "bob")))
		acknowledged(t, ctx)
	})

	t.Run("signed in", func(t *testing.T) {
		e := newAPIWith(t, httpapi.Options{Identity: config.IdentityAppService})
		start(t, e, "ack-signin")
		inbox := func(ctx context.Context) []string {
			browsertest.Do(t, ctx, chromedp.Navigate(e.url+approval.ReviewPath))
			return browsertest.Run(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('.row .item')].map(a => a.textContent)`))
		}
		bob := tab(t, 1280, 900)
		signInTab(t, bob, "bob")
		if items := inbox(bob); len(items) != 1 || items[0] != "Team offsite" {
			t.Fatalf("before his vote bob's inbox lists %q", items)
		}
		browsertest.Click(t, bob, ".row .item")
		browsertest.Click(t, bob, ".btn-approve")
		acknowledged(t, bob)
		if items := inbox(bob); len(items) != 0 {
			t.Errorf("after his vote bob's inbox still lists %q", items)
		}
		carol := tab(t, 1280, 900)
		signInTab(t, carol, "carol")
		if items := inbox(carol); len(items) != 1 {
			t.Errorf("carol's inbox lists %q", items)
		}
	})
}
