package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/dts/mgmt"
	"github.com/approvals-go/approvals/httpapi"
)

// seedWorker answers as a scheduler whose approval runs on a worker that
// keeps exactly the sample's contract: a custom status of request_id,
// status, submitted_at and approval_url, nothing more.
type seedWorker struct {
	created time.Time
	raised  atomic.Int32
}

func (s *seedWorker) Start(context.Context, approval.Request) error { return errors.New("not used") }
func (s *seedWorker) Get(_ context.Context, id string) (*api.OrchestrationMetadata, error) {
	status, _ := json.Marshal(map[string]string{"request_id": id, "status": "Pending",
		"submitted_at": s.created.Add(time.Second).Format("2006-01-02T15:04:05.999999"), "approval_url": "http://localhost/approve/" + id})
	return &api.OrchestrationMetadata{InstanceID: api.InstanceID(id), Name: approval.OrchestratorName, RuntimeStatus: api.RUNTIME_STATUS_RUNNING,
		CreatedAt: s.created, LastUpdatedAt: s.created, SerializedInput: `{"request_id":"` + id + `","requester":"ana","item":"Laptop","timeout_hours":2}`,
		SerializedCustomStatus: string(status)}, nil
}
func (s *seedWorker) Decide(context.Context, string, approval.Decision) error {
	s.raised.Add(1)
	return nil
}
func (s *seedWorker) Wait(ctx context.Context, _ string) (*api.OrchestrationMetadata, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
func (s *seedWorker) Query(context.Context, mgmt.Query) (mgmt.Page, error) { return mgmt.Page{}, nil }

// With a worker that does not say it supports withdrawal, a withdrawal is
// refused with 409 and nothing is raised (the sample's orchestrator would
// take it for a rejection by the requester); the deadline the contract
// does not publish is worked out from the creation and timeout_hours, and
// said to be.
func TestSeedContractWorkerDegradesToRefusals(t *testing.T) {
	seed := &seedWorker{created: time.Now().UTC().Add(-time.Minute)}
	srv := httptest.NewServer(httpapi.New(seed, httpapi.Options{DecisionWait: 100 * time.Millisecond}))
	t.Cleanup(srv.Close)
	e := &apiEnv{url: srv.URL}

	st := e.do(t, http.MethodGet, "/api/approvals/seed-1", "", "")
	if st.code != http.StatusAccepted || st.body["withdraw_uri"] != nil || st.body["expires_at_derived"] != true {
		t.Fatalf("status = %d %s", st.code, st.raw)
	}
	if at, err := time.Parse(time.RFC3339Nano, st.body["expires_at"].(string)); err != nil || !at.Equal(seed.created.Add(2*time.Hour)) {
		t.Fatalf("derived deadline %v (%v), want creation + 2h", st.body["expires_at"], err)
	}
	w := e.postJSON(t, "/api/approvals/seed-1/withdraw", map[string]any{"requester": "ana", "reason": "bought it"})
	if w.code != http.StatusConflict || w.body["reason"] != "not_supported" {
		t.Fatalf("withdrawal = %d %s", w.code, w.raw)
	}
	if n := seed.raised.Load(); n != 0 {
		t.Fatalf("%d events raised for a refused withdrawal", n)
	}
	if d := e.postJSON(t, "/api/approvals/seed-1/decision", map[string]any{"approved": true, "approver": "bob"}); d.code != http.StatusAccepted || seed.raised.Load() != 1 {
		t.Fatalf("a decision = %d %s", d.code, d.raw)
	}
}
