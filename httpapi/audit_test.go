package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/audit"
	"github.com/approvals-go/approvals/config"
	"github.com/approvals-go/approvals/dts/mgmt"
	"github.com/approvals-go/approvals/httpapi"
	"github.com/approvals-go/approvals/internal/testenv"
)

func auditSigner(t *testing.T) *audit.Signer {
	t.Helper()
	s, err := audit.NewSigner(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{5}, audit.KeySize)), "")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// finishedScheduler holds approvals as the scheduler returns them, and
// lists the finished ones one a page, in the order given.
type finishedScheduler struct {
	seedWorker
	order     []string
	instances map[string]*api.OrchestrationMetadata
}

func (f *finishedScheduler) add(id string, status api.OrchestrationStatus, output string) {
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	f.instances[id] = &api.OrchestrationMetadata{InstanceID: api.InstanceID(id), Name: approval.OrchestratorName, RuntimeStatus: status,
		CreatedAt: at, LastUpdatedAt: at.Add(time.Hour), SerializedInput: `{"request_id":"` + id + `","requester":"ana","item":"Laptop"}`,
		SerializedOutput: output}
	if status != api.RUNTIME_STATUS_RUNNING {
		f.order = append(f.order, id)
	}
}

func (f *finishedScheduler) Get(_ context.Context, id string) (*api.OrchestrationMetadata, error) {
	md, ok := f.instances[id]
	if !ok {
		return nil, httpapi.ErrNotFound
	}
	return md, nil
}

func (f *finishedScheduler) Ended(_ context.Context, q mgmt.IDQuery) (mgmt.IDPage, error) {
	i := 0
	if q.LastInstanceKey != "" {
		for i < len(f.order) && f.order[i] != q.LastInstanceKey {
			i++
		}
		if i == len(f.order) {
			return mgmt.IDPage{}, status.Error(codes.InvalidArgument, "unknown key")
		}
		i++
	}
	if i == len(f.order) {
		return mgmt.IDPage{}, nil
	}
	page := mgmt.IDPage{IDs: []api.InstanceID{api.InstanceID(f.order[i])}}
	if i+1 < len(f.order) {
		page.LastInstanceKey = f.order[i]
	}
	return page, nil
}

func auditAPI(t *testing.T, signer *audit.Signer) *apiEnv {
	t.Helper()
	f := &finishedScheduler{instances: map[string]*api.OrchestrationMetadata{}}
	f.add("done-1", api.RUNTIME_STATUS_COMPLETED, `{"request_id":"done-1","status":"Approved","processed_at":"2026-12-01T10:00:00Z","approver":"bob","comments":"","channel":"api","auth":"function_key"}`)
	f.add("done-1:callback", api.RUNTIME_STATUS_COMPLETED, `null`)
	f.instances["done-1:callback"].Name = approval.CallbackOrchestratorName
	f.add("done-2", api.RUNTIME_STATUS_TERMINATED, `"duplicate"`)
	f.add("open-1", api.RUNTIME_STATUS_RUNNING, "")
	srv := httptest.NewServer(httpapi.New(f, httpapi.Options{Audit: signer, Logger: testenv.Quiet()}))
	t.Cleanup(srv.Close)
	return &apiEnv{url: srv.URL}
}

// problemWith checks that r is a code problem naming reason.
func problemWith(t *testing.T, r response, code int, reason string) {
	t.Helper()
	if r.code != code || r.header.Get("Content-Type") != "application/problem+json" || r.body["reason"] != reason || r.body["detail"] == "" {
		t.Fatalf("answer %d %s, want %d problem with reason %s", r.code, r.raw, code, reason)
	}
}

