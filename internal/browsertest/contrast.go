package browsertest

import (
	"fmt"
	"math"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"
)

// TextColours lists every piece of text a person can see within the
// elements sel selects (the whole page when sel is ""), with its colour
// and the colour behind it: the first opaque background of it or its
// ancestors, with the translucent ones above composed over it. Form fields
// count by their value.
func TextColours(sel string) chromedp.Action[[]TextColour] {
	return chromedp.Evaluate[[]TextColour](`((sel) => {
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
})(` + strconv.Quote(sel) + `)`)
}

// TextColour is a piece of text, where it is, and its colours.
type TextColour struct {
	El, Text, Fg, Bg, Size string
}

// Contrast is the WCAG 2 contrast ratio of two "rgb(r, g, b)" colours.
func Contrast(t testing.TB, a, b string) float64 {
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

// MinContrast is WCAG's AA level for text of ordinary size; the pages and
// the dashboard hold all their text to it, headings included.
const MinContrast = 4.5
