package e2e

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func fetch(t *testing.T, c *http.Client, url string, header http.Header) (int, string) {
	t.Helper()
	resp, body := fetchResponse(t, c, url, header)
	return resp.StatusCode, string(body)
}

// fetchResponse is fetch with the response's header.
func fetchResponse(t *testing.T, c *http.Client, url string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	// A Host in header is the one sent, as a browser sends whatever name
	// it resolved to the address.
	if host := header.Get("Host"); host != "" {
		req.Host = host
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// The seed's walk-through as a new user runs it: go run ./cmd/dev, an
// approval from the console client, then the dashboard at the address the
// banner prints shows the instance and its history.
func TestDashboardAfterConsoleClient(t *testing.T) {
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	dashAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	dev := start(t, "dev", nil, "-http", httpAddr, "-grpc", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "-dashboard", dashAddr, "-data", "")
	waitLog(t, dev, "dashboard   http://"+dashAddr)

	cmd := exec.Command(filepath.Join(binaries(t), "client"), "-url", "http://"+httpAddr, "-approve")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Final status: Approved") {
		t.Fatalf("client: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Created approval request (\S+) `).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("client printed no ID:\n%s", out)
	}
	id := m[1]

	c := &http.Client{Timeout: 10 * time.Second}
	code, body := fetch(t, c, "http://"+dashAddr+"/", nil)
	if code != 200 || !strings.Contains(body, `href="/hubs/default/"`) {
		t.Fatalf("dashboard front page: %d\n%s", code, body)
	}
	code, body = fetch(t, c, "http://"+dashAddr+"/hubs/default/", nil)
	if code != 200 || !strings.Contains(body, ">"+id+"</a>") {
		t.Fatalf("the hub's list lacks %s: %d\n%s", id, code, body)
	}
	code, body = fetch(t, c, "http://"+dashAddr+"/hubs/default/instances/"+id, nil)
	if code != 200 {
		t.Fatalf("instance page: %d\n%s", code, body)
	}
	rest := body
	for _, step := range []string{"submit_approval_request", "Timer created", "Never fired", "approval_response", "process_approval", "Orchestration completed"} {
		i := strings.Index(rest, step)
		if i < 0 {
			t.Fatalf("the instance page lacks %q in order", step)
		}
		rest = rest[i:]
	}
	code, _ = fetch(t, c, "http://"+dashAddr+"/api/v1/taskhubs/ping", http.Header{"X-Taskhub": {"default"}})
	if code != 200 {
		t.Fatalf("ping: %d", code)
	}
}

// Beyond loopback the scheduler's dashboard is guarded like its gRPC port:
// refused without TLS and the token, and with them served over TLS to
// callers that present the token.
func TestSchedulerDashboardNeedsTLSAndToken(t *testing.T) {
	port := freePort(t)
	line := refusal(t, "scheduler", "-grpc", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "-dashboard", fmt.Sprintf("0.0.0.0:%d", port), "-data", "")
	wantAll(t, "dashboard beyond loopback", line, "refusing to serve the dashboard on ", "without TLS and a bearer token",
		fmt.Sprintf("-dashboard 127.0.0.1:%d", port))

	const token = "t0ken-for-dashboard-tests"
	cert, key, roots := certFiles(t)
	p := start(t, "scheduler", []string{"DURABLE_TASK_SCHEDULER_TOKEN=" + token},
		"-grpc", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "-dashboard", fmt.Sprintf("0.0.0.0:%d", port), "-data", "",
		"-tls-cert", cert, "-tls-key", key, "-dashboard-hosts", "sched.example.test, other.example.test")
	waitLog(t, p, "dashboard listening")
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := fmt.Sprintf("https://127.0.0.1:%d", port)
	if code, _ := fetch(t, c, base+"/api/v1/taskhubs/ping", nil); code != http.StatusUnauthorized {
		t.Fatalf("ping without the token: %d", code)
	}
	if code, _ := fetch(t, c, base+"/hubs/default/", nil); code != http.StatusSeeOther {
		t.Fatalf("a page without the token: %d, want a redirect to sign in", code)
	}
	if code, body := fetch(t, c, base+"/api/v1/taskhubs/ping", http.Header{"Authorization": {"Bearer " + token}}); code != 200 {
		t.Fatalf("ping with the token: %d %s", code, body)
	}
	// It answers to the names -dashboard-hosts gives, localhost and
	// addresses; a rebinding page's name is refused, token or not.
	for host, want := range map[string]int{"sched.example.test": 200, "Other.Example.Test:8443": 200,
		fmt.Sprintf("localhost:%d", port): 200, "rebind.evil.example": http.StatusMisdirectedRequest} {
		h := http.Header{"Authorization": {"Bearer " + token}, "Host": {host}}
		if code, body := fetch(t, c, base+"/api/v1/taskhubs/ping", h); code != want {
			t.Errorf("ping via Host %q: %d %s, want %d", host, code, body, want)
		}
	}
	// Plain HTTP gets the TLS server's refusal, never a page.
	if code, body := fetch(t, &http.Client{Timeout: 10 * time.Second}, fmt.Sprintf("http://127.0.0.1:%d/", port), nil); code != http.StatusBadRequest {
		t.Fatalf("plain HTTP: %d %s", code, body)
	}
}
