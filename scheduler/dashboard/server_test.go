package dashboard

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/approvals-go/approvals/dts/mgmt"
)

// TestRebindingHostsAreRefused is DNS rebinding: a page on a domain whose
// name its author has pointed at the dashboard's address drives it as its
// own origin, so the cross-site check lets its posts through; only Host
// still names that domain. Pages, actions and the JSON API answer 421
// naming the host, and the instance is left running; the hosts served go
// through, the same terminate included.
func TestRebindingHostsAreRefused(t *testing.T) {
	e := newEnv(t, envOptions{hosts: []string{"sched.example.com"}})
	e.startWaiter("rebind-1")
	port := e.url[strings.LastIndexByte(e.url, ':')+1:]
	terminate := "/hubs/default/instances/rebind-1/terminate"
	form := url.Values{"reason": {"rebound"}, "confirm": {"yes"}}
	for _, host := range []string{
		"rebind.evil.example:" + port, "rebind.evil.example", "localhost.evil.example:" + port,
		"sched.example.com.evil.example:" + port, "127.0.0.1.nip.io:" + port,
	} {
		// What the rebinding page's browser sends: its own origin.
		page := http.Header{"Host": {host}, "Sec-Fetch-Site": {"same-origin"}, "Origin": {"http://" + host}}
		for what, r := range map[string]response{
			"home":          e.do(http.MethodGet, "/", nil, page),
			"instances":     e.do(http.MethodGet, "/hubs/default/", nil, page),
			"terminate":     e.post(terminate, form, page),
			"sign-in":       e.do(http.MethodGet, "/signin?next=/", nil, page),
			"asset":         e.do(http.MethodGet, "/static/dashboard.css", nil, page),
			"API ping":      e.do(http.MethodGet, "/api/v1/taskhubs/ping", nil, page),
			"API terminate": e.do(http.MethodPost, "/api/v1/taskhubs/orchestrations/rebind-1/history", strings.NewReader(`{"executionTerminated":{"reason":"rebound"}}`), page),
		} {
			wantStatus(t, what+" via "+host, r, http.StatusMisdirectedRequest)
			wantBody(t, what+" via "+host, r, "is not served here")
			if strings.HasPrefix(what, "API") && r.header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("%s via %s: Content-Type %q", what, host, r.header.Get("Content-Type"))
			}
		}
	}
	time.Sleep(200 * time.Millisecond)
	if s := e.snapshot("rebind-1"); !strings.HasPrefix(s, "Running") {
		t.Fatalf("rebound requests changed the instance: %s", s)
	}

	for _, host := range []string{"localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port, "10.1.2.3:8082", "sched.example.com", "Sched.Example.com:8443"} {
		wantStatus(t, "home via "+host, e.do(http.MethodGet, "/", nil, http.Header{"Host": {host}}), http.StatusOK)
	}
	local := "localhost:" + port
	r := e.post(terminate, form, http.Header{"Host": {local}, "Sec-Fetch-Site": {"same-origin"}, "Origin": {"http://" + local}})
	wantStatus(t, "terminate via "+local, r, http.StatusSeeOther)
	e.waitFor("rebind-1", func(in *mgmt.Instance) bool { return mgmt.Final(in.RuntimeStatus) })
}

// TestSignInNextStaysOnTheDashboard: sign-in sends the browser on to a
// path of the dashboard only. Each hostile next, given as a browser would
// send it in the query and in the form, falls back to the home page; the
// dashboard's own paths are kept.
func TestSignInNextStaysOnTheDashboard(t *testing.T) {
	const token = "s3cret-token-for-tests"
	e := newEnv(t, envOptions{token: token})
	hostile := []string{
		"/%09/evil.example", "%2F%2Fevil.example", "%2F%5Cevil.example", "/%2F/evil.example", "/%5C/evil.example",
		"//evil.example", "///evil.example", "/\\evil.example", "\\\\evil.example", "/\t/evil.example", "/\n/evil.example",
		"/\r\n/evil.example", " //evil.example", "/ /evil.example", "/\u00a0/evil.example", "/\u2028/evil.example",
		"https://evil.example/", "HTTPS://evil.example", "http:evil.example", "javascript:alert(1)", "data:text/html,x",
		"//user@evil.example", "/%00/evil.example", "\x00/evil", "evil.example", "", "/\xff/evil",
	}
	for _, next := range hostile {
		r := e.post("/signin", url.Values{"token": {token}, "next": {next}}, sameSite(e))
		if loc := r.header.Get("Location"); r.status != http.StatusSeeOther || loc != "/" {
			t.Errorf("sign-in with next %q: %d to %q, want 303 to /", next, r.status, loc)
		}
		// The sign-in form carries only what it would send the browser on to.
		r = e.get("/signin?next=" + url.QueryEscape(next))
		wantStatus(t, fmt.Sprintf("sign-in form with next %q", next), r, http.StatusOK)
		if !strings.Contains(r.body, `name="next" value="/"`) {
			t.Errorf("sign-in form with next %q keeps another next", next)
		}
	}
	// The raw query as a page would link it, decoded once by the server.
	for _, raw := range []string{"/%09/evil.example", "%2F%2Fevil.example", "%2F%5Cevil.example", "/%0A/evil.example"} {
		r := e.get("/signin?next=" + raw)
		if !strings.Contains(r.body, `name="next" value="/"`) {
			t.Errorf("sign-in form with raw next %q keeps another next", raw)
		}
	}
	for _, next := range []string{"/", "/hubs/default/", "/hubs/default/?status=running&prefix=a-", "/hubs/default/instances/a%2Fb"} {
		r := e.post("/signin", url.Values{"token": {token}, "next": {next}}, sameSite(e))
		if loc := r.header.Get("Location"); loc != next {
			t.Errorf("sign-in with next %q went to %q", next, loc)
		}
	}
}
