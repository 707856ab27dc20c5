package dashboard

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/dts/mgmt"
)

// cliQuery is the body the Azure CLI's durabletask extension posts to
// orchestrations/query (list_orchestrations).
func cliQuery(start, count int) map[string]any {
	return map[string]any{"filter": map[string]any{}, "pagination": map[string]any{"startIndex": start, "count": count},
		"sort": []map[string]any{{"column": "LAST_UPDATED_AT", "direction": "DESCENDING_SORT"}}}
}

// wireOrchestration is an orchestration's metadata as the API's clients
// read it: declared here, not taken from api.go, so that the tests check
// the names on the wire.
type wireOrchestration struct {
	InstanceID           string            `json:"instanceId"`
	ExecutionID          string            `json:"executionId"`
	Name                 string            `json:"name"`
	OrchestrationStatus  string            `json:"orchestrationStatus"`
	CreatedTimestamp     time.Time         `json:"createdTimestamp"`
	LastUpdatedTimestamp time.Time         `json:"lastUpdatedTimestamp"`
	CompletedTimestamp   *time.Time        `json:"completedTimestamp"`
	Tags                 map[string]string `json:"tags"`
}

type queryAnswer struct {
	Orchestrations []wireOrchestration `json:"orchestrations"`
	TotalCount     int                 `json:"totalCount"`
	Trivia         struct {
		EarliestTimestamp *time.Time `json:"earliestTimestamp"`
		LatestTimestamp   *time.Time `json:"latestTimestamp"`
		TotalCount        int        `json:"totalCount"`
		CompletedCount    int        `json:"completedCount"`
		RunningCount      int        `json:"runningCount"`
		FailedCount       int        `json:"failedCount"`
		PendingCount      int        `json:"pendingCount"`
		TerminatedCount   int        `json:"terminatedCount"`
	} `json:"trivia"`
}

func (q queryAnswer) ids() string {
	var ids []string
	for _, o := range q.Orchestrations {
		ids = append(ids, o.InstanceID)
	}
	return strings.Join(ids, " ")
}