func TestAuditRoutesAnswerTruly(t *testing.T) {
	off := auditAPI(t, nil)
	for _, path := range []string{"/api/approvals/done-1/audit", "/api/audit?from=2026-01-01T00:00:00Z"} {
		problemWith(t, off.do(t, http.MethodGet, path, "", ""), http.StatusNotImplemented, "audit_not_configured")
	}

	signer := auditSigner(t)
	e := auditAPI(t, signer)
	r := e.do(t, http.MethodGet, "/api/approvals/done-1/audit", "", "")
	if r.code != http.StatusOK {
		t.Fatalf("the audit of an ended approval = %d %s", r.code, r.raw)
	}
	trail, err := audit.Decode([]byte(r.raw))
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.Verify(trail, signer.PublicKeys()...); err != nil || len(trail.Entries) != 3 || trail.Entries[1].Auth != "function_key" {
		t.Fatalf("the trail served: %v\n%s", err, r.raw)
	}
	problemWith(t, e.do(t, http.MethodGet, "/api/approvals/open-1/audit", "", ""), http.StatusConflict, "pending")
	if r := e.do(t, http.MethodGet, "/api/approvals/nobody/audit", "", ""); r.code != http.StatusNotFound {
		t.Fatalf("the audit of an unknown approval = %d %s", r.code, r.raw)
	}

	for query, field := range map[string]string{
		"":                "from",
		"?from=yesterday": "from",
		"?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z": "to",
		"?from=2026-12-01T00:00:00Z&limit=0":                 "limit",
		"?from=2026-12-01T00:00:00Z&limit=101":               "limit",
		"?from=2026-12-01T00:00:00Z&continuation=nonsense":   "continuation",
	} {
		if r := e.do(t, http.MethodGet, "/api/audit"+query, "", ""); r.code != http.StatusBadRequest || r.body["field"] != field {
			t.Errorf("GET /api/audit%s = %d %s, want 400 naming %s", query, r.code, r.raw, field)
		}
	}

	// Three finished instances, one a page: the callback's page is empty,
	// and the last has no next link.
	var lines []string
	next := "/api/audit?from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z&code=function-key"
	for pages := 0; next != ""; pages++ {
		if pages == 5 {
			t.Fatal("the export never ends")
		}
		r := e.do(t, http.MethodGet, next, "", "")
		if r.code != http.StatusOK || r.header.Get("Content-Type") != "application/jsonl; charset=utf-8" {
			t.Fatalf("GET %s = %d %s", next, r.code, r.raw)
		}
		if r.raw != "" {
			lines = append(lines, strings.TrimSuffix(r.raw, "\n"))
		}
		next = ""
		if link := r.header.Get("Link"); link != "" {
			u, err := url.Parse(strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`))
			if err != nil || u.Query().Get("to") != "2026-12-02T00:00:00Z" || u.Query().Get("limit") != "100" || u.Query().Get("code") != "function-key" {
				t.Fatalf("next link %q", link)
			}
			next = u.RequestURI()
		}
	}
	if n, err := audit.VerifyLines(strings.NewReader(strings.Join(lines, "\n")), signer.PublicKeys()...); n != 2 || err != nil {
		t.Fatalf("the export: %d trails checked, %v:\n%s", n, err, strings.Join(lines, "\n"))
	}
	if !strings.Contains(lines[1], `"status":"Terminated","comments":"duplicate"`) {
		t.Errorf("the terminated approval's trail: %s", lines[1])
	}
}

// Each decision says how it came and who vouched for its sender: the
// machine route, with a name in the body and no Functions host (so
// development), behind the host's function keys, or signed in; and the
// review page with a signed link. The outcome of a decision without a
// policy carries both.
func TestDecisionsRecordChannelAndAuth(t *testing.T) {
	for _, c := range []struct {
		opts httpapi.Options
		auth string
	}{
		{httpapi.Options{}, "development"},
		{httpapi.Options{FunctionKeys: true}, "function_key"},
	} {
		e := newAPIWith(t, c.opts)
		e.startFor(t, "ch-1", "Laptop", "bob")
		e.until(t, "ch-1", submitted)
		if r := e.postJSON(t, "/api/approvals/ch-1/decision", map[string]any{"approved": true, "approver": "bob"}); r.code != http.StatusOK {
			t.Fatalf("decision = %d %s", r.code, r.raw)
		}
		wantRecorded(t, e.until(t, "ch-1", finished), "api", c.auth)
	}
	// The review page's form, with the signed link's token.
	signer := testSigner(t)
	e := newAPIWith(t, httpapi.Options{Links: signer})
	e.startFor(t, "ch-2", "Laptop", "bob")
	e.until(t, "ch-2", submitted)
	token := signer.Token("ch-2", "bob", time.Now().Add(time.Hour))
	if r := e.postForm(t, "/api/review/ch-2", url.Values{"approved": {"false"}, "token": {token}}); r.code != http.StatusOK {
		t.Fatalf("the review page's decision = %d %s", r.code, r.raw)
	}
	wantRecorded(t, e.until(t, "ch-2", finished), "page", "signed_link")

	// Signed in, on the machine route: sign-in vouches, whatever else.
	e = newAPIWith(t, httpapi.Options{Identity: config.IdentityAppService, FunctionKeys: true})
	e.startFor(t, "ch-3", "Laptop", "bob@contoso.com")
	e.until(t, "ch-3", submitted)
	if r := e.with(signedIn("bob@contoso.com")).postJSON(t, "/api/approvals/ch-3/decision", map[string]any{"approved": true}); r.code != http.StatusOK {
		t.Fatalf("a signed-in decision = %d %s", r.code, r.raw)
	}
	wantRecorded(t, e.until(t, "ch-3", finished), "api", "sign_in")
}

func wantRecorded(t *testing.T, r response, channel, auth string) {
	t.Helper()
	result, _ := r.body["result"].(map[string]any)
	if result["channel"] != channel || result["auth"] != auth {
		t.Errorf("the outcome records channel %v, auth %v; want %s, %s", result["channel"], result["auth"], channel, auth)
	}
}
