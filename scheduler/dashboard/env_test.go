package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/client"
	"github.com/microsoft/durabletask-go/task"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/dts"
	"github.com/approvals-go/approvals/dts/mgmt"
	"github.com/approvals-go/approvals/internal/testenv"
	"github.com/approvals-go/approvals/scheduler"
)

// waitName is an orchestrator for tests that waits for a "stop" event,
// keeping every other event it receives meanwhile in its history.
const waitName = "wait_for_stop"

// AppForTests is the app the tests' dashboards show: the approvals' own,
// which app_test.go (package dashboard_test, which may import approvaldash
// where this package may not) sets before any test runs.
var AppForTests App

// env is a real embedded scheduler on a file database (so that reads go
// through the reader pool), an approval worker connected over loopback
// gRPC, and the dashboard on a loopback port.
type env struct {
	t      testing.TB
	srv    *scheduler.Server
	reader *scheduler.Reader
	hub    Hub
	dash   *Server
	url    string
	client *client.TaskHubGrpcClient
	// http does not follow redirects, so that tests see them.
	http *http.Client
}

type envOptions struct {
	token string
	hosts []string
}

func newEnv(t testing.TB, opts envOptions) *env {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	te := testenv.StartWith(t, "http://localhost:7071", testenv.Options{OnFile: true, Register: func(r *task.TaskRegistry) error {
		return r.AddOrchestratorN(waitName, func(ctx *task.OrchestrationContext) (any, error) {
			var got any
			err := ctx.WaitForSingleEvent("stop", -1).Await(&got)
			return got, err
		})
	}})
	hubs := Embedded(te.Server)
	dash, err := New(Options{Hubs: hubs, Token: opts.token, Hosts: opts.hosts, App: AppForTests, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(dash)
	t.Cleanup(web.Close)
	return &env{t: t, srv: te.Server, reader: te.Server.Reader(dts.DefaultTaskHub), hub: hubs[0], dash: dash, url: web.URL,
		client: te.Client,
		http: &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}}
}

// startApproval starts an approval through the gRPC client, as the HTTP
// API does, and waits until it has been submitted to its approver.
func (e *env) startApproval(id, requester string, timeout time.Duration) {
	e.t.Helper()
	h := timeout.Hours()
	_, err := e.client.ScheduleNewOrchestration(context.Background(), approval.OrchestratorName, api.WithInstanceID(api.InstanceID(id)),
		api.WithInput(approval.Request{RequestID: id, Requester: requester, Item: "Laptop, 1200 EUR", TimeoutHours: &h}))
	if err != nil {
		e.t.Fatal(err)
	}
	e.waitFor(id, func(in *mgmt.Instance) bool { return in.SerializedCustomStatus != "" })
	e.settle(id)
}

// settle waits until every activity the instance scheduled has completed
// (the notices after the submission among them), so that a test reading
// the history sees it still.
func (e *env) settle(id string) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		events, _, err := e.hub.History(context.Background(), api.InstanceID(id), 0, 1000)
		if err != nil {
			e.t.Fatal(err)
		}
		open := 0
		for _, ev := range events {
			switch {
			case ev.GetTaskScheduled() != nil:
				open++
			case ev.GetTaskCompleted() != nil, ev.GetTaskFailed() != nil:
				open--
			}
		}
		if open == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.t.Fatalf("%s still has activities running", id)
}

// startWaiter starts a waitName orchestration and waits until it runs.
func (e *env) startWaiter(id string) {
	e.t.Helper()
	if _, err := e.client.ScheduleNewOrchestration(context.Background(), waitName, api.WithInstanceID(api.InstanceID(id))); err != nil {
		e.t.Fatal(err)
	}
	e.waitFor(id, func(in *mgmt.Instance) bool { return in.RuntimeStatus == api.RUNTIME_STATUS_RUNNING })
}

// decide approves or rejects through the gRPC client.
func (e *env) decide(id string, yes bool, who string) {
	e.t.Helper()
	err := e.client.RaiseEvent(context.Background(), api.InstanceID(id), approval.DecisionEventName,
		api.WithEventPayload(approval.Decision{IsApproved: &yes, Approver: &who, Comments: "fine"}))
	if err != nil {
		e.t.Fatal(err)
	}
	e.waitFor(id, func(in *mgmt.Instance) bool { return mgmt.Final(in.RuntimeStatus) })
}

// instance reads an instance through the scheduler's own reader; nil when
// there is none.
func (e *env) instance(id string) *mgmt.Instance {
	e.t.Helper()
	in, err := e.reader.Instance(context.Background(), api.InstanceID(id), true)
	if err != nil {
		if errors.Is(err, api.ErrInstanceNotFound) {
			return nil
		}
		e.t.Fatal(err)
	}
	return in
}

func (e *env) waitFor(id string, cond func(*mgmt.Instance) bool) *mgmt.Instance {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		in := e.instance(id)
		if in != nil && cond(in) {
			return in
		}
		if time.Now().After(deadline) {
			if in == nil {
				e.t.Fatalf("%s: no such instance", id)
			}
			e.t.Fatalf("%s: still %s, output %s", id, mgmt.StatusName(in.RuntimeStatus), in.SerializedOutput)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// response is an answer read whole.
type response struct {
	status int
	header http.Header
	body   string
}

func (e *env) do(method, path string, body io.Reader, header http.Header) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	// A Host in header is the one sent, as a browser sends whatever name
	// it resolved to the dashboard's address.
	if host := header.Get("Host"); host != "" {
		req.Host = host
	}
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(raw)}
}

func (e *env) get(path string) response { return e.do(http.MethodGet, path, nil, nil) }

// sameSite is what a browser sends with a form posted from the dashboard's
// own page.
func sameSite(e *env) http.Header {
	return http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {e.url}}
}

func (e *env) post(path string, form url.Values, header http.Header) response {
	e.t.Helper()
	h := header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	return e.do(http.MethodPost, path, strings.NewReader(form.Encode()), h)
}

// api calls the JSON API the way the Azure CLI's durabletask extension
// does: JSON body, x-taskhub header.
func (e *env) api(method, path string, body any, into any) response {
	e.t.Helper()
	var rd io.Reader
	h := http.Header{"X-Taskhub": {"default"}}
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = strings.NewReader(string(raw))
		h.Set("Content-Type", "application/json")
	}
	resp := e.do(method, "/api/v1/taskhubs/"+path, rd, h)
	if into != nil && resp.status/100 == 2 {
		if err := json.Unmarshal([]byte(resp.body), into); err != nil {
			e.t.Fatalf("%s %s: %v in %s", method, path, err, resp.body)
		}
	}
	return resp
}

func wantStatus(t testing.TB, what string, r response, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s: status %d, want %d; body:\n%s", what, r.status, want, truncate(r.body, 2000))
	}
}

func wantBody(t testing.TB, what string, r response, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(r.body, p) {
			t.Fatalf("%s: body lacks %q:\n%s", what, p, truncate(r.body, 4000))
		}
	}
}

// inOrder checks that parts appear in body one after the other.
func inOrder(t testing.TB, what, body string, parts ...string) {
	t.Helper()
	rest := body
	for _, p := range parts {
		i := strings.Index(rest, p)
		if i < 0 {
			t.Fatalf("%s: %q missing, or not after the parts before it", what, p)
		}
		rest = rest[i+len(p):]
	}
}
