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

var axeScript struct {
	once sync.Once
	src  string
	err  error
}

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
	axeScript.once.Do(func() {
		var b []byte
		b, axeScript.err = os.ReadFile(filepath.Join(nodetest.Install(t, testdata("axe")), "axe-core", "axe.min.js"))
		axeScript.src = string(b)
	})
	if axeScript.err != nil {
		t.Fatal(axeScript.err)
	}
	Do(t, ctx, chromedp.Evaluate[chromedp.Void](`window.axe || (function () {`+axeScript.src+`}).call(window)`))
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
