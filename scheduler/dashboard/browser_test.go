package dashboard

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/microsoft/durabletask-go/api"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/dts/mgmt"
	"github.com/approvals-go/approvals/internal/browsertest"
)

// The dashboard in a real Chromium (see internal/browsertest), one browser
// for the test binary and a tab per test.

func TestMain(m *testing.M) { browsertest.Main(m) }

func browserTab(t *testing.T, width, height int64) context.Context {
	return browsertest.Tab(t, width, height, 90*time.Second)
}

// reloadUntil reloads the page until the text of sel is want, as the
// auto-refresh would.
func reloadUntil(t *testing.T, ctx context.Context, sel, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if got := browsertest.Text(t, ctx, sel); got == want {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("%s shows %q, want %q", sel, got, want)
		}
		time.Sleep(100 * time.Millisecond)
		browsertest.Do(t, ctx, chromedp.Reload())
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
	browsertest.Do(t, ctx, chromedp.Navigate(e.url+"/"))
	// The stylesheet and the script load under the CSP: the page is
	// styled, and the script shows the refresh control, which pauses.
	if bg := browsertest.Run(t, ctx, chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`)); bg != "rgb(244, 246, 250)" {
		t.Fatalf("the stylesheet did not apply: body background %s", bg)
	}
	if got := browsertest.Text(t, ctx, "#refresh"); got != "Auto-refresh on" {
		t.Fatalf("refresh control says %q", got)
	}
	browsertest.Do(t, ctx, chromedp.Click(chromedp.CSS("#refresh")))
	if got := browsertest.Text(t, ctx, "#refresh"); got != "Auto-refresh paused" {
		t.Fatalf("after a click the refresh control says %q", got)
	}

	browsertest.Click(t, ctx, "a.hub-link")
	if got := browsertest.Text(t, ctx, "h1"); got != "default" {
		t.Fatalf("the hub's page is titled %q", got)
	}
	browsertest.Do(t, ctx, chromedp.SendKeys(chromedp.ID("prefix"), "EXP-3107"))
	browsertest.Click(t, ctx, ".filters button[type=submit]")
	if loc := browsertest.Run(t, ctx, chromedp.Location()); !strings.Contains(loc, "prefix=EXP-3107") {
		t.Fatalf("the filter is not in the URL: %s", loc)
	}
	ids := browsertest.Run(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('td.id a')].map(a => a.textContent)`))
	if len(ids) != 1 || ids[0] != "EXP-3107" {
		t.Fatalf("finding EXP-3107 lists %q", ids)
	}
	if got := browsertest.Text(t, ctx, ".glance"); !strings.HasPrefix(got, "Awaiting decision") {
		t.Fatalf("the approval's state at a glance: %q", got)
	}
	browsertest.Click(t, ctx, "td.id a")

	timeline := browsertest.Text(t, ctx, ".timeline")
	inOrder(t, "timeline before the decision", timeline, "Orchestration started", "submit_approval_request", "Timer created", "Not fired yet")
	if strings.Contains(timeline, "approval_response") {
		t.Fatal("the timeline shows a decision before there is one")
	}

	browsertest.Click(t, ctx, `a[href$="/decide"]`)
	browsertest.Do(t, ctx,
		chromedp.Click(chromedp.CSS(`input[name=decision][value=approve]`)),
		chromedp.SendKeys(chromedp.ID("approver"), "carol.ng@contoso.com"),
		chromedp.SendKeys(chromedp.ID("comments"), "Approved for the design team's Q3 hire."),
		chromedp.Click(chromedp.CSS(`input[name=confirm]`)),
	)
	browsertest.Click(t, ctx, ".form-actions button[type=submit]")
	if got := browsertest.Text(t, ctx, ".banner.notice"); !strings.HasPrefix(got, "Decision sent as approval_response") {
		t.Fatalf("after deciding the page says %q", got)
	}
	reloadUntil(t, ctx, ".badge.big", "Completed")
	timeline = browsertest.Text(t, ctx, ".timeline")
	inOrder(t, "timeline after the decision", timeline, "submit_approval_request", "Timer created", "Never fired",
		"approval_response", "Approved by carol.ng@contoso.com", "process_approval", "Orchestration completed")
	if got := browsertest.Text(t, ctx, ".status-line .glance"); got != "Approved by carol.ng@contoso.com" {
		t.Fatalf("the approval shows %q", got)
	}
	if in := e.instance("EXP-3107"); !strings.Contains(in.SerializedOutput, `"status":"Approved"`) {
		t.Fatalf("recorded output %s", in.SerializedOutput)
	}
	browsertest.Do(t, ctx, chromedp.Navigate(e.url+"/hubs/default/instances/EXP-3107"))
	screenshot(t, ctx, "dashboard-instance.png", 1280)

	// Terminate another, from its page.
	browsertest.Do(t, ctx, chromedp.Navigate(e.url+"/hubs/default/"))
	browsertest.Click(t, ctx, `td.id a[href$="/EXP-3108"]`)
	browsertest.Click(t, ctx, `a[href$="/terminate"]`)
	browsertest.Do(t, ctx,
		chromedp.SendKeys(chromedp.ID("reason"), "Duplicate of EXP-3107"),
		chromedp.Click(chromedp.CSS(`input[name=confirm]`)),
	)
	browsertest.Click(t, ctx, ".form-actions button[type=submit]")
	reloadUntil(t, ctx, ".badge.big", "Terminated")
	if in := e.instance("EXP-3108"); in.SerializedOutput != `"Duplicate of EXP-3107"` {
		t.Fatalf("terminated with output %s", in.SerializedOutput)
	}

	// The list as an operator sees it on a phone.
	phone := browserTab(t, 390, 844)
	browsertest.Do(t, phone, chromedp.Navigate(e.url+"/hubs/default/"),
		chromedp.Evaluate[chromedp.Void](`localStorage.removeItem("dashboard.refresh.paused")`),
		chromedp.Navigate(e.url+"/hubs/default/"))
	screenshot(t, phone, "dashboard-list-phone.png", 390)
}

