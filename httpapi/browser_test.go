package httpapi_test

import (
	"bytes"
	"context"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/microsoft/durabletask-go/api"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/httpapi"
	"github.com/approvals-go/approvals/internal/browsertest"
)

// The pages are tested in a real Chromium (see internal/browsertest), one
// browser for the whole test binary and a tab per test.

func TestMain(m *testing.M) { browsertest.Main(m) }

func tab(t *testing.T, width, height int64) context.Context {
	return browsertest.Tab(t, width, height, 60*time.Second)
}

// buttons counts the decision buttons on the page.
func buttons(t *testing.T, ctx context.Context) int {
	t.Helper()
	return browsertest.Run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('button[name="approved"]').length`))
}

// startFor starts an approval of item by ana for approvers and waits
// until they have been sent its link.
func (e *apiEnv) startFor(t *testing.T, id, item string, approvers ...string) {
	t.Helper()
	r := e.postJSON(t, httpapi.ApprovalsPath, map[string]any{"request_id": id, "requester": "ana", "item": item,
		"approvers": approvers, "timeout": "2h"})
	if r.code != http.StatusAccepted {
		t.Fatalf("start %s = %d %s", id, r.code, r.raw)
	}
	e.until(t, id, submitted)
}

// The approval link opens a page on which a person types a comment and
// approves or rejects; the page then shows the outcome, who decided and
// their comment, and no buttons.
func TestBrowserDecides(t *testing.T) {
	e := newAPI(t)
	for _, c := range []struct {
		button, status string
		approved       bool
	}{
		{".btn-approve", "Approved", true},
		{".btn-reject", "Rejected", false},
	} {
		t.Run(c.status, func(t *testing.T) {
			id := "browser-" + strings.ToLower(c.status)
			e.startFor(t, id, "Laptop for "+c.status, "bob")
			ctx := tab(t, 1280, 900)
			browsertest.Do(t, ctx, chromedp.Navigate(e.notices.link(t, id, "bob")))
			if got := browsertest.Text(t, ctx, ".badge"); got != "Pending" {
				t.Fatalf("badge = %q", got)
			}
			if n := buttons(t, ctx); n != 2 {
				t.Fatalf("%d decision buttons on a pending approval, want 2", n)
			}
			browsertest.Do(t, ctx,
				chromedp.SendKeys(chromedp.ID("approver"), "bob"),
				chromedp.SendKeys(chromedp.ID("comments"), "Decided in a browser: "+c.status),
			)
			browsertest.Click(t, ctx, c.button)

			// Post/Redirect/Get: the browser is back on the page itself.
			if loc := browsertest.Run(t, ctx, chromedp.Location()); loc != e.url+approval.ReviewPath+"/"+id {
				t.Fatalf("after deciding the browser is at %s", loc)
			}
			if got := browsertest.Text(t, ctx, ".badge"); got != c.status {
				t.Fatalf("badge = %q, want %s", got, c.status)
			}
			if got := browsertest.Text(t, ctx, "#outcome-title"); got != c.status+" by bob" {
				t.Fatalf("outcome = %q", got)
			}
			if got := browsertest.Text(t, ctx, ".comments"); got != "Decided in a browser: "+c.status {
				t.Fatalf("comments = %q", got)
			}
			if n := buttons(t, ctx); n != 0 {
				t.Fatalf("a decided approval shows %d decision buttons", n)
			}
			// The decision the page shows is the recorded one.
			f := e.until(t, id, finished)
			if result, _ := f.body["result"].(map[string]any); f.body["status"] != c.status || result["approver"] != "bob" {
				t.Fatalf("recorded %s", f.raw)
			}
			// Opened again later, it still shows no buttons.
			browsertest.Do(t, ctx, chromedp.Navigate(e.url+approval.ReviewPath+"/"+id))
			if n := buttons(t, ctx); n != 0 {
				t.Fatalf("a decided approval opened again shows %d decision buttons", n)
			}
		})
	}
	if n := e.orch.decisions.Load(); n != 2 {
		t.Fatalf("%d decisions reached the scheduler, want 2", n)
	}
}

// A signed link, opened as a mail scanner or a person would (a GET),
// decides nothing; it shows who is deciding and a confirm step, and only
// pressing a button decides, as the approver the link was signed for.
func TestBrowserSignedLinkConfirms(t *testing.T) {
	signer := testSigner(t)
	e := newAPIWith(t, httpapi.Options{Links: signer})
	e.startFor(t, "signed-1", "Conference trip", "bob", "carol")
	link := e.notices.link(t, "signed-1", "carol")
	if !strings.Contains(link, "?token=") {
		t.Fatalf("the link sent is not signed: %s", link)
	}
	ctx := tab(t, 1280, 900)
	browsertest.Do(t, ctx, chromedp.Navigate(link))
	if got := browsertest.Text(t, ctx, ".as"); got != "You are deciding as carol." {
		t.Fatalf("confirm step says %q", got)
	}
	if n := browsertest.Run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('#approver').length`)); n != 0 {
		t.Fatal("a signed link asks for a name")
	}
	// Loading the link again, as a scanner might, decides nothing either.
	browsertest.Do(t, ctx, chromedp.Reload())
	time.Sleep(200 * time.Millisecond)
	if n := e.orch.decisions.Load(); n != 0 {
		t.Fatalf("opening a signed link raised %d decisions", n)
	}
	if r := e.do(t, http.MethodGet, "/api/approvals/signed-1", "", ""); r.body["status"] != "Pending" {
		t.Fatalf("after opening the link the approval is %s", r.raw)
	}
	browsertest.Click(t, ctx, ".btn-approve")
	if got := browsertest.Text(t, ctx, "#outcome-title"); got != "Approved by carol" {
		t.Fatalf("outcome = %q", got)
	}
	if loc := browsertest.Run(t, ctx, chromedp.Location()); strings.Contains(loc, "token") {
		t.Fatalf("the token stays in the address bar: %s", loc)
	}
	if n := e.orch.decisions.Load(); n != 1 {
		t.Fatalf("%d decisions, want 1", n)
	}
}