func TestAPIQueryAsTheAzureCLISendsIt(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, id := range []string{"q-1", "q-2", "q-3", "q-4"} {
		e.startApproval(id, "ana", time.Hour)
	}
	e.decide("q-2", true, "bob") // now the most recently updated
	wantStatus(t, "terminate", e.api("POST", "orchestrations/q-3/history", map[string]any{"executionTerminated": map[string]any{"reason": "gone"}}, nil), 202)
	e.waitFor("q-3", func(in *mgmt.Instance) bool { return mgmt.Final(in.RuntimeStatus) })

	var q queryAnswer
	r := e.api("POST", "orchestrations/query", cliQuery(0, 100), &q)
	wantStatus(t, "query", r, 200)
	if q.ids() != "q-3 q-2 q-4 q-1" {
		t.Fatalf("by last update, newest first: %s", q.ids())
	}
	if q.TotalCount != 4 || q.Trivia.TotalCount != 4 || q.Trivia.RunningCount != 2 || q.Trivia.CompletedCount != 1 || q.Trivia.TerminatedCount != 1 || q.Trivia.PendingCount != 0 {
		t.Fatalf("counts %+v, total %d", q.Trivia, q.TotalCount)
	}
	if q.Trivia.EarliestTimestamp == nil || q.Trivia.LatestTimestamp == nil || q.Trivia.LatestTimestamp.Before(*q.Trivia.EarliestTimestamp) {
		t.Fatalf("time range %v – %v", q.Trivia.EarliestTimestamp, q.Trivia.LatestTimestamp)
	}
	o := q.Orchestrations[1]
	if o.Name != approval.OrchestratorName || o.OrchestrationStatus != "ORCHESTRATION_STATUS_COMPLETED" || o.ExecutionID == "" ||
		o.CompletedTimestamp == nil || o.CreatedTimestamp.IsZero() || o.LastUpdatedTimestamp.Before(o.CreatedTimestamp) {
		t.Fatalf("q-2 as listed: %+v", o)
	}

	// Offset paging, as the CLI's --start-index and --max-items ask.
	wantStatus(t, "page 2", e.api("POST", "orchestrations/query", cliQuery(2, 2), &q), 200)
	if q.ids() != "q-4 q-1" || q.TotalCount != 4 {
		t.Fatalf("second page: %s of %d", q.ids(), q.TotalCount)
	}
	// Filters as the service's dashboard sends them.
	filtered := map[string]any{
		"filter":     map[string]any{"orchestrationStatus": map[string]any{"status": []string{"ORCHESTRATION_STATUS_RUNNING"}}, "orchestrationId": map[string]any{"value": "q-"}},
		"pagination": map[string]any{"startIndex": 0, "count": 10},
		"sort":       []map[string]any{{"column": "ORCHESTRATION_ID", "direction": "ASCENDING_SORT"}},
	}
	wantStatus(t, "filtered", e.api("POST", "orchestrations/query", filtered, &q), 200)
	if q.ids() != "q-1 q-4" || q.TotalCount != 2 || q.Trivia.RunningCount != 2 || q.Trivia.CompletedCount != 0 {
		t.Fatalf("running by ID: %s, %+v", q.ids(), q.Trivia)
	}
	// An empty body is every instance, newest first.
	wantStatus(t, "empty body", e.api("POST", "orchestrations/query", map[string]any{}, &q), 200)
	if q.ids() != "q-4 q-3 q-2 q-1" {
		t.Fatalf("default order: %s", q.ids())
	}
	unsupported := map[string]any{"filter": map[string]any{"completedAt": map[string]any{"start": time.Now().Format(time.RFC3339)}}}
	wantStatus(t, "unsupported filter", e.api("POST", "orchestrations/query", unsupported, nil), 400)
	wantStatus(t, "bad sort", e.api("POST", "orchestrations/query", map[string]any{"sort": []map[string]any{{"column": "COLOUR"}}}, nil), 400)
}

func TestAPIInstancePayloadsAndHistory(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startApproval("h-1", "ana", time.Hour)
	e.decide("h-1", true, "bob")

	var ping map[string]string
	wantStatus(t, "ping", e.api("GET", "ping", nil, &ping), 200)
	var md wireOrchestration
	wantStatus(t, "metadata", e.api("GET", "orchestrations/h-1", nil, &md), 200)
	if md.InstanceID != "h-1" || md.Name != approval.OrchestratorName || md.OrchestrationStatus != "ORCHESTRATION_STATUS_COMPLETED" || md.ExecutionID == "" || md.CompletedTimestamp == nil {
		t.Fatalf("metadata %+v", md)
	}
	var p struct {
		Input, Output, CustomStatus, OrchestrationStatus string
	}
	wantStatus(t, "payloads", e.api("GET", "orchestrations/h-1/payloads", nil, &p), 200)
	if !strings.Contains(p.Input, `"requester":"ana"`) || !strings.Contains(p.Output, `"status":"Approved"`) || !strings.Contains(p.CustomStatus, `"status":"Pending"`) {
		t.Fatalf("payloads %+v", p)
	}

	var kinds []string
	for _, ev := range e.historyEvents("h-1") {
		if _, ok := ev["timestamp"].(string); !ok {
			t.Fatalf("event without a timestamp: %v", ev)
		}
		for k, v := range ev {
			if k == "eventId" || k == "timestamp" {
				continue
			}
			name := ""
			if m, ok := v.(map[string]any); ok {
				name, _ = m["name"].(string)
			}
			kinds = append(kinds, strings.TrimSpace(k+" "+name))
		}
	}
	inOrder(t, "history", strings.Join(kinds, "\n"), "executionStarted human_interaction_orchestrator", "taskScheduled submit_approval_request",
		"taskCompleted", "timerCreated", "eventRaised approval_response", "taskScheduled process_approval", "taskCompleted", "executionCompleted")

	wantStatus(t, "other execution", e.api("GET", "orchestrations/h-1/executions/nope/history", nil, nil), 404)
	wantStatus(t, "unknown instance", e.api("GET", "orchestrations/nope", nil, nil), 404)
	wantStatus(t, "unknown instance payloads", e.api("GET", "orchestrations/nope/payloads", nil, nil), 404)
	r := e.do("GET", "/api/v1/taskhubs/ping", nil, map[string][]string{"X-Taskhub": {"elsewhere"}})
	wantStatus(t, "unknown hub", r, 404)
	if r.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("error as %s", r.header.Get("Content-Type"))
	}
}

