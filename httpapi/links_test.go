package httpapi_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/approvals-go/approvals/httpapi"
	"github.com/approvals-go/approvals/internal/testenv"
)

// key is a function key distinctive enough to search whole responses for.
const key = "K3y-of-the-function"

// linksAPI serves the API over the real scheduler and worker.
func linksAPI(t *testing.T, opts httpapi.Options) *httptest.Server {
	t.Helper()
	env := testenv.Start(t, "http://approvals.test")
	opts.Logger = testenv.Quiet()
	srv := httptest.NewServer(httpapi.New(httpapi.Scheduler{Client: env.Client}, opts))
	t.Cleanup(srv.Close)
	return srv
}

// answer is what a response says about where the approval lives.
type answer struct {
	location, status, decision string
	// raw is the whole response, headers included.
	raw string
}

func readAnswer(t *testing.T, resp *http.Response) answer {
	t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		t.Fatalf("answer %d %s", resp.StatusCode, body)
	}
	var v struct {
		StatusURI   string `json:"status_uri"`
		DecisionURI string `json:"decision_uri"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	var headers strings.Builder
	if err := resp.Header.Write(&headers); err != nil {
		t.Fatal(err)
	}
	return answer{location: resp.Header.Get("Location"), status: v.StatusURI, decision: v.DecisionURI,
		raw: headers.String() + string(body)}
}

// startVia starts approval "ln-1" with ?code=key, sending host as the Host
// header (the server's own when empty) and the given headers. Starting it
// again answers with the approval as it stands, links included.
func startVia(t *testing.T, srv *httptest.Server, host string, headers map[string]string) answer {
	t.Helper()
	return callVia(t, srv, http.MethodPost, httpapi.ApprovalsPath, `{"request_id":"ln-1","requester":"ana","item":"x"}`, host, headers)
}

func callVia(t *testing.T, srv *httptest.Server, method, path, body, host string, headers map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path+"?code="+key, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return readAnswer(t, resp)
}

// wantLinks checks every link of a start answer against base.
func wantLinks(t *testing.T, what string, a answer, base string, withKey bool) {
	t.Helper()
	status := base + "/api/approvals/ln-1"
	decision := status + "/decision"
	if withKey {
		status += "?code=" + key
		decision += "?code=" + key
	}
	if a.location != status || a.status != status || a.decision != decision {
		t.Errorf("%s: Location %q, status_uri %q, decision_uri %q; want %q and %q", what, a.location, a.status, a.decision, status, decision)
	}
	if !withKey && strings.Contains(a.raw, key) {
		t.Errorf("%s: the function key went to %s:\n%s", what, base, a.raw)
	}
}

func TestLinksIgnoreForwardedHeadersWithoutTrust(t *testing.T) {
	srv := linksAPI(t, httpapi.Options{})
	a := startVia(t, srv, "", map[string]string{"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"})
	wantLinks(t, "untrusted forwarded headers", a, srv.URL, true)
}

func TestLinksHonourForwardedHeadersWhenTrusted(t *testing.T) {
	srv := linksAPI(t, httpapi.Options{TrustForwarded: true})
	own := strings.TrimPrefix(srv.URL, "http://")
	for _, c := range []struct {
		host, fwdHost, fwdProto string
		base                    string
		withKey                 bool
	}{
		// The first value is what the proxy nearest the client saw.
		{"", "public.example:8443, proxy.internal", "HTTPS, http", "https://public.example:8443", false},
		{"", "203.0.113.7", "", "http://203.0.113.7", false},
		{"", "[2001:db8::1]:8443", "https", "https://[2001:db8::1]:8443", false},
		{"", "xn--bcher-kva.example", "https", "https://xn--bcher-kva.example", false},
		// A proxy that names the request's own host keeps the key.
		{"approvals.example", "Approvals.Example", "https", "https://Approvals.Example", true},
		{"", own, "https", "https://" + own, true},
		{"", "", "https", "https://" + own, true},
	} {
		a := startVia(t, srv, c.host, map[string]string{"X-Forwarded-Host": c.fwdHost, "X-Forwarded-Proto": c.fwdProto})
		wantLinks(t, fmt.Sprintf("Host %q, X-Forwarded-Host %q, X-Forwarded-Proto %q", c.host, c.fwdHost, c.fwdProto), a, c.base, c.withKey)
	}
}

func TestLinksIgnoreInvalidForwardedHosts(t *testing.T) {
	srv := linksAPI(t, httpapi.Options{TrustForwarded: true})
	for _, bad := range []string{
		"evil.example/steal", "evil.example?x=", "evil.example#f", "user@evil.example", `evil.example\@good.example`,
		"evil.example:99999", "evil.example:0", "evil.example:", "evil.example:80:80", "evil.example:+80",
		"evil .example", "ev!l.example", "%65vil.example", "evil.example.", "evil..example", ".evil.example",
		"-evil.example", "evil-.example", strings.Repeat("a", 64) + ".example", "1.2.3", "a.99999999999999999999",
		"::1", "[::1", "[::1]x", "[fe80::1%25eth0]", "[203.0.113.7]", ", evil.example", "http://evil.example",
	} {
		a := startVia(t, srv, "", map[string]string{"X-Forwarded-Host": bad})
		wantLinks(t, fmt.Sprintf("X-Forwarded-Host %q", bad), a, srv.URL, true)
	}
	for _, bad := range []string{"javascript", "ftp", "https:", ""} {
		a := startVia(t, srv, "", map[string]string{"X-Forwarded-Proto": bad})
		wantLinks(t, fmt.Sprintf("X-Forwarded-Proto %q", bad), a, srv.URL, true)
	}
}

// TestLinksNeverCarryTheKeyToAForeignHost covers every route that answers
// with links.
func TestLinksNeverCarryTheKeyToAForeignHost(t *testing.T) {
	srv := linksAPI(t, httpapi.Options{TrustForwarded: true})
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	for i, foreign := range []string{"evil.example", fmt.Sprintf("localhost:%d", port), fmt.Sprintf("127.0.0.1:%d", port+1), "127.0.0.1"} {
		headers := map[string]string{"X-Forwarded-Host": foreign}
		wantLinks(t, "start via "+foreign, startVia(t, srv, "", headers), "http://"+foreign, false)

		id := fmt.Sprintf("ln-d%d", i)
		for _, r := range []struct{ method, path, body string }{
			{http.MethodPost, httpapi.ApprovalsPath, `{"request_id":"` + id + `","requester":"ana","item":"x"}`},
			{http.MethodGet, httpapi.ApprovalsPath + "/" + id, ""},
			{http.MethodPost, httpapi.ApprovalsPath + "/" + id + "/decision", `{"approved":true,"approver":"bob"}`},
		} {
			a := callVia(t, srv, r.method, r.path, r.body, "", headers)
			if want := "http://" + foreign + httpapi.ApprovalsPath + "/" + id; a.status != want || (a.location != "" && a.location != want) {
				t.Errorf("%s %s via %s: Location %q, status_uri %q; want %q", r.method, r.path, foreign, a.location, a.status, want)
			}
			if strings.Contains(a.raw, key) {
				t.Errorf("%s %s: the function key went to %s:\n%s", r.method, r.path, foreign, a.raw)
			}
		}
	}
}

func TestLinksPublicBaseURLWins(t *testing.T) {
	srv := linksAPI(t, httpapi.Options{PublicBaseURL: "https://approvals.example.com/base/", TrustForwarded: true})
	// Another host the API serves, named by a trusted proxy.
	a := startVia(t, srv, "approvals.example.com", map[string]string{"X-Forwarded-Host": "localhost:8443", "X-Forwarded-Proto": "http"})
	wantLinks(t, "with PublicBaseURL", a, "https://approvals.example.com/base", true)
}

// TestLinksRelativeWithoutAValidHost sends what Go's client will not: an
// HTTP/1.0 request without Host, and Hosts the server serves (addresses)
// but links must not carry. The links then lead back to wherever the
// client sent the request, and so keep the key.
func TestLinksRelativeWithoutAValidHost(t *testing.T) {
	srv := linksAPI(t, httpapi.Options{})
	const body = `{"request_id":"ln-1","requester":"ana","item":"x"}`
	for _, head := range []string{
		"HTTP/1.0\r\n",
		"HTTP/1.1\r\nHost: 127.0.0.1:99999\r\nConnection: close\r\n",
		"HTTP/1.1\r\nHost: [fe80::1%25eth0]:7071\r\nConnection: close\r\n",
		"HTTP/1.1\r\nHost: [203.0.113.7]\r\nConnection: close\r\n",
	} {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST %s?code=%s %sContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			httpapi.ApprovalsPath, url.QueryEscape(key), head, len(body), body)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		wantLinks(t, fmt.Sprintf("request %q", head), readAnswer(t, resp), "", true)
		conn.Close()
	}
}