// The inbox lists what is pending for a person and links to each page.
func TestBrowserInbox(t *testing.T) {
	e := newAPI(t)
	e.startFor(t, "inbox-1", "Team offsite budget", "dana")
	e.startFor(t, "inbox-2", "Monitor for Sam", "erin")
	ctx := tab(t, 1280, 900)
	browsertest.Do(t, ctx, chromedp.Navigate(e.url+approval.ReviewPath+"?approver=dana"))
	items := browsertest.Run(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('.row .item')].map(a => a.textContent)`))
	if len(items) != 1 || items[0] != "Team offsite budget" {
		t.Fatalf("dana's inbox lists %q", items)
	}
	browsertest.Click(t, ctx, ".row .item")
	if loc := browsertest.Run(t, ctx, chromedp.Location()); loc != e.url+approval.ReviewPath+"/inbox-1" {
		t.Fatalf("the inbox row leads to %s", loc)
	}
	if got := browsertest.Text(t, ctx, "h1"); got != "Team offsite budget" {
		t.Fatalf("the page shows %q", got)
	}
}

// TestScreenshots takes the pictures the docs show, on a desktop and
// on a phone. They are written into docs/ only when asked
// (-screenshots or APPROVALS_SCREENSHOTS=1); every run takes them, so the
// pages render in a real browser without errors either way.
func TestScreenshots(t *testing.T) {
	e := newAPI(t)
	r := e.postJSON(t, httpapi.ApprovalsPath, map[string]any{"request_id": "EXP-2041", "requester": "ana.lima@contoso.com",
		"item": "MacBook Pro 14\" for the new product designer (2,399 EUR)", "approvers": []string{"bob.meyer@contoso.com", "carol.ng@contoso.com"},
		"timeout": "48h"})
	if r.code != http.StatusAccepted {
		t.Fatalf("start = %d %s", r.code, r.raw)
	}
	e.until(t, "EXP-2041", submitted)
	for _, other := range []struct{ id, requester, item, timeout string }{
		{"EXP-2038", "sam.okafor@contoso.com", "Conference ticket: GopherCon EU, Berlin", "90m"},
		{"EXP-2039", "lena.fischer@contoso.com", "Standing desk for the Lisbon office", "30h"},
	} {
		r := e.postJSON(t, httpapi.ApprovalsPath, map[string]any{"request_id": other.id, "requester": other.requester,
			"item": other.item, "approver": "bob.meyer@contoso.com", "timeout": other.timeout})
		if r.code != http.StatusAccepted {
			t.Fatalf("start = %d %s", r.code, r.raw)
		}
		e.until(t, other.id, submitted)
	}
	dir := t.TempDir()
	if *browsertest.Screenshots {
		dir = filepath.Join("..", "docs")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, shot := range []struct {
		file, path    string
		width, height int64
	}{
		{"approval-page.png", approval.ReviewPath + "/EXP-2041", 1280, 800},
		{"approval-page-phone.png", approval.ReviewPath + "/EXP-2041", 390, 844},
		{"inbox-page.png", approval.ReviewPath + "?approver=bob.meyer@contoso.com", 1280, 600},
		{"withdraw-confirm-phone.png", approval.ReviewPath + "/EXP-2041?withdraw=confirm", 390, 844},
	} {
		ctx := tab(t, shot.width, shot.height)
		browsertest.Do(t, ctx, chromedp.Navigate(e.url+shot.path))
		if shot.file == "approval-page.png" {
			browsertest.Do(t, ctx,
				chromedp.SendKeys(chromedp.ID("approver"), "bob.meyer@contoso.com"),
				chromedp.SendKeys(chromedp.ID("comments"), "Within the team's hardware budget."),
				chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`),
			)
		}
		buf := browsertest.Run(t, ctx, chromedp.FullScreenshot(100))
		img, err := png.Decode(bytes.NewReader(buf))
		if err != nil || img.Bounds().Dx() != int(shot.width) {
			t.Fatalf("%s: not a %d px wide PNG: %v", shot.file, shot.width, err)
		}
		if err := os.WriteFile(filepath.Join(dir, shot.file), buf, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes in %s", shot.file, len(buf), dir)
	}
}

