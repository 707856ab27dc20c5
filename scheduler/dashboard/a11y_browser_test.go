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