// liveTab opens path with auto-refresh on, and counts the refreshes
// in window.refreshed; window.marker is gone if the page ever reloads.
func liveTab(t *testing.T, e *env, width, height int64, path string) context.Context {
	t.Helper()
	ctx := browserTab(t, width, height)
	browsertest.Do(t, ctx, chromedp.Navigate(e.url+path),
		chromedp.Evaluate[chromedp.Void](`localStorage.removeItem("dashboard.refresh.paused"); location.reload()`))
	browsertest.Do(t, ctx, chromedp.Sleep(300*time.Millisecond), chromedp.Evaluate[chromedp.Void](
		`window.marker = 1; window.refreshed = 0; document.addEventListener("dashboard:refreshed", () => window.refreshed++)`))
	return ctx
}

// until polls the boolean JavaScript expression cond until it holds.
func until(t *testing.T, ctx context.Context, within time.Duration, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !browsertest.Run(t, ctx, chromedp.Evaluate[bool](cond)) {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", within, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Auto-refresh updates a live page in place, without reloading it, and
// stops once the instance has finished.
func TestBrowserAutoRefresh(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startApproval("refresh-1", "ana", time.Hour)
	ctx := liveTab(t, e, 1280, 900, "/hubs/default/instances/refresh-1")
	e.decide("refresh-1", true, "bob")
	until(t, ctx, 15*time.Second, "the page did not refresh itself", `document.querySelector(".badge.big").textContent === "Completed"`)
	if !browsertest.Run(t, ctx, chromedp.Evaluate[bool](`window.marker === 1`)) {
		t.Fatal("the page reloaded to refresh")
	}
	if !browsertest.Run(t, ctx, chromedp.Evaluate[bool](`document.getElementById("refresh").hidden`)) {
		t.Fatal("a finished instance's page still offers auto-refresh")
	}
}

// On a phone, the list refreshes in place under a person using it: the
// filter they typed, the status they ticked and where they scrolled to
// stay; and while they have ticked an instance, it waits.
func TestBrowserListRefreshInPlace(t *testing.T) {
	e := newEnv(t, envOptions{})
	for i := range 12 {
		e.startWaiter(fmt.Sprintf("job-%02d", i))
	}
	ctx := liveTab(t, e, 390, 700, "/hubs/default/")
	browsertest.Do(t, ctx,
		chromedp.SendKeys(chromedp.ID("prefix"), "job-0"),
		chromedp.Click(chromedp.CSS(`input[name=status][value=running]`)),
		chromedp.Evaluate[chromedp.Void](`document.activeElement.blur(); window.scrollTo(0, 400)`),
	)
	e.startWaiter("job-new")
	until(t, ctx, 15*time.Second, "the list did not show the new instance",
		`[...document.querySelectorAll("td.id a")].some(a => a.textContent === "job-new")`)
	state := browsertest.Run(t, ctx, chromedp.Evaluate[struct {
		Marker          bool
		Prefix          string
		Running         bool
		ScrollY, Scroll int
	}](`({marker: window.marker === 1, prefix: document.getElementById("prefix").value,
		running: document.querySelector("input[name=status][value=running]").checked,
		scrollY: Math.round(window.scrollY), scroll: document.documentElement.scrollWidth})`))
	if !state.Marker || state.Prefix != "job-0" || !state.Running || state.ScrollY != 400 || state.Scroll > 390 {
		t.Fatalf("after a refresh: %+v (want no reload, the filter kept, scrolled to 400, no wider than 390)", state)
	}

	// Ticking an instance pauses the refresh: nothing changes under the tick.
	browsertest.Do(t, ctx, chromedp.Click(chromedp.CSS(`input[name=id][value="job-new"]`)),
		chromedp.Evaluate[chromedp.Void](`document.activeElement.blur(); window.before = window.refreshed`))
	e.startWaiter("job-newer")
	time.Sleep(7 * time.Second)
	if browsertest.Run(t, ctx, chromedp.Evaluate[bool](`window.refreshed !== window.before || !document.querySelector('input[name=id][value="job-new"]').checked`)) {
		t.Fatal("the list refreshed while an instance was ticked")
	}
	// Unticked, it goes on.
	browsertest.Do(t, ctx, chromedp.Click(chromedp.CSS(`input[name=id][value="job-new"]`)),
		chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))
	until(t, ctx, 15*time.Second, "the list did not refresh after the tick was taken back",
		`[...document.querySelectorAll("td.id a")].some(a => a.textContent === "job-newer")`)
}

// screenshot takes a full-page PNG width px wide; it is written into docs/
// only when asked, but taken on every run.
func screenshot(t *testing.T, ctx context.Context, file string, width int) {
	t.Helper()
	buf := browsertest.Run(t, ctx, chromedp.FullScreenshot(100))
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil || img.Bounds().Dx() != width {
		t.Fatalf("%s: not a %d px wide PNG: %v", file, width, err)
	}
	dir := t.TempDir()
	if *browsertest.Screenshots {
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