// Enter in the name field does not decide: only the buttons do.
func TestBrowserEnterDoesNotDecide(t *testing.T) {
	e := newAPI(t)
	e.startFor(t, "enter-1", "Chair", "bob")
	ctx := tab(t, 1280, 900)
	browsertest.Do(t, ctx, chromedp.Navigate(e.url+approval.ReviewPath+"/enter-1"),
		chromedp.SendKeys(chromedp.ID("approver"), "bob\r"))
	time.Sleep(300 * time.Millisecond)
	if n := e.orch.decisions.Load(); n != 0 {
		t.Fatalf("Enter in the name field raised %d decisions", n)
	}
	if loc := browsertest.Run(t, ctx, chromedp.Location()); loc != e.url+approval.ReviewPath+"/enter-1" {
		t.Fatalf("Enter took the browser to %s", loc)
	}
}

// An approval whose orchestration was terminated reads Terminated, with
// the reason it was given, in the JSON and on its page, which says so
// once, offers no decision and shows the reason once; the inbox finds it
// under Terminated and not under Failed.
func TestBrowserTerminated(t *testing.T) {
	e := newAPI(t)
	e.startFor(t, "term-1", "Second monitor", "bob")
	const reason = "Duplicate of EXP-3107"
	if err := e.client.TerminateOrchestration(t.Context(), "term-1", api.WithOutput(reason)); err != nil {
		t.Fatal(err)
	}
	r := e.until(t, "term-1", finished)
	if r.body["status"] != "Terminated" || r.body["error"] != reason || r.body["decision_uri"] != nil || r.body["result"] != nil {
		t.Fatalf("a terminated approval reads %s", r.raw)
	}
	// A decision sent now is told it has ended, and how.
	if d := e.postJSON(t, "/api/approvals/term-1/decision", map[string]any{"approved": true, "approver": "bob"}); d.code != http.StatusConflict || d.body["approval_status"] != "Terminated" {
		t.Fatalf("a decision on a terminated approval = %d %s", d.code, d.raw)
	}
	for status, want := range map[string]int{"Terminated": 1, "terminated": 1, "Failed": 0} {
		if got, _ := ids(t, e.get(t, httpapi.ApprovalsPath+"?status="+status)); len(got) != want {
			t.Fatalf("?status=%s lists %q, want %d", status, got, want)
		}
	}

	ctx := tab(t, 1280, 900)
	browsertest.Do(t, ctx, chromedp.Navigate(e.url+approval.ReviewPath+"/term-1"))
	if got := browsertest.Text(t, ctx, ".badge"); got != "Terminated" {
		t.Fatalf("badge = %q", got)
	}
	if got := browsertest.Text(t, ctx, "#outcome-title"); got != "Terminated" {
		t.Fatalf("outcome = %q", got)
	}
	said := browsertest.Text(t, ctx, ".outcome")
	if n := strings.Count(strings.ToLower(said), "terminated"); n != 1 {
		t.Fatalf("the outcome says terminated %d times: %q", n, said)
	}
	if n := strings.Count(said, reason); n != 1 || strings.Contains(strings.ToLower(said), "fail") {
		t.Fatalf("the outcome shows the reason %d times, or calls it a failure: %q", n, said)
	}
	if n := buttons(t, ctx); n != 0 {
		t.Fatalf("a terminated approval shows %d decision buttons", n)
	}
	// Nor does it count down to a deadline that no longer matters.
	if n := browsertest.Run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-left]').length`)); n != 0 {
		t.Fatal("a terminated approval counts down to its deadline")
	}
}