func TestAPIAddsHistoryEventsAndPurges(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startApproval("ev-1", "ana", time.Hour)
	suspend := map[string]any{"executionSuspended": map[string]any{"reason": "audit"}}
	wantStatus(t, "suspend", e.api("POST", "orchestrations/ev-1/history", suspend, nil), 202)
	e.waitFor("ev-1", func(in *mgmt.Instance) bool { return in.RuntimeStatus == api.RUNTIME_STATUS_SUSPENDED })
	wantStatus(t, "resume", e.api("POST", "orchestrations/ev-1/history", map[string]any{"executionResumed": map[string]any{"reason": "done"}}, nil), 202)
	e.waitFor("ev-1", func(in *mgmt.Instance) bool { return in.RuntimeStatus == api.RUNTIME_STATUS_RUNNING })

	// The event's input travels as a string holding JSON, as the
	// protocol's JSON form carries it.
	raise := map[string]any{"eventRaised": map[string]any{"name": approval.DecisionEventName, "input": `{"is_approved":true,"approver":"dave","comments":"via the API"}`}}
	wantStatus(t, "raise", e.api("POST", "orchestrations/ev-1/history", raise, nil), 202)
	in := e.waitFor("ev-1", func(in *mgmt.Instance) bool { return mgmt.Final(in.RuntimeStatus) })
	if !strings.Contains(in.SerializedOutput, `"approver":"dave"`) {
		t.Fatalf("output %s", in.SerializedOutput)
	}
	wantStatus(t, "event to a finished instance", e.api("POST", "orchestrations/ev-1/history", raise, nil), 409)
	wantStatus(t, "two events at once", e.api("POST", "orchestrations/ev-1/history", map[string]any{"executionSuspended": map[string]any{}, "executionResumed": map[string]any{}}, nil), 400)
	wantStatus(t, "unknown instance", e.api("POST", "orchestrations/nope/history", suspend, nil), 404)

	e.startApproval("ev-2", "ana", time.Hour)
	wantStatus(t, "purge a running instance", e.api("DELETE", "orchestrations/ev-2", nil, nil), 409)
	wantStatus(t, "purge", e.api("DELETE", "orchestrations/ev-1", nil, nil), 204)
	if e.instance("ev-1") != nil || e.instance("ev-2") == nil {
		t.Fatal("purge removed the wrong instance")
	}
	wantStatus(t, "purge again", e.api("DELETE", "orchestrations/ev-1", nil, nil), 404)

	// A page elsewhere cannot use the API through a browser either.
	body, _ := json.Marshal(suspend)
	r := e.do("POST", "/api/v1/taskhubs/orchestrations/ev-2/history", strings.NewReader(string(body)),
		map[string][]string{"X-Taskhub": {"default"}, "Content-Type": {"application/json"}, "Sec-Fetch-Site": {"cross-site"}})
	wantStatus(t, "cross-site API call", r, 403)
	time.Sleep(200 * time.Millisecond)
	if in := e.instance("ev-2"); in.RuntimeStatus != api.RUNTIME_STATUS_RUNNING {
		t.Fatalf("a cross-site call suspended ev-2: %s", mgmt.StatusName(in.RuntimeStatus))
	}
}
