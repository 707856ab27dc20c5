// Package browsertest drives Debian's Chromium from tests: one browser for
// a test binary, a tab per test. Without Chromium a developer's run skips
// the browser tests; CI (CI=true), whose .ci/run installs it, fails them.
package browsertest

import (
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/approvals-go/approvals/internal/prereq"
)

// Screenshots asks the tests that take screenshots to write them into
// docs/.
var Screenshots = flag.Bool("screenshots", os.Getenv("APPROVALS_SCREENSHOTS") != "",
	"write the pages' screenshots into docs/ (also APPROVALS_SCREENSHOTS=1)")

var browser struct {
	once   sync.Once
	ctx    context.Context
	cancel []context.CancelFunc
	err    error
}

// Main runs a test binary's tests and then stops the shared browser: a
// package with browser tests calls it from its TestMain.
func Main(m *testing.M) {
	flag.Parse()
	code := m.Run()
	stop()
	os.Exit(code)
}

// stop stops the shared browser.
func stop() {
	for i := len(browser.cancel) - 1; i >= 0; i-- {
		browser.cancel[i]()
	}
}

// Path finds the browser: CHROMIUM if set, else chromium on PATH.
func Path() (string, error) {
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

// Options are the browser's: headless, and without the sandbox, which
// cannot start as root, as CI runs.
func Options(path string) []chromedp.ExecAllocatorOption {
	return append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("lang", "en-US"),
	)
}

// Size is a window a page is checked in.
type Size struct {
	Name          string
	Width, Height int64
}

// Sizes are a desktop's window and a phone's (an iPhone 14's 390 px).
var Sizes = []Size{{"desktop", 1280, 900}, {"phone", 390, 844}}

// Tab opens a tab of the shared browser with a viewport of width by
// height, closed when the test ends, within timeout.
func Tab(t testing.TB, width, height int64, timeout time.Duration) context.Context {
	t.Helper()
	browser.once.Do(func() {
		path, err := Path()
		if err != nil {
			browser.err = err
			return
		}
		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), Options(path)...)
		ctx, cancelBrowser := chromedp.NewContext(alloc)
		browser.ctx, browser.cancel = ctx, []context.CancelFunc{cancelAlloc, cancelBrowser}
		browser.err = chromedp.Do(ctx)
	})
	Need(t, browser.err)
	ctx, cancel := chromedp.NewContext(browser.ctx)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(cancelTimeout)
	Do(t, ctx, chromedp.EmulateViewport(width, height))
	return ctx
}

// Need skips or, in CI, fails the test when the browser could not start.
func Need(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	prereq.Missing(t, "browser tests need Chromium: %v", err)
}

// Do runs actions, failing the test on an error.
func Do(t testing.TB, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// Run runs an action that yields a value, failing the test on an error.
func Run[T any](t testing.TB, ctx context.Context, action chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Click clicks sel and waits for the page it leads to.
func Click(t testing.TB, ctx context.Context, sel string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel)))); err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
}

// Text is the trimmed text of sel.
func Text(t testing.TB, ctx context.Context, sel string) string {
	t.Helper()
	return strings.TrimSpace(Run(t, ctx, chromedp.Text(chromedp.CSS(sel))))
}
