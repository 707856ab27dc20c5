package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/approvals-go/approvals/dts"
	"github.com/approvals-go/approvals/httpapi"
	"github.com/approvals-go/approvals/internal/testenv"
	"github.com/approvals-go/approvals/scheduler"
)

// A start the scheduler refuses because its backlog is full is answered
// 503 with Retry-After and a problem saying nothing was started, and
// indeed the approval does not exist. The scheduler here has no worker, so
// its backlog only fills.
func TestStartRefusedWhenSchedulerBusy(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, addr := testenv.ServeScheduler(t, ctx, scheduler.Options{Logger: testenv.Quiet(), MaxBacklog: 2, Parallelism: 1})
	conn, _ := testenv.Dial(t, ctx, addr)
	defer conn.Close()
	api := httptest.NewServer(httpapi.New(httpapi.NewScheduler(conn, dts.Logger(testenv.Quiet())), httpapi.Options{Logger: testenv.Quiet()}))
	defer api.Close()
	e := &apiEnv{url: api.URL}

	var refused response
	id := ""
	for i := range 10 {
		id = fmt.Sprintf("busy-%d", i)
		r := e.postJSON(t, "/api/approvals", map[string]any{"request_id": id, "requester": "ana", "item": "pen"})
		if r.code == http.StatusAccepted {
			continue
		}
		refused = r
		break
	}
	if refused.code != http.StatusServiceUnavailable {
		t.Fatalf("start over the scheduler's bound = %d %s, want 503", refused.code, refused.raw)
	}
	if refused.header.Get("Retry-After") == "" || refused.header.Get("Content-Type") != "application/problem+json" ||
		refused.body["reason"] != "scheduler_busy" || !strings.Contains(refused.raw, "nothing was started") {
		t.Fatalf("refused start answered %v %s", refused.header, refused.raw)
	}
	if r := e.do(t, http.MethodGet, "/api/approvals/"+id, "", ""); r.code != http.StatusNotFound {
		t.Fatalf("the refused approval %s reads %d %s, want 404", id, r.code, r.raw)
	}
}
