package dashboard

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/microsoft/durabletask-go/api"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/dts/mgmt"
)

// The dashboard in a real Chromium (Debian's chromium package, which
// .ci/run installs), one browser for the test binary and a tab per test.

var screenshots = flag.Bool("screenshots", os.Getenv("APPROVALS_SCREENSHOTS") != "",
	"write the dashboard's screenshot into docs/ (also APPROVALS_SCREENSHOTS=1)")

var browser struct {
	once   sync.Once
	ctx    context.Context
	cancel []context.CancelFunc
	err    error
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	for i := len(browser.cancel) - 1; i >= 0; i-- {
		browser.cancel[i]()
	}
	os.Exit(code)
}

func chromiumPath() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("chromium is not installed (apt-get install chromium)")
}

// browserTab opens a tab of the shared browser. Without Chromium a developer's
// run skips the test; CI, which installs it, fails.
func browserTab(t *testing.T, width, height int64) context.Context {
	t.Helper()
	browser.once.Do(func() {
		path, err := chromiumPath()
		if err != nil {
			browser.err = err
			return
		}
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(path),
			// CI runs as root, where Chromium's sandbox cannot start.
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			chromedp.Flag("lang", "en-US"),
		)
		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancelBrowser := chromedp.NewContext(alloc)
		browser.ctx, browser.cancel = ctx, []context.CancelFunc{cancelAlloc, cancelBrowser}
		browser.err = chromedp.Do(ctx)
	})
	if browser.err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browser tests need Chromium: %v", browser.err)
		}
		t.Skipf("browser tests need Chromium: %v", browser.err)
	}
	ctx, cancel := chromedp.NewContext(browser.ctx)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelTimeout)
	do(t, ctx, chromedp.EmulateViewport(width, height))
	return ctx
}

func do(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

func run[T any](t *testing.T, ctx context.Context, action chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// click clicks sel and waits for the page it leads to.
func click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel)))); err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return strings.TrimSpace(run(t, ctx, chromedp.Text(chromedp.CSS(sel))))
}

// reloadUntil reloads the page until the text of sel is want, as the
// auto-refresh would.
func reloadUntil(t *testing.T, ctx context.Context, sel, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if got := text(t, ctx, sel); got == want {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("%s shows %q, want %q", sel, got, want)
		}
		time.Sleep(100 * time.Millisecond)
		do(t, ctx, chromedp.Reload())
	}
}

// startRequest starts an approval with the given fields and waits until it
// has been submitted.
func (e *env) startRequest(req approval.Request) {
	e.t.Helper()
	if _, err := e.client.ScheduleNewOrchestration(context.Background(), approval.OrchestratorName,
		api.WithInstanceID(api.InstanceID(req.RequestID)), api.WithInput(req)); err != nil {
		e.t.Fatal(err)
	}
	e.waitFor(req.RequestID, func(in *mgmt.Instance) bool { return in.SerializedCustomStatus != "" })
}

