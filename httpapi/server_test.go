package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/client"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/httpapi"
)

// counting wraps the real scheduler client and counts what reaches it, to
// prove that bad requests start and raise nothing.
type counting struct {
	httpapi.Orchestrations
	starts, decisions atomic.Int32
	// failGets makes Get fail as an unreachable scheduler would.
	failGets atomic.Bool
}

func (c *counting) Get(ctx context.Context, id string) (*api.OrchestrationMetadata, error) {
	if c.failGets.Load() {
		return nil, errors.New("scheduler unavailable")
	}
	return c.Orchestrations.Get(ctx, id)
}

func (c *counting) Start(ctx context.Context, req approval.Request) error {
	c.starts.Add(1)
	return c.Orchestrations.Start(ctx, req)
}

func (c *counting) Decide(ctx context.Context, id string, d approval.Decision) error {
	c.decisions.Add(1)
	return c.Orchestrations.Decide(ctx, id, d)
}

type apiEnv struct {
	url     string
	orch    *counting
	notices *notices
	client  *client.TaskHubGrpcClient
	// header is added to every request.
	header http.Header
}

func newAPI(t *testing.T) *apiEnv {
	t.Helper()
	return newAPIWith(t, httpapi.Options{RetryAfter: 2 * time.Second})
}

// testSigner signs approval links with a test key.
func testSigner(t *testing.T) *approval.LinkSigner {
	t.Helper()
	signer, err := approval.NewLinkSigner(strings.Repeat("k", 32), "")
	if err != nil {
		t.Fatal(err)
	}
	return signer
}

func newAPIWith(t *testing.T, opts httpapi.Options) *apiEnv {
	t.Helper()
	s := serve(t, opts)
	return &apiEnv{url: s.url, orch: s.orch, notices: s.notices, client: s.client}
}

type response struct {
	code   int
	header http.Header
	body   map[string]any
	raw    string
}

