package browsertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/approvals-go/approvals/internal/nodetest"
)

// testdata is this package's testdata folder, wherever the test that calls
// it runs.
func testdata(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", name)
}

// axeScript reads axe-core's script once, after nodetest.Install.
var axeScript = sync.OnceValues(func() (string, error) {
	b, err := os.ReadFile(filepath.Join(testdata("axe"), "node_modules", "axe-core", "axe.min.js"))
	return string(b), err
})

// axeViolation is what Axe reports of each violation.
type axeViolation struct {
	ID, Impact, Help, HelpURL string
	Nodes                     []struct {
		Target  []string
		HTML    string
		Summary string
	}
}

// Axe runs axe-core (pinned in testdata/axe, installed with npm ci on first
// use) on the page open in ctx, every rule it runs by default and
// target-size (touch targets of 24 px, as Lighthouse checks), and fails
// the test with each violation, its elements and why, if there is any.
// page names the page in the message.
func Axe(t testing.TB, ctx context.Context, page string) {
	t.Helper()
	// Install outside the Once: it may end the test (no Node), which must
	// not leave the Once spent without a script for the tests after it.
	nodetest.Install(t, testdata("axe"))
	src, err := axeScript()
	if err != nil {
		t.Fatal(err)
	}
	Do(t, ctx, chromedp.Evaluate[chromedp.Void](`void (window.axe || (function () {`+src+`}).call(window))`))
	found := Run(t, ctx, chromedp.Evaluate[[]axeViolation](`axe.run(document, {resultTypes: ["violations"], rules: {"target-size": {enabled: true}}}).then(r => r.violations.map(v => ({
		id: v.id, impact: v.impact, help: v.help, helpURL: v.helpUrl,
		nodes: v.nodes.map(n => ({target: n.target.map(String), html: n.html, summary: n.failureSummary})),
	})))`, chromedp.EvalAwaitPromise))
	if len(found) == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "axe-core finds %d violations on %s:\n", len(found), page)
	for _, v := range found {
		fmt.Fprintf(&b, "\n%s (%s): %s\n  %s\n", v.ID, v.Impact, v.Help, v.HelpURL)
		for _, n := range v.Nodes {
			fmt.Fprintf(&b, "  - %s\n    %s\n    %s\n", strings.Join(n.Target, " "), n.HTML, strings.ReplaceAll(n.Summary, "\n", "\n    "))
		}
	}
	t.Error(b.String())
}
