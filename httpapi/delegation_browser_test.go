package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/dts"
	"github.com/approvals-go/approvals/httpapi"
	"github.com/approvals-go/approvals/internal/browsertest"
	"github.com/approvals-go/approvals/internal/delegations"
	"github.com/approvals-go/approvals/internal/testenv"
)

// readerOf is a DelegationReader over a store made once the scheduler is
// up, which is after the worker's activities are built.
type readerOf struct{ store **delegations.Store }

func (r readerOf) Source(ctx context.Context) approval.DelegationSource {
	return (*r.store).Source(ctx)
}

// newDelegatingAPI is the API and a worker that both keep delegations on
// the embedded scheduler, as the handler and the worker do.
func newDelegatingAPI(t *testing.T, opts httpapi.Options) *apiEnv {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	url := "http://" + srv.Listener.Addr().String()
	n := &notices{}
	var store *delegations.Store
	env := testenv.StartWith(t, url, testenv.Options{Activities: func(a *approval.Activities) {
		a.Notifier, a.Links, a.Delegations = n, opts.Links, readerOf{&store}
	}})
	store = delegations.New(env.Conn, dts.Logger(testenv.Quiet()))
	orch := &counting{Orchestrations: httpapi.NewScheduler(env.Conn, dts.Logger(testenv.Quiet()))}
	opts.Logger, opts.Delegations = testenv.Quiet(), store
	srv.Config.Handler = httpapi.New(orch, opts)
	srv.Start()
	t.Cleanup(srv.Close)
	return &apiEnv{url: url, orch: orch, notices: n, client: env.Client}
}

func (e *apiEnv) delegate(t *testing.T, delegator, to string, until time.Time) {
	t.Helper()
	r := e.postJSON(t, httpapi.DelegationsPath, map[string]any{"delegator": delegator, "to": to,
		"from": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339), "until": until.UTC().Format(time.RFC3339)})
	if r.code != http.StatusCreated {
		t.Fatalf("%s delegating to %s = %d %s", delegator, to, r.code, r.raw)
	}
}

// A delegate follows the link they were sent: the page says whom they
// decide for and until when, and once they approve, the outcome reads
// "Approved by bob for alice".
func TestBrowserDelegateDecidesForTheApprover(t *testing.T) {
	e := newDelegatingAPI(t, httpapi.Options{Links: testSigner(t)})
	until := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	e.delegate(t, "alice", "bob", until)
	e.startFor(t, "dl-page", "Team offsite", "alice")
	ctx := tab(t, 390, 844)
	browsertest.Do(t, ctx, chromedp.Navigate(e.notices.link(t, "dl-page", "bob")))
	if got := browsertest.Text(t, ctx, ".acting-for"); !strings.Contains(got, "You decide for alice (delegated until") {
		t.Errorf("the delegate's page says %q", got)
	}
	browsertest.Click(t, ctx, ".btn-approve")
	browsertest.Do(t, ctx, chromedp.WaitVisible("#outcome-title"))
	if got := browsertest.Text(t, ctx, "#outcome-title"); got != "Approved by bob for alice" {
		t.Errorf("the outcome reads %q; want Approved by bob for alice", got)
	}
}

// The inbox of a delegate lists what waits for the people who delegated
// to them, saying for whom.
func TestBrowserInboxListsWhatWaitsForDelegators(t *testing.T) {
	e := newDelegatingAPI(t, httpapi.Options{})
	e.delegate(t, "alice", "bob", time.Now().Add(time.Hour))
	e.startFor(t, "dl-inbox", "Printer toner", "alice")
	e.startFor(t, "dl-other", "Chairs", "carol")
	ctx := tab(t, 1280, 900)
	browsertest.Do(t, ctx, chromedp.Navigate(e.url+httpapi.ReviewPath+"?approver=bob"))
	list := browsertest.Text(t, ctx, ".list")
	if !strings.Contains(list, "Printer toner") || browsertest.Text(t, ctx, ".row .acting-for") != "for alice" || strings.Contains(list, "Chairs") {
		t.Errorf("bob's inbox lists:\n%s\nwant alice's request, for alice, and not carol's", list)
	}
}