func (e *apiEnv) do(t testing.TB, method, path, contentType, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for name, values := range e.header {
		req.Header[name] = values
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{code: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func (e *apiEnv) postJSON(t *testing.T, path string, body any) response {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return e.do(t, http.MethodPost, path, "application/json", string(b))
}

func (e *apiEnv) postForm(t *testing.T, path string, v url.Values) response {
	t.Helper()
	return e.do(t, http.MethodPost, path, "application/x-www-form-urlencoded", v.Encode())
}

// until polls the status route until it answers 200 or the pending approval
// has been submitted, depending on done.
func (e *apiEnv) until(t testing.TB, id string, done func(response) bool) response {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := e.do(t, http.MethodGet, "/api/approvals/"+id, "", "")
		if done(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("approval %s: gave up waiting; last answer %d %s", id, r.code, r.raw)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func finished(r response) bool { return r.code == http.StatusOK }
func submitted(r response) bool {
	return r.code == http.StatusAccepted && r.body["submitted_at"] != nil
}

func TestReadiness(t *testing.T) {
	e := newAPI(t)
	if r := e.do(t, http.MethodGet, "/", "", ""); r.code != http.StatusOK {
		t.Fatalf("GET / = %d", r.code)
	}
}

func TestApproveWithJSON(t *testing.T) {
	e := newAPI(t)
	r := e.postJSON(t, "/api/approvals", map[string]any{"request_id": "exp-100", "requester": "ana", "item": "laptop", "approver": "bob", "timeout_hours": 1.5})
	if r.code != http.StatusAccepted {
		t.Fatalf("start = %d %s", r.code, r.raw)
	}
	statusURI := e.url + "/api/approvals/exp-100"
	if r.header.Get("Location") != statusURI || r.header.Get("Retry-After") != "2" {
		t.Fatalf("start headers: Location=%q Retry-After=%q", r.header.Get("Location"), r.header.Get("Retry-After"))
	}
	if r.body["id"] != "exp-100" || r.body["status"] != "Pending" || r.body["status_uri"] != statusURI ||
		r.body["decision_uri"] != statusURI+"/decision" || r.body["timeout_hours"] != 1.5 || r.body["approver"] != "bob" {
		t.Fatalf("start body = %s", r.raw)
	}

	p := e.until(t, "exp-100", submitted)
	if p.header.Get("Location") != statusURI || p.header.Get("Retry-After") != "2" || p.body["status"] != "Pending" ||
		p.body["approval_url"] != e.url+"/api/review/exp-100" || p.body["expires_at"] == nil || p.body["requester"] != "ana" {
		t.Fatalf("pending status: %v %s", p.header, p.raw)
	}

	// With a worker running, the decision is answered with its outcome.
	d := e.postJSON(t, "/api/approvals/exp-100/decision", map[string]any{"approved": true, "approver": "bob", "comments": "fine"})
	if d.code != http.StatusOK || d.body["id"] != "exp-100" || d.body["status"] != "Approved" || d.header.Get("Location") != "" {
		t.Fatalf("decision = %d %s", d.code, d.raw)
	}

	f := e.until(t, "exp-100", finished)
	result, _ := f.body["result"].(map[string]any)
	if f.body["status"] != "Approved" || result["approver"] != "bob" || result["comments"] != "fine" || result["processed_at"] == nil {
		t.Fatalf("final = %s", f.raw)
	}
	if f.header.Get("Location") != "" || f.body["decision_uri"] != nil {
		t.Fatalf("a finished approval still offers polling or decisions: %v %s", f.header, f.raw)
	}

	again := e.postJSON(t, "/api/approvals/exp-100/decision", map[string]any{"approved": false, "approver": "eve"})
	if again.code != http.StatusConflict || again.body["approval_status"] != "Approved" || again.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("second decision = %d %s", again.code, again.raw)
	}
	if winner, _ := again.body["result"].(map[string]any); winner["approver"] != "bob" {
		t.Fatalf("a conflicting decision is not told the outcome that stands: %s", again.raw)
	}
	if n := e.orch.decisions.Load(); n != 1 {
		t.Fatalf("%d decisions reached the scheduler, want 1", n)
	}
}

func TestRejectWithForms(t *testing.T) {
	e := newAPI(t)
	r := e.postForm(t, "/api/approvals", url.Values{"requester": {"ana"}, "item": {"chair"}, "timeout": {"1h"}})
	if r.code != http.StatusAccepted {
		t.Fatalf("start = %d %s", r.code, r.raw)
	}
	id, _ := r.body["id"].(string)
	if id == "" || r.body["timeout_hours"] != 1.0 {
		t.Fatalf("start body = %s", r.raw)
	}
	d := e.postForm(t, "/api/approvals/"+id+"/decision", url.Values{"approved": {"false"}, "approver": {"carol"}, "comments": {"not now"}})
	if d.code != http.StatusOK || d.body["status"] != "Rejected" {
		t.Fatalf("decision = %d %s", d.code, d.raw)
	}
	f := e.until(t, id, finished)
	result, _ := f.body["result"].(map[string]any)
	if f.body["status"] != "Rejected" || result["approver"] != "carol" || result["comments"] != "not now" {
		t.Fatalf("final = %s", f.raw)
	}
}

func TestTimeoutStatus(t *testing.T) {
	e := newAPI(t)
	r := e.postJSON(t, "/api/approvals", map[string]any{"request_id": "exp-t", "requester": "ana", "item": "desk", "timeout": "1s"})
	if r.code != http.StatusAccepted {
		t.Fatalf("start = %d %s", r.code, r.raw)
	}
	f := e.until(t, "exp-t", finished)
	result, _ := f.body["result"].(map[string]any)
	if f.body["status"] != "Timeout" || result["timed_out_at"] == nil {
		t.Fatalf("final = %s", f.raw)
	}
	d := e.postForm(t, "/api/approvals/exp-t/decision", url.Values{"approved": {"true"}, "approver": {"late"}})
	if d.code != http.StatusConflict || d.body["approval_status"] != "Timeout" {
		t.Fatalf("late decision = %d %s", d.code, d.raw)
	}
}

func TestFunctionKeyCarriedIntoLinks(t *testing.T) {
	e := newAPI(t)
	r := e.postJSON(t, "/api/approvals?code=s3cr%2Bt", map[string]any{"request_id": "exp-k", "requester": "ana", "item": "pen"})
	want := e.url + "/api/approvals/exp-k?code=s3cr%2Bt"
	if r.code != http.StatusAccepted || r.header.Get("Location") != want || r.body["decision_uri"] != e.url+"/api/approvals/exp-k/decision?code=s3cr%2Bt" {
		t.Fatalf("start = %d Location=%q %s", r.code, r.header.Get("Location"), r.raw)
	}
}

func TestNotFound(t *testing.T) {
	e := newAPI(t)
	for _, path := range []string{"/api/approvals/nope", "/api/approvals/bad%20id", "/api/nothing"} {
		r := e.do(t, http.MethodGet, path, "", "")
		if r.code != http.StatusNotFound || r.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("GET %s = %d %s", path, r.code, r.raw)
		}
	}
	d := e.postJSON(t, "/api/approvals/nope/decision", map[string]any{"approved": true, "approver": "bob"})
	if d.code != http.StatusNotFound || d.body["id"] != "nope" {
		t.Fatalf("decision for unknown id = %d %s", d.code, d.raw)
	}
	if n := e.orch.decisions.Load(); n != 0 {
		t.Fatalf("a decision for an unknown id reached the scheduler")
	}
}

func TestDuplicateID(t *testing.T) {
	e := newAPI(t)
	body := map[string]any{"request_id": "exp-dup", "requester": "ana", "item": "pen"}
	if r := e.postJSON(t, "/api/approvals", body); r.code != http.StatusAccepted {
		t.Fatalf("first start = %d %s", r.code, r.raw)
	}
	// The same request again, as a client retrying after a lost answer
	// would send it, is accepted again.
	r := e.postJSON(t, "/api/approvals", body)
	if r.code != http.StatusAccepted || r.body["id"] != "exp-dup" || r.header.Get("Location") == "" {
		t.Fatalf("repeated start = %d %s", r.code, r.raw)
	}
	// A repeat while the scheduler cannot be read is not called a conflict.
	e.orch.failGets.Store(true)
	r = e.postJSON(t, "/api/approvals", body)
	e.orch.failGets.Store(false)
	if r.code != http.StatusServiceUnavailable {
		t.Fatalf("repeated start with the scheduler unreadable = %d %s", r.code, r.raw)
	}
	// Once decided, a repeat answers with the outcome.
	if d := e.postJSON(t, "/api/approvals/exp-dup/decision", map[string]any{"approved": true, "approver": "bob"}); d.code != http.StatusOK {
		t.Fatalf("decision = %d %s", d.code, d.raw)
	}
	e.until(t, "exp-dup", finished)
	r = e.postJSON(t, "/api/approvals", body)
	if r.code != http.StatusOK || r.body["status"] != "Approved" {
		t.Fatalf("repeated start of a decided approval = %d %s", r.code, r.raw)
	}
	// Other details under the same id are a conflict.
	body["item"] = "car"
	r = e.postJSON(t, "/api/approvals", body)
	if r.code != http.StatusConflict || r.body["field"] != "request_id" {
		t.Fatalf("start with other details = %d %s", r.code, r.raw)
	}
}

func TestBadRequestsChangeNothing(t *testing.T) {
	e := newAPI(t)
	started := e.postJSON(t, "/api/approvals", map[string]any{"request_id": "exp-ok", "requester": "ana", "item": "pen"})
	if started.code != http.StatusAccepted {
		t.Fatalf("start = %d %s", started.code, started.raw)
	}
	e.orch.starts.Store(0)

	const (
		jsonCT = "application/json"
		formCT = "application/x-www-form-urlencoded"
	)
	big := `{"requester":"ana","item":"` + strings.Repeat("x", httpapi.MaxBodyBytes) + `"}`
	cases := []struct {
		name, method, path, ct, body string
		code                         int
		field                        string
	}{
		{"text body", "POST", "/api/approvals", "text/plain", "requester=ana", 415, ""},
		{"no content type", "POST", "/api/approvals", "", `{"requester":"ana","item":"pen"}`, 415, ""},
		{"too large", "POST", "/api/approvals", jsonCT, big, 413, ""},
		{"empty JSON", "POST", "/api/approvals", jsonCT, "", 400, ""},
		{"not an object", "POST", "/api/approvals", jsonCT, `["ana"]`, 400, ""},
		{"broken JSON", "POST", "/api/approvals", jsonCT, `{"requester":`, 400, ""},
		{"two values", "POST", "/api/approvals", jsonCT, `{"requester":"a","item":"b"}{}`, 400, ""},
		{"missing requester", "POST", "/api/approvals", jsonCT, `{"request_id":"bad-1","item":"pen"}`, 400, "requester"},
		{"blank item", "POST", "/api/approvals", formCT, "requester=ana&item=+", 400, "item"},
		{"unknown field", "POST", "/api/approvals", jsonCT, `{"requester":"a","item":"b","timeout_hour":2}`, 400, "timeout_hour"},
		{"hours as string", "POST", "/api/approvals", jsonCT, `{"requester":"a","item":"b","timeout_hours":"2"}`, 400, "timeout_hours"},
		{"negative hours", "POST", "/api/approvals", jsonCT, `{"requester":"a","item":"b","timeout_hours":-1}`, 400, "timeout_hours"},
		{"zero hours form", "POST", "/api/approvals", formCT, "request_id=bad-2&requester=a&item=b&timeout_hours=0", 400, "timeout_hours"},
		{"too short", "POST", "/api/approvals", jsonCT, `{"request_id":"bad-3","requester":"a","item":"b","timeout":"1ns"}`, 400, "timeout"},
		{"huge hours", "POST", "/api/approvals", jsonCT, `{"requester":"a","item":"b","timeout_hours":1e12}`, 400, "timeout_hours"},
		{"bad duration", "POST", "/api/approvals", formCT, "requester=a&item=b&timeout=soon", 400, "timeout"},
		{"negative duration", "POST", "/api/approvals", jsonCT, `{"requester":"a","item":"b","timeout":"-5m"}`, 400, "timeout"},
		{"both timeouts", "POST", "/api/approvals", jsonCT, `{"requester":"a","item":"b","timeout":"5m","timeout_hours":1}`, 400, "timeout"},
		{"bad request_id", "POST", "/api/approvals", jsonCT, `{"request_id":"a/b","requester":"a","item":"b"}`, 400, "request_id"},
		{"repeated form field", "POST", "/api/approvals", formCT, "requester=a&requester=b&item=c", 400, "requester"},
		{"decision without approved", "POST", "/api/approvals/exp-ok/decision", jsonCT, `{"approver":"bob"}`, 400, "approved"},
		{"decision approved not bool", "POST", "/api/approvals/exp-ok/decision", formCT, "approved=maybe&approver=bob", 400, "approved"},
		{"decision approved as string", "POST", "/api/approvals/exp-ok/decision", jsonCT, `{"approved":"true","approver":"bob"}`, 400, "approved"},
		{"decision without approver", "POST", "/api/approvals/exp-ok/decision", formCT, "approved=true", 400, "approver"},
		{"decision unknown field", "POST", "/api/approvals/exp-ok/decision", jsonCT, `{"approved":true,"approver":"bob","is_approved":true}`, 400, "is_approved"},
		{"decision as text", "POST", "/api/approvals/exp-ok/decision", "text/plain", "yes", 415, ""},
		{"PUT the collection", "PUT", "/api/approvals", "", "", 405, ""},
		{"DELETE an approval", "DELETE", "/api/approvals/exp-ok", "", "", 405, ""},
		{"GET a decision", "GET", "/api/approvals/exp-ok/decision", "", "", 405, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(t, c.method, c.path, c.ct, c.body)
			if r.code != c.code {
				t.Fatalf("%s %s = %d, want %d: %s", c.method, c.path, r.code, c.code, r.raw)
			}
			if r.header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("Content-Type = %q", r.header.Get("Content-Type"))
			}
			if r.body["status"] != float64(c.code) || r.body["title"] == nil || r.body["title"] == "" || r.body["detail"] == nil || r.body["detail"] == "" {
				t.Fatalf("problem body = %s", r.raw)
			}
			if c.field != "" && r.body["field"] != c.field {
				t.Fatalf("field = %v, want %s: %s", r.body["field"], c.field, r.raw)
			}
			if c.code == 405 && r.header.Get("Allow") == "" {
				t.Fatalf("405 without Allow")
			}
			if c.code == 415 && r.header.Get("Accept-Post") == "" {
				t.Fatalf("415 without Accept-Post")
			}
		})
	}
	if s, d := e.orch.starts.Load(), e.orch.decisions.Load(); s != 0 || d != 0 {
		t.Fatalf("bad requests reached the scheduler: %d starts, %d decisions", s, d)
	}
	if r := e.do(t, http.MethodGet, "/api/approvals/exp-ok", "", ""); r.code != http.StatusAccepted || r.body["status"] != "Pending" {
		t.Fatalf("the valid approval changed: %d %s", r.code, r.raw)
	}
	for _, id := range []string{"bad-1", "bad-2", "bad-3"} {
		if _, err := e.orch.Get(context.Background(), id); !errors.Is(err, httpapi.ErrNotFound) {
			t.Fatalf("approval %s exists after a bad request (%v)", id, err)
		}
	}
}
