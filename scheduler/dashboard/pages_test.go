package dashboard

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"

	"github.com/approvals-go/approvals/dts/mgmt"
)

func TestHubsPageCountsByStatus(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startApproval("hub-a", "ana", time.Hour)
	e.startApproval("hub-b", "ana", time.Hour)
	e.startApproval("hub-c", "ana", time.Hour)
	e.decide("hub-b", true, "bob")

	r := e.get("/")
	wantStatus(t, "GET /", r, 200)
	wantBody(t, "GET /", r, `href="/hubs/default/"`, "<strong>3</strong> orchestration instances")
	for status, n := range map[string]int{"running": 2, "completed": 1, "pending": 0, "failed": 0} {
		re := regexp.MustCompile(`\?status=` + status + `" class="count"><span class="badge ` + status + `">[A-Za-z]+</span><span class="num">(\d+)</span>`)
		m := re.FindStringSubmatch(r.body)
		if m == nil || m[1] != fmt.Sprint(n) {
			t.Errorf("count of %s: got %v, want %d", status, m, n)
		}
	}
}

// listedIDs are the instance IDs of a list page, in order.
func listedIDs(body string) []string {
	var ids []string
	for _, m := range regexp.MustCompile(`<td class="id"><a href="[^"]+">([^<]+)</a>`).FindAllStringSubmatch(body, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

func TestListNewestFirstWithFiltersInTheURL(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, id := range []string{"alpha-1", "alpha-2", "beta-1", "alpha-3", "beta-2"} {
		e.startApproval(id, "ana", time.Hour)
	}
	mid := time.Now().UTC()
	time.Sleep(5 * time.Millisecond)
	e.startApproval("alpha-4", "ana", time.Hour)
	e.decide("alpha-2", false, "bob")

	r := e.get("/hubs/default/")
	wantStatus(t, "list", r, 200)
	if got, want := strings.Join(listedIDs(r.body), " "), "alpha-4 beta-2 alpha-3 beta-1 alpha-2 alpha-1"; got != want {
		t.Fatalf("list order: %s, want %s", got, want)
	}
	wantBody(t, "list", r, "Showing <strong>1–6</strong> of <strong>6</strong>", "Awaiting decision · due in 59m", "Rejected by bob",
		`<span class="badge completed">Completed</span>`)

	cases := []struct {
		query string
		want  string
	}{
		{"prefix=alpha-", "alpha-4 alpha-3 alpha-2 alpha-1"},
		{"status=completed", "alpha-2"},
		{"status=running&prefix=beta", "beta-2 beta-1"},
		{"status=running,completed&prefix=alpha-1", "alpha-1"},
		{"from=" + url.QueryEscape(mid.Format(time.RFC3339Nano)), "alpha-4"},
		{"to=" + url.QueryEscape(mid.Format(time.RFC3339Nano)), "beta-2 alpha-3 beta-1 alpha-2 alpha-1"},
		{"size=2&page=2", "alpha-3 beta-1"},
		{"size=2&page=3", "alpha-2 alpha-1"},
	}
	for _, c := range cases {
		r := e.get("/hubs/default/?" + c.query)
		wantStatus(t, c.query, r, 200)
		if got := strings.Join(listedIDs(r.body), " "); got != c.want {
			t.Errorf("?%s lists %q, want %q", c.query, got, c.want)
		}
	}

	// The filter travels in every link: status tabs, pages and the bulk
	// form's "all matching".
	r = e.get("/hubs/default/?prefix=alpha-&size=2&page=2")
	wantBody(t, "paged list", r, "Showing <strong>3–4</strong> of <strong>4</strong>",
		`href="/hubs/default/?prefix=alpha-&amp;size=2" class="button" rel="prev"`,
		`href="/hubs/default/?prefix=alpha-&amp;size=2&amp;status=completed"`,
		`<input type="hidden" name="prefix" value="alpha-">`)

	if strings.Contains(r.body, `rel="next"`) {
		t.Error("the last page links to a next one")
	}
	wantBody(t, "first page", e.get("/hubs/default/?prefix=alpha-&size=2"),
		`href="/hubs/default/?page=2&amp;prefix=alpha-&amp;size=2" class="button" rel="next"`)

	// A mistyped filter is reported and ignored, not a broken page.
	r = e.get("/hubs/default/?status=sleeping&from=yesterday")
	wantStatus(t, "bad filter", r, 200)
	wantBody(t, "bad filter", r, "unknown status &#34;sleeping&#34;", "is not a date and time")
	if n := len(listedIDs(r.body)); n != 6 {
		t.Errorf("bad filter lists %d instances, want all 6", n)
	}
	wantStatus(t, "unknown hub", e.get("/hubs/nope/"), 404)
}

func TestInstancePageShowsTheWalkThrough(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startApproval("walk-1", "ana", time.Hour)
	e.decide("walk-1", true, "bob")

	r := e.get("/hubs/default/instances/walk-1")
	wantStatus(t, "instance", r, 200)
	wantBody(t, "instance", r, `<span class="badge big completed">Completed</span>`, "Approved by bob",
		"Input", "&#34;requester&#34;: &#34;ana&#34;", "Custom status", "Output", "&#34;status&#34;: &#34;Approved&#34;")
	inOrder(t, "timeline", r.body,
		"Orchestration started", "human_interaction_orchestrator",
		"Activity scheduled", "submit_approval_request",
		"Activity completed", "submit_approval_request",
		"Timer created", "fires at", "Never fired",
		"Event raised", "approval_response", "Approved by bob: “fine” — arrived ",
		"Activity scheduled", "process_approval",
		"Activity completed", "process_approval",
		"Orchestration completed")
	if n := strings.Count(r.body, `class="since"`); n < 6 {
		t.Errorf("only %d steps show the time since the previous one", n)
	}
	// A finished instance offers restart and purge, not terminate.
	wantBody(t, "actions", r, `href="/hubs/default/instances/walk-1/restart"`, `href="/hubs/default/instances/walk-1/purge"`)
	if strings.Contains(r.body, "/terminate\"") {
		t.Error("a completed instance offers terminate")
	}

	e.startApproval("walk-2", "ana", time.Hour)
	r = e.get("/hubs/default/instances/walk-2")
	wantBody(t, "waiting instance", r, "Timer created", "Not fired yet", `href="/hubs/default/instances/walk-2/decide"`,
		`href="/hubs/default/instances/walk-2/terminate"`, `id="refresh"`)
	wantStatus(t, "unknown instance", e.get("/hubs/default/instances/nope"), 404)
}

// BenchmarkInstancePage measures the page of a waiting approval, served
// in process so that the page's own work is what is measured: the
// instance and a window of its history read, the app's parts and the
// render.
func BenchmarkInstancePage(b *testing.B) {
	e := newEnv(b, envOptions{})
	e.startApproval("bench-1", "ana", time.Hour)
	req := httptest.NewRequest(http.MethodGet, e.url+"/hubs/default/instances/bench-1", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		e.dash.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}

func TestLongHistoryOpensAPageAtATime(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startWaiter("long-1")
	const events = 10000
	began := time.Now()
	ids := make(chan int)
	errs := make(chan error, 16)
	for range 16 {
		go func() {
			for n := range ids {
				if err := e.hub.Raise(t.Context(), "long-1", "tick", fmt.Sprint(n)); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for n := range events {
		ids <- n
	}
	close(ids)
	for range 16 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := e.hub.Raise(t.Context(), "long-1", "stop", `"done"`); err != nil {
		t.Fatal(err)
	}
	e.waitFor("long-1", func(in *mgmt.Instance) bool { return in.RuntimeStatus == api.RUNTIME_STATUS_COMPLETED })
	t.Logf("%d events raised and processed in %s", events, time.Since(began))

	_, total, err := e.hub.History(t.Context(), "long-1", 0, 1)
	if err != nil || total < events {
		t.Fatalf("history holds %d events (%v), want at least %d", total, err, events)
	}
	began = time.Now()
	r := e.get("/hubs/default/instances/long-1")
	t.Logf("instance page with %d events: %s, %d bytes", total, time.Since(began), len(r.body))
	wantStatus(t, "long instance", r, 200)
	wantBody(t, "long instance", r, fmt.Sprintf("Events 1–200 of %s", commas(total)), "Later ›", "Last events »")
	if n := strings.Count(r.body, `<li class="step`); n != historyWindow {
		t.Errorf("first page shows %d steps, want %d", n, historyWindow)
	}
	last := e.get(fmt.Sprintf("/hubs/default/instances/long-1?events=%d", total-historyWindow))
	wantBody(t, "last page", last, fmt.Sprintf("Events %s–%s of %s", commas(total-historyWindow+1), commas(total), commas(total)),
		"Orchestration completed", "‹ Earlier")

	// And it can be purged from the dashboard.
	r = e.post("/hubs/default/instances/long-1/purge", url.Values{"confirm": {"yes"}}, sameSite(e))
	wantStatus(t, "purge", r, 303)
	if e.instance("long-1") != nil {
		t.Fatal("long-1 still exists after the purge")
	}
}

func TestPagesAreSafeAndSelfContained(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startApproval("safe-1", "ana", time.Hour)
	for _, path := range []string{"/", "/hubs/default/", "/hubs/default/instances/safe-1", "/hubs/default/instances/safe-1/terminate", "/hubs/default/start"} {
		r := e.get(path)
		wantStatus(t, path, r, 200)
		csp := r.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if strings.Contains(r.body, "<script>") || strings.Contains(r.body, " style=") || strings.Contains(r.body, "http://") && strings.Contains(r.body, "src=\"http") {
			t.Errorf("%s: inline script or style, or an asset from elsewhere", path)
		}
		for _, m := range regexp.MustCompile(`(?:href|src)="(/static/[^"]+)"`).FindAllStringSubmatch(r.body, -1) {
			a := e.get(m[1])
			wantStatus(t, m[1], a, 200)
			if !regexp.MustCompile(`\.[0-9a-f]{12}\.(css|js|svg)$`).MatchString(m[1]) || !strings.Contains(a.header.Get("Cache-Control"), "immutable") {
				t.Errorf("%s: not a content-hashed, immutable asset (%s)", m[1], a.header.Get("Cache-Control"))
			}
		}
	}
	wantStatus(t, "unhashed asset", e.get("/static/dashboard.css"), 404)
}

func TestTokenIsRequiredWhenSet(t *testing.T) {
	const token = "s3cret-token-for-tests"
	e := newEnv(t, envOptions{token: token})
	r := e.get("/hubs/default/")
	wantStatus(t, "no token", r, 303)
	if loc := r.header.Get("Location"); loc != "/signin?next=%2Fhubs%2Fdefault%2F" {
		t.Fatalf("redirected to %q", loc)
	}
	wantStatus(t, "API without token", e.api("GET", "ping", nil, nil), 401)
	wantStatus(t, "sign-in page", e.get("/signin"), 200)
	wantStatus(t, "wrong token", e.post("/signin", url.Values{"token": {"nope"}}, sameSite(e)), 401)
	wantStatus(t, "cross-site sign-in", e.post("/signin", url.Values{"token": {token}}, crossSite()), 403)

	r = e.post("/signin", url.Values{"token": {token}, "next": {"/hubs/default/"}}, sameSite(e))
	wantStatus(t, "sign in", r, 303)
	cookie := r.header.Get("Set-Cookie")
	if !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Strict") || strings.Contains(cookie, token) {
		t.Fatalf("session cookie %q", cookie)
	}
	session := strings.SplitN(cookie, ";", 2)[0]
	wantStatus(t, "with cookie", e.do("GET", "/hubs/default/", nil, map[string][]string{"Cookie": {session}}), 200)
	wantStatus(t, "API with bearer", e.do("GET", "/api/v1/taskhubs/ping", nil, map[string][]string{"Authorization": {"Bearer " + token}}), 200)
	wantStatus(t, "API with wrong bearer", e.do("GET", "/api/v1/taskhubs/ping", nil, map[string][]string{"Authorization": {"Bearer x" + token}}), 401)
	// An open redirect is not on offer.
	r = e.post("/signin", url.Values{"token": {token}, "next": {"//evil.example/"}}, sameSite(e))
	if loc := r.header.Get("Location"); loc != "/" {
		t.Fatalf("sign-in redirected to %q", loc)
	}
}