// On the away page a person delegates for some days and revokes it, with
// forms that work without script; the delegate's page lists it received.
func TestBrowserAwayPage(t *testing.T) {
	e := newDelegatingAPI(t, httpapi.Options{})
	ctx := tab(t, 390, 844)
	browsertest.Do(t, ctx, chromedp.Navigate(e.url+httpapi.ReviewPath))
	browsertest.Click(t, ctx, ".away-link a")
	browsertest.Do(t, ctx, chromedp.SendKeys("#person", "alice"), chromedp.Submit("#person"), chromedp.WaitVisible("#to"))
	today := time.Now().UTC()
	browsertest.Do(t, ctx,
		chromedp.SendKeys("#to", "bob"),
		chromedp.SetValue("#from", today.Format(time.DateOnly)),
		chromedp.SetValue("#until", today.AddDate(0, 0, 6).Format(time.DateOnly)),
		chromedp.SendKeys("#note", "walking"))
	browsertest.Click(t, ctx, ".btn-approve")
	browsertest.Do(t, ctx, chromedp.WaitVisible(".delegations-given"))
	if got := browsertest.Text(t, ctx, ".delegations-given"); !strings.Contains(got, "bob") || !strings.Contains(got, "walking") {
		t.Errorf("alice's page lists %q; want her delegation to bob", got)
	}
	r := e.do(t, http.MethodGet, httpapi.DelegationsPath+"?person=bob", "", "")
	if !strings.Contains(r.raw, "walking") || !strings.Contains(r.raw, today.AddDate(0, 0, 7).Format(time.DateOnly)+"T00:00:00Z") {
		t.Errorf("bob's delegations = %s; want alice's, through the last day", r.raw)
	}
	browsertest.Click(t, ctx, ".delegations-given button")
	browsertest.Do(t, ctx, chromedp.WaitVisible("#given-title"))
	if got := browsertest.Text(t, ctx, "#given-title + *"); !strings.Contains(got, "Nobody") {
		t.Errorf("after revoking, alice's page lists %q", got)
	}

	browsertest.Do(t, ctx, chromedp.SendKeys("#to", "alice"), chromedp.SetValue("#from", today.Format(time.DateOnly)),
		chromedp.SetValue("#until", today.Format(time.DateOnly)))
	browsertest.Click(t, ctx, ".btn-approve")
	browsertest.Do(t, ctx, chromedp.WaitVisible(".alert-error"))
	if got := browsertest.Text(t, ctx, ".alert-error"); !strings.Contains(got, "someone other than the delegator") {
		t.Errorf("a delegation to oneself shows %q", got)
	}
}

// The away page, with delegations given and received, and a delegate's
// review page pass axe-core with no violation, on a desktop and a phone.
func TestAxeDelegationPages(t *testing.T) {
	e := newDelegatingAPI(t, httpapi.Options{})
	e.delegate(t, "alice", "bob", time.Now().Add(time.Hour))
	e.delegate(t, "carol", "alice", time.Now().Add(time.Hour))
	e.startFor(t, "axe-delegated", "Team offsite", "alice")
	signed := newDelegatingAPI(t, httpapi.Options{Links: testSigner(t)})
	signed.delegate(t, "alice", "bob", time.Now().Add(time.Hour))
	signed.startFor(t, "axe-delegate-page", "Team offsite", "alice")
	pages := []axePage{
		{"a delegate's review page", signed.notices.link(t, "axe-delegate-page", "bob")},
		{"away, asking a name", e.url + httpapi.AwayPath},
		{"away", e.url + httpapi.AwayPath + "?person=alice"},
		{"inbox of a delegate", e.url + httpapi.ReviewPath + "?approver=bob"},
	}
	axePages(t, pages)
}
