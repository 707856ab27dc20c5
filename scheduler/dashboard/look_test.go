package dashboard

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/dts/mgmt"
	"github.com/approvals-go/approvals/internal/browsertest"
)

// How the dashboard looks to a person: whether its text can be read, and
// whether it fits a phone. Both in a real Chromium, on every kind of page.

// lookIDs are the instances the look tests show: IDs as long as clients
// make them, an approval waiting, one decided, and other orchestrations.
const (
	lookPending  = "EXP-2026-0412-standing-desk-lisbon"
	lookDecided  = "EXP-2026-0409-conference-ticket-berlin"
	lookWaiter   = "nightly-export-2026-04-12T00:00:00Z-batch-0042-of-0100"
	lookFinished = "nightly-export-2026-04-11T00:00:00Z-batch-0099-of-0100"
)

// lookEnv is a dashboard with those instances, and the pages to look at:
// the hubs, the list, instance pages and every confirmation, bulk ones
// included.
func lookEnv(t *testing.T) (*env, map[string]string) {
	e := newEnv(t, envOptions{})
	hours := func(h float64) *float64 { return &h }
	e.startRequest(approval.Request{RequestID: lookPending, Requester: "lena.fischer@contoso.com",
		Item: "Standing desk for the Lisbon office (649 EUR, delivery and assembly included)", TimeoutHours: hours(30),
		Approvers: []string{"bob.meyer@contoso.com", "carol.ng@contoso.com"}})
	e.settle(lookPending)
	e.startRequest(approval.Request{RequestID: lookDecided, Requester: "sam.okafor@contoso.com", Item: "Conference ticket", TimeoutHours: hours(2)})
	e.decide(lookDecided, true, "bob.meyer@contoso.com")
	e.startWaiter(lookWaiter)
	e.startWaiter(lookFinished)
	if err := e.client.RaiseEvent(context.Background(), lookFinished, "stop"); err != nil {
		t.Fatal(err)
	}
	e.waitFor(lookFinished, func(in *mgmt.Instance) bool { return mgmt.Final(in.RuntimeStatus) })

	hub := "/hubs/default/"
	in := func(id string) string { return hub + "instances/" + url.PathEscape(id) }
	bulk := func(action string) string {
		return hub + "bulk?" + url.Values{"action": {action}, "scope": {"filter"}, "back": {hub}}.Encode()
	}
	return e, map[string]string{
		"hubs":               hub[:1],
		"list":               hub,
		"instance (pending)": in(lookPending),
		"instance (decided)": in(lookDecided),
		"instance (other)":   in(lookWaiter),
		"start":              hub + "start",
		"decide":             in(lookPending) + "/decide",
		"terminate":          in(lookPending) + "/terminate",
		"purge":              in(lookDecided) + "/purge",
		"restart":            in(lookFinished) + "/restart",
		"raise":              in(lookWaiter) + "/raise",
		"bulk terminate":     bulk("terminate"),
		"bulk purge":         bulk("purge"),
	}
}

