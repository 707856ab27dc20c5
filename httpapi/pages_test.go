package httpapi_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/approvals-go/approvals/httpapi"
)

// What Chromium sends for a page load and for a form post.
var (
	browserGet  = http.Header{"Accept": {"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"}}
	browserPost = http.Header{"Accept": browserGet["Accept"], "Sec-Fetch-Site": {"same-origin"}}
)

// One route answers a browser with a page and everyone else with the JSON
// the API always gave, by the Accept header.
func TestContentNegotiation(t *testing.T) {
	e := newAPI(t)
	e.startFor(t, "cn-1", "Laptop", "bob")
	for _, accept := range []string{"", "*/*", "application/json", "application/json, text/html", "text/html;q=0.5, application/json", "application/problem+json"} {
		r := e.with(http.Header{"Accept": {accept}}).do(t, http.MethodGet, "/api/approvals/cn-1", "", "")
		if r.code != http.StatusAccepted || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") || r.body["id"] != "cn-1" || r.header.Get("Location") == "" {
			t.Fatalf("Accept %q: %d %s %s", accept, r.code, r.header.Get("Content-Type"), r.raw)
		}
		if r.header.Get("Vary") != "Accept" {
			t.Fatalf("Accept %q: Vary %q", accept, r.header.Get("Vary"))
		}
	}
	for _, accept := range []string{browserGet.Get("Accept"), "text/html", "text/html, application/json;q=0.9"} {
		r := e.with(http.Header{"Accept": {accept}}).do(t, http.MethodGet, "/api/approvals/cn-1", "", "")
		if r.code != http.StatusOK || r.header.Get("Content-Type") != "text/html; charset=utf-8" || !strings.Contains(r.raw, "<h1 id=\"item\">Laptop</h1>") {
			t.Fatalf("Accept %q: %d %s %.200s", accept, r.code, r.header.Get("Content-Type"), r.raw)
		}
		// The page on the machine route decides through the decision
		// route, with the same function key.
		if !strings.Contains(r.raw, `action="`+e.url+`/api/approvals/cn-1/decision"`) {
			t.Fatalf("the page's form posts elsewhere: %s", r.raw)
		}
	}

	// A browser's form post to the decision route is sent back to the
	// page; a script asking for JSON gets the JSON answer.
	form := url.Values{"approved": {"true"}, "approver": {"bob"}, "comments": {"fine"}}.Encode()
	b := e.with(browserPost).do(t, http.MethodPost, "/api/approvals/cn-1/decision?code=k3y", ctForm, form)
	if b.code != http.StatusSeeOther || b.header.Get("Location") != e.url+"/api/approvals/cn-1?code=k3y" {
		t.Fatalf("browser decision = %d Location %q %s", b.code, b.header.Get("Location"), b.raw)
	}
	j := e.with(http.Header{"Accept": {"application/json"}}).do(t, http.MethodPost, "/api/approvals/cn-1/decision", ctForm, form)
	if j.code != http.StatusOK || j.body["status"] != "Approved" {
		t.Fatalf("script decision = %d %s", j.code, j.raw)
	}
	// A browser whose decision lost is shown the outcome that stands.
	lost := e.with(browserPost).do(t, http.MethodPost, "/api/approvals/cn-1/decision", ctForm, url.Values{"approved": {"false"}, "approver": {"bob"}}.Encode())
	if lost.code != http.StatusConflict || !strings.Contains(lost.raw, "Your decision was not recorded.") || !strings.Contains(lost.raw, "Approved by") {
		t.Fatalf("losing browser decision = %d %.600s", lost.code, lost.raw)
	}

	// Errors are pages for browsers too.
	nf := e.with(browserGet).do(t, http.MethodGet, "/api/approvals/nope", "", "")
	if nf.code != http.StatusNotFound || !strings.HasPrefix(nf.header.Get("Content-Type"), "text/html") || !strings.Contains(nf.raw, "Not found") {
		t.Fatalf("404 page = %d %s", nf.code, nf.raw)
	}
}

// Pages load nothing from elsewhere and run no inline script or style, so
// a policy without unsafe-inline holds; assets have hashed names and a
// long cache; every control has a label.
func TestPageSafety(t *testing.T) {
	e := newAPI(t)
	e.startFor(t, "ps-1", `<script>alert("x")</script>`, "bob")
	for _, path := range []string{"/api/review/ps-1", "/api/review", "/api/approvals", "/api/approvals/ps-1", "/api/review/unknown"} {
		r := e.with(browserGet).do(t, http.MethodGet, path, "", "")
		csp := r.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
			!strings.Contains(csp, "form-action 'self'") || strings.Contains(csp, "unsafe") {
			t.Fatalf("%s: policy %q", path, csp)
		}
		if r.header.Get("Referrer-Policy") != "no-referrer" || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("%s: headers %v", path, r.header)
		}
		if strings.Contains(r.raw, "<script>alert") {
			t.Fatalf("%s: the item is not escaped", path)
		}
		if inline.MatchString(r.raw) {
			t.Fatalf("%s: inline script or style: %s", path, inline.FindString(r.raw))
		}
		if strings.Contains(r.raw, "http://") || strings.Contains(r.raw, "https://") {
			for _, u := range absolute.FindAllString(r.raw, -1) {
				if !strings.HasPrefix(u, e.url) {
					t.Fatalf("%s: loads %s", path, u)
				}
			}
		}
		for _, id := range controlIDs.FindAllStringSubmatch(r.raw, -1) {
			if !strings.Contains(r.raw, `for="`+id[1]+`"`) {
				t.Fatalf("%s: control %s has no label", path, id[1])
			}
		}
		for _, asset := range assetRef.FindAllStringSubmatch(r.raw, -1) {
			a := e.do(t, http.MethodGet, asset[1], "", "")
			if a.code != http.StatusOK || a.header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
				t.Fatalf("%s: asset %s = %d %v", path, asset[1], a.code, a.header)
			}
		}
	}
	if r := e.do(t, http.MethodGet, httpapi.AssetsPath+"/app.css", "", ""); r.code != http.StatusNotFound {
		t.Fatalf("an asset without its hash = %d", r.code)
	}
}

var (
	// inline finds a script without src, a style element or attribute, or
	// an event handler attribute.
	inline     = regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]|<style|\sstyle=|\son[a-z]+=`)
	absolute   = regexp.MustCompile(`https?://[^"'\s<>]+`)
	controlIDs = regexp.MustCompile(`<(?:input|textarea|select)[^>]*\sid="([^"]+)"`)
	assetRef   = regexp.MustCompile(`(?:href|src)="(/api/assets/[^"]+)"`)
)
