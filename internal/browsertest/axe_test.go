package browsertest_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/approvals-go/approvals/internal/browsertest"
)

func TestMain(m *testing.M) { browsertest.Main(m) }

// errors keeps what a test reports with Error instead of failing.
type errors struct {
	testing.TB
	said []string
}

func (e *errors) Error(args ...any) { e.said = append(e.said, fmt.Sprint(args...)) }

// Axe finds what a person would trip over, and says where; a clean page
// passes.
func TestAxeReportsViolations(t *testing.T) {
	ctx := browsertest.Tab(t, 800, 600, 60*time.Second)
	browsertest.Do(t, ctx, chromedp.Navigate(`data:text/html,<!doctype html><html lang="en"><title>t</title><main><h1>Hi</h1>`+
		`<p style="color:%23999;background:%23fff">grey on white</p><img src="x.png"></main></html>`))
	rec := &errors{TB: t}
	browsertest.Axe(rec, ctx, "a bad page")
	said := strings.Join(rec.said, "\n")
	for _, want := range []string{"on a bad page", "color-contrast (serious)", "image-alt (critical)", "img"} {
		if !strings.Contains(said, want) {
			t.Errorf("the report lacks %q:\n%s", want, said)
		}
	}
	browsertest.Do(t, ctx, chromedp.Navigate(`data:text/html,<!doctype html><html lang="en"><title>t</title><main><h1>Hi</h1><p>Fine.</p></main></html>`))
	browsertest.Axe(t, ctx, "a clean page")
}