// Every text on every page of the dashboard can be read: at least 4.5:1
// against what is behind it. The danger confirmations (terminate, purge,
// bulk terminate, bulk purge) were red on red, their heading 1.7:1 and
// their labels about 1:1, and the small grey labels were 4.39:1 on the
// page's background; the named elements are checked by name, so that the
// test cannot pass by finding none of them.
func TestBrowserTextContrast(t *testing.T) {
	e, pages := lookEnv(t)
	ctx := browserTab(t, 1280, 900)
	named := map[string][]string{
		"terminate":          {".confirm h1", ".confirm label", ".confirm button[type=submit]", ".confirm .eyebrow"},
		"purge":              {".confirm h1", ".confirm label", ".confirm button[type=submit]"},
		"bulk terminate":     {".confirm h1", ".confirm label", ".confirm button[type=submit]", ".confirm .eyebrow", ".confirm summary"},
		"bulk purge":         {".confirm h1", ".confirm label", ".confirm button[type=submit]"},
		"list":               {".eyebrow", ".instances th", ".tab-count", ".filters legend", ".field label", ".range"},
		"instance (pending)": {".eyebrow", "dt", ".muted", ".step-title .n"},
	}
	var bad []string
	for _, page := range sortedKeys(pages) {
		browsertest.Do(t, ctx, chromedp.Navigate(e.url+pages[page]))
		texts := browsertest.Run(t, ctx, browsertest.TextColours(""))
		if len(texts) < 10 {
			t.Fatalf("%s: only %d texts found", page, len(texts))
		}
		for _, sel := range named[page] {
			some := browsertest.Run(t, ctx, browsertest.TextColours(sel))
			if len(some) == 0 {
				t.Fatalf("%s: no text in %s to check", page, sel)
			}
			lowest := math.Inf(1)
			for _, x := range some {
				lowest = min(lowest, browsertest.Contrast(t, x.Fg, x.Bg))
			}
			t.Logf("%s: %s: %.2f:1 at least", page, sel, lowest)
		}
		for _, x := range texts {
			if r := browsertest.Contrast(t, x.Fg, x.Bg); r < browsertest.MinContrast {
				bad = append(bad, fmt.Sprintf("%s: %s %q: %.2f:1 (%s on %s, %s)", page, x.El, x.Text, r, x.Fg, x.Bg, x.Size))
			}
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		t.Fatalf("%d texts under %.1f:1:\n%s", len(bad), browsertest.MinContrast, strings.Join(bad, "\n"))
	}
}

// overflow says what sticks out of the viewport to the right: the
// elements whose box ends past it, outermost first, or nothing when the
// page is no wider than the window.
const overflow = `(() => {
  const w = window.innerWidth;
  if (document.documentElement.scrollWidth <= w) return {width: document.documentElement.scrollWidth, window: w, out: []};
  const out = [];
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > w + 0.5 && !(el.parentElement && el.parentElement.getBoundingClientRect().right > w + 0.5)) {
      out.push(el.tagName.toLowerCase() + [...el.classList].map(c => "." + c).join("") + " ends at " + Math.round(r.right));
    }
  }
  return {width: document.documentElement.scrollWidth, window: w, out: out.slice(0, 8)};
})()`

type fit struct {
	Width, Window int
	Out           []string
}

// The dashboard fits a phone, 390 px wide and the narrowest usual 320 px:
// no page is wider than the window (at 390 px the list was 509 px wide),
// the top bar keeps to one line with the refresh control on screen, and
// the list shows each instance's ID whole.
func TestBrowserFitsAPhone(t *testing.T) {
	e, pages := lookEnv(t)
	for _, width := range []int64{390, 320} {
		ctx := browserTab(t, width, 800)
		for _, page := range sortedKeys(pages) {
			browsertest.Do(t, ctx, chromedp.Navigate(e.url+pages[page]))
			if f := browsertest.Run(t, ctx, chromedp.Evaluate[fit](overflow)); f.Width > f.Window {
				t.Errorf("%d px: %s is %d px wide: %s", width, page, f.Width, strings.Join(f.Out, "; "))
			}
			bar := browsertest.Run(t, ctx, chromedp.Evaluate[[]float64](`(() => {
				const bar = document.querySelector(".topbar").getBoundingClientRect();
				const tools = [...document.querySelectorAll(".topbar > *, .topbar-tools > *")].filter(el => !el.hidden);
				return [bar.height, Math.max(...tools.map(el => el.getBoundingClientRect().right))];
			})()`))
			if bar[0] > 60 || bar[1] > float64(width) {
				t.Errorf("%d px: %s: the top bar is %.0f px high, its last control ends at %.0f px", width, page, bar[0], bar[1])
			}
			if page == "list" {
				ids := browsertest.Run(t, ctx, chromedp.Evaluate[[]float64](
					`[...document.querySelectorAll("td.id a")].map(a => a.getBoundingClientRect().right)`))
				if len(ids) != 4 {
					t.Fatalf("%d px: the list shows %d IDs, want 4", width, len(ids))
				}
				for _, right := range ids {
					if right > float64(width) {
						t.Errorf("%d px: an instance ID ends at %.0f px, off the screen", width, right)
					}
				}
			}
		}
	}
}
