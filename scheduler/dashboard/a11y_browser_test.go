package dashboard

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/approvals-go/approvals/internal/browsertest"
)

// Every page of the dashboard passes axe-core with no violation, on a
// desktop and on a phone: the hubs, the list, instance pages, the start
// form and every confirmation (the danger ones, terminate, purge, bulk
// terminate and bulk purge, included), and the sign-in page. Its rules
// include target-size, touch targets of 24 px (WCAG 2.2), as Lighthouse's.
func TestAxeEveryPage(t *testing.T) {
	e, pages := lookEnv(t)
	// IDs of a letter or two make the smallest touch targets.
	e.startWaiter("a")
	e.startWaiter("b2")
	guarded := newEnv(t, envOptions{token: "t0ken-for-axe"})
	for _, size := range browsertest.Sizes {
		t.Run(size.Name, func(t *testing.T) {
			ctx := browserTab(t, size.Width, size.Height)
			for _, page := range sortedKeys(pages) {
				browsertest.Do(t, ctx, chromedp.Navigate(e.url+pages[page]))
				browsertest.Axe(t, ctx, page+" ("+size.Name+")")
			}
			browsertest.Do(t, ctx, chromedp.Navigate(guarded.url+"/signin"))
			browsertest.Axe(t, ctx, "sign in ("+size.Name+")")
		})
	}
}

// The keyboard reaches the list quickly: the first Tab stops are skip
// links, to the content and to the instances, and from there the first
// instance is a few Tabs away (it was 45 presses).
func TestBrowserSkipLinks(t *testing.T) {
	e, pages := lookEnv(t)
	ctx := browserTab(t, 1280, 900)
	browsertest.Do(t, ctx, chromedp.Navigate(e.url+pages["list"]))
	focused := func() string {
		return browsertest.Run(t, ctx, chromedp.Evaluate[string](`document.activeElement.textContent.trim()`))
	}
	for _, want := range []string{"Skip to content", "Skip to the instances"} {
		browsertest.Do(t, ctx, chromedp.KeyEvent("\t"))
		if got := focused(); got != want {
			t.Fatalf("Tab focuses %q, want %q", got, want)
		}
	}
	browsertest.Do(t, ctx, chromedp.KeyEvent("\r"))
	for presses := 1; ; presses++ {
		browsertest.Do(t, ctx, chromedp.KeyEvent("\t"))
		if browsertest.Run(t, ctx, chromedp.Evaluate[bool](`document.activeElement.matches("td.id a")`)) {
			t.Logf("the first instance is %d Tab presses after the skip link", presses)
			if presses > 6 {
				t.Errorf("the first instance is %d Tab presses after the skip link", presses)
			}
			return
		}
		if presses > 20 {
			t.Fatalf("20 Tab presses after the skip link the focus is on %q", focused())
		}
	}
}