// The seed's walk-through, in a browser: open the dashboard, pick the hub,
// find an approval by its ID, open it and see its history; approve it from
// the dashboard and see it complete; terminate another.
func TestBrowserWalkThrough(t *testing.T) {
	e := newEnv(t, envOptions{})
	hours := func(h float64) *float64 { return &h }
	for _, r := range []approval.Request{
		{RequestID: "EXP-3104", Requester: "sam.okafor@contoso.com", Item: "Conference ticket: GopherCon EU", TimeoutHours: hours(2)},
		{RequestID: "EXP-3105", Requester: "lena.fischer@contoso.com", Item: "Standing desk for the Lisbon office", TimeoutHours: hours(30)},
	} {
		e.startRequest(r)
	}
	e.decide("EXP-3104", true, "bob.meyer@contoso.com")
	e.startRequest(approval.Request{RequestID: "EXP-3107", Requester: "ana.lima@contoso.com",
		Item: "MacBook Pro 14\" for the new product designer (2,399 EUR)", TimeoutHours: hours(24),
		Approvers: []string{"bob.meyer@contoso.com", "carol.ng@contoso.com"}})
	e.startRequest(approval.Request{RequestID: "EXP-3108", Requester: "ana.lima@contoso.com", Item: "Second monitor", TimeoutHours: hours(24)})

	ctx := browserTab(t, 1280, 900)
	do(t, ctx, chromedp.Navigate(e.url+"/"))
	// The stylesheet and the script load under the CSP: the page is
	// styled, and the script shows the refresh control, which pauses.
	if bg := run(t, ctx, chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`)); bg != "rgb(244, 246, 250)" {
		t.Fatalf("the stylesheet did not apply: body background %s", bg)
	}
	if got := text(t, ctx, "#refresh"); got != "Auto-refresh on" {
		t.Fatalf("refresh control says %q", got)
	}
	do(t, ctx, chromedp.Click(chromedp.CSS("#refresh")))
	if got := text(t, ctx, "#refresh"); got != "Auto-refresh paused" {
		t.Fatalf("after a click the refresh control says %q", got)
	}

	click(t, ctx, "a.hub-link")
	if got := text(t, ctx, "h1"); got != "default" {
		t.Fatalf("the hub's page is titled %q", got)
	}
	do(t, ctx, chromedp.SendKeys(chromedp.ID("prefix"), "EXP-3107"))
	click(t, ctx, ".filters button[type=submit]")
	if loc := run(t, ctx, chromedp.Location()); !strings.Contains(loc, "prefix=EXP-3107") {
		t.Fatalf("the filter is not in the URL: %s", loc)
	}
	ids := run(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('td.id a')].map(a => a.textContent)`))
	if len(ids) != 1 || ids[0] != "EXP-3107" {
		t.Fatalf("finding EXP-3107 lists %q", ids)
	}
	if got := text(t, ctx, ".glance"); !strings.HasPrefix(got, "Awaiting decision") {
		t.Fatalf("the approval's state at a glance: %q", got)
	}
	click(t, ctx, "td.id a")

	timeline := text(t, ctx, ".timeline")
	inOrder(t, "timeline before the decision", timeline, "Orchestration started", "submit_approval_request", "Timer created", "Not fired yet")
	if strings.Contains(timeline, "approval_response") {
		t.Fatal("the timeline shows a decision before there is one")
	}

	click(t, ctx, `a[href$="/decide"]`)
	do(t, ctx,
		chromedp.Click(chromedp.CSS(`input[name=decision][value=approve]`)),
		chromedp.SendKeys(chromedp.ID("approver"), "carol.ng@contoso.com"),
		chromedp.SendKeys(chromedp.ID("comments"), "Approved for the design team's Q3 hire."),
		chromedp.Click(chromedp.CSS(`input[name=confirm]`)),
	)
	click(t, ctx, ".form-actions button[type=submit]")
	if got := text(t, ctx, ".banner.notice"); !strings.HasPrefix(got, "Decision sent as approval_response") {
		t.Fatalf("after deciding the page says %q", got)
	}
	reloadUntil(t, ctx, ".badge.big", "Completed")
	timeline = text(t, ctx, ".timeline")
	inOrder(t, "timeline after the decision", timeline, "submit_approval_request", "Timer created", "Never fired",
		"approval_response", "Approved by carol.ng@contoso.com", "process_approval", "Orchestration completed")
	if got := text(t, ctx, ".status-line .glance"); got != "Approved by carol.ng@contoso.com" {
		t.Fatalf("the approval shows %q", got)
	}
	if in := e.instance("EXP-3107"); !strings.Contains(in.SerializedOutput, `"status":"Approved"`) {
		t.Fatalf("recorded output %s", in.SerializedOutput)
	}
	do(t, ctx, chromedp.Navigate(e.url+"/hubs/default/instances/EXP-3107"))
	screenshot(t, ctx, "dashboard-instance.png")

	// Terminate another, from its page.
	do(t, ctx, chromedp.Navigate(e.url+"/hubs/default/"))
	click(t, ctx, `td.id a[href$="/EXP-3108"]`)
	click(t, ctx, `a[href$="/terminate"]`)
	do(t, ctx,
		chromedp.SendKeys(chromedp.ID("reason"), "Duplicate of EXP-3107"),
		chromedp.Click(chromedp.CSS(`input[name=confirm]`)),
	)
	click(t, ctx, ".form-actions button[type=submit]")
	reloadUntil(t, ctx, ".badge.big", "Terminated")
	if in := e.instance("EXP-3108"); in.SerializedOutput != `"Duplicate of EXP-3107"` {
		t.Fatalf("terminated with output %s", in.SerializedOutput)
	}
}

// Auto-refresh reloads a live page by itself, and stops when paused.
func TestBrowserAutoRefresh(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startApproval("refresh-1", "ana", time.Hour)
	ctx := browserTab(t, 1280, 900)
	do(t, ctx, chromedp.Navigate(e.url+"/hubs/default/instances/refresh-1"),
		chromedp.Evaluate[chromedp.Void](`localStorage.removeItem("dashboard.refresh.paused"); location.reload()`))
	do(t, ctx, chromedp.Sleep(500*time.Millisecond), chromedp.Evaluate[chromedp.Void](`window.marker = 1`))
	e.decide("refresh-1", true, "bob")
	deadline := time.Now().Add(15 * time.Second)
	for text(t, ctx, ".badge.big") != "Completed" {
		if time.Now().After(deadline) {
			t.Fatal("the page did not refresh itself")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if run(t, ctx, chromedp.Evaluate[bool](`window.marker === 1`)) {
		t.Fatal("the badge changed without a reload")
	}
}

// screenshot takes a full-page PNG 1280 px wide; it is written into docs/
// only when asked, but taken on every run.
func screenshot(t *testing.T, ctx context.Context, file string) {
	t.Helper()
	buf := run(t, ctx, chromedp.FullScreenshot(100))
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil || img.Bounds().Dx() != 1280 {
		t.Fatalf("%s: not a 1280 px wide PNG: %v", file, err)
	}
	dir := t.TempDir()
	if *screenshots {
		dir = filepath.Join("..", "..", "docs")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, file), buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d bytes in %s", file, len(buf), dir)
}
