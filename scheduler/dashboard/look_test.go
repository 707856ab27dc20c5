package dashboard

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
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

// textColours lists every piece of text a person can see within the
// elements sel selects (the whole page when sel is ""), with its colour
// and the colour behind it: the first opaque background of it or its
// ancestors, with the translucent ones above composed over it. Form fields
// count by their value.
func textColours(sel string) string {
	return `((sel) => {
  const parse = c => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const over = (top, below) => ({r: top.r * top.a + below.r * (1 - top.a), g: top.g * top.a + below.g * (1 - top.a),
    b: top.b * top.a + below.b * (1 - top.a), a: 1});
  const behind = el => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
    }
    let bg = {r: 255, g: 255, b: 255, a: 1};
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  };
  const rgb = c => "rgb(" + [c.r, c.g, c.b].map(Math.round).join(", ") + ")";
  const classes = el => [...el.classList].map(c => "." + c).join("");
  const name = el => el.tagName.toLowerCase() + classes(el) +
    (el.parentElement ? " in " + el.parentElement.tagName.toLowerCase() + classes(el.parentElement) : "");
  const out = [];
  for (const el of document.body.querySelectorAll("*")) {
    if (el.closest("script, style, option, .sr-only, [hidden]") || (sel && !el.closest(sel))) continue;
    let text = [...el.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join(" ").trim();
    if (el.matches("input:not([type=checkbox]):not([type=radio]):not([type=hidden]), select")) text = el.value;
    if (!text || el.getClientRects().length === 0) continue;
    const st = getComputedStyle(el);
    if (st.visibility !== "visible") continue;
    const bg = behind(el);
    out.push({el: name(el), text: text.slice(0, 40), fg: rgb(over(parse(st.color), bg)), bg: rgb(bg), size: st.fontSize});
  }
  return out;
})(` + strconv.Quote(sel) + `)`
}

type textColour struct {
	El, Text, Fg, Bg, Size string
}

// contrast is the WCAG 2 contrast ratio of two "rgb(r, g, b)" colours.
func contrast(t *testing.T, a, b string) float64 {
	t.Helper()
	lum := func(c string) float64 {
		var r, g, bl float64
		if _, err := fmt.Sscanf(c, "rgb(%g, %g, %g)", &r, &g, &bl); err != nil {
			t.Fatalf("colour %q: %v", c, err)
		}
		ch := func(v float64) float64 {
			v /= 255
			if v <= 0.04045 {
				return v / 12.92
			}
			return math.Pow((v+0.055)/1.055, 2.4)
		}
		return 0.2126*ch(r) + 0.7152*ch(g) + 0.0722*ch(bl)
	}
	la, lb := lum(a), lum(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// minContrast is WCAG's AA level for text of ordinary size; the dashboard
// holds all its text to it, headings included.
const minContrast = 4.5

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
		texts := browsertest.Run(t, ctx, chromedp.Evaluate[[]textColour](textColours("")))
		if len(texts) < 10 {
			t.Fatalf("%s: only %d texts found", page, len(texts))
		}
		for _, sel := range named[page] {
			some := browsertest.Run(t, ctx, chromedp.Evaluate[[]textColour](textColours(sel)))
			if len(some) == 0 {
				t.Fatalf("%s: no text in %s to check", page, sel)
			}
			lowest := math.Inf(1)
			for _, x := range some {
				lowest = min(lowest, contrast(t, x.Fg, x.Bg))
			}
			t.Logf("%s: %s: %.2f:1 at least", page, sel, lowest)
		}
		for _, x := range texts {
			if r := contrast(t, x.Fg, x.Bg); r < minContrast {
				bad = append(bad, fmt.Sprintf("%s: %s %q: %.2f:1 (%s on %s, %s)", page, x.El, x.Text, r, x.Fg, x.Bg, x.Size))
			}
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		t.Fatalf("%d texts under %.1f:1:\n%s", len(bad), minContrast, strings.Join(bad, "\n"))
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
