package dashboard

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/dts/mgmt"
)

func crossSite() http.Header {
	return http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}
}

// foreignOrigin is an older browser's cross-site post: an Origin from
// elsewhere and no Sec-Fetch-Site.
func foreignOrigin() http.Header { return http.Header{"Origin": {"https://evil.example"}} }

// snapshot is what an action could change about an instance.
func (e *env) snapshot(id string) string {
	e.t.Helper()
	in := e.instance(id)
	if in == nil {
		return "gone"
	}
	_, n, err := e.hub.History(e.t.(*testing.T).Context(), api.InstanceID(id), 0, 1)
	if err != nil {
		e.t.Fatal(err)
	}
	return fmt.Sprintf("%s exec=%s out=%s events=%d", mgmt.StatusName(in.RuntimeStatus), in.ExecutionID, in.SerializedOutput, n)
}

func (e *env) snapshots(ids []string) []string {
	var out []string
	for _, id := range ids {
		out = append(out, e.snapshot(id))
	}
	return out
}

// refused posts form to path in ways that must do nothing, and checks
// that each is answered as expected and left ids as they were, a moment
// later too (an event, once queued, would take effect asynchronously).
func (e *env) refused(path string, confirmed url.Values, ids ...string) {
	e.t.Helper()
	before := e.snapshots(ids)
	unconfirmed := url.Values{}
	for k, v := range confirmed {
		if k != "confirm" {
			unconfirmed[k] = v
		}
	}
	wantStatus(e.t, "GET "+path, e.get(path+"?"+confirmed.Encode()), 200)
	wantStatus(e.t, "unconfirmed "+path, e.post(path, unconfirmed, sameSite(e)), 422)
	wantStatus(e.t, "cross-site "+path, e.post(path, confirmed, crossSite()), 403)
	wantStatus(e.t, "foreign origin "+path, e.post(path, confirmed, foreignOrigin()), 403)
	time.Sleep(200 * time.Millisecond)
	if after := e.snapshots(ids); strings.Join(after, "\n") != strings.Join(before, "\n") {
		e.t.Fatalf("%s: refused requests changed state:\nbefore %v\nafter  %v", path, before, after)
	}
}

// historyEvents reads the instance's whole history as the JSON API
// renders it.
func (e *env) historyEvents(id string) []map[string]any {
	e.t.Helper()
	in := e.instance(id)
	var h struct {
		History []map[string]any `json:"history"`
	}
	wantStatus(e.t, "history", e.api("GET", "orchestrations/"+id+"/executions/"+in.ExecutionID+"/history", nil, &h), 200)
	return h.History
}

func TestDecideAsTheApprovalsOwnEvent(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startApproval("dec-1", "ana", time.Hour)
	path := "/hubs/default/instances/dec-1/decide"
	form := url.Values{"decision": {"approve"}, "approver": {"bob"}, "comments": {"Within budget"}, "confirm": {"yes"}}
	r := e.get(path)
	wantBody(t, "decide page", r, "ana asks for <strong>Laptop, 1200 EUR</strong>", `name="decision" value="approve"`, `name="confirm" value="yes" required`)
	e.refused(path, form, "dec-1")

	// The requester may not decide their own request.
	self := url.Values{"decision": {"approve"}, "approver": {"Ana"}, "confirm": {"yes"}}
	r = e.post(path, self, sameSite(e))
	wantStatus(t, "self-decision", r, 422)
	wantBody(t, "self-decision", r, "may not decide", "Nothing was done")

	began := time.Now().UTC()
	r = e.post(path, form, sameSite(e))
	wantStatus(t, "decide", r, 303)
	if loc := r.header.Get("Location"); loc != "/hubs/default/instances/dec-1?notice=decided" {
		t.Fatalf("redirected to %q", loc)
	}
	in := e.waitFor("dec-1", func(in *mgmt.Instance) bool { return mgmt.Final(in.RuntimeStatus) })
	var out approval.Outcome
	if err := json.Unmarshal([]byte(in.SerializedOutput), &out); err != nil || out.Status != approval.StatusApproved || out.Approver != "bob" || out.Comments != "Within budget" {
		t.Fatalf("output %s (%v)", in.SerializedOutput, err)
	}
	var raised []map[string]any
	for _, ev := range e.historyEvents("dec-1") {
		if er, ok := ev["eventRaised"].(map[string]any); ok {
			raised = append(raised, er)
		}
	}
	if len(raised) != 1 || raised[0]["name"] != approval.DecisionEventName {
		t.Fatalf("raised events %v", raised)
	}
	var d map[string]any
	if err := json.Unmarshal([]byte(raised[0]["input"].(string)), &d); err != nil {
		t.Fatal(err)
	}
	at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(d["response_time"]))
	if d["is_approved"] != true || d["approver"] != "bob" || d["comments"] != "Within budget" || err != nil || at.Before(began.Add(-time.Second)) {
		t.Fatalf("approval_response payload %v", d)
	}
	r = e.get("/hubs/default/instances/dec-1?notice=decided")
	wantBody(t, "after deciding", r, "Decision sent as approval_response", "Approved by bob")
	// Decided once, it cannot be decided again.
	wantStatus(t, "decide again", e.post(path, form, sameSite(e)), 409)
}

func TestRejectFromTheDashboard(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startApproval("rej-1", "ana", time.Hour)
	r := e.post("/hubs/default/instances/rej-1/decide", url.Values{"decision": {"reject"}, "approver": {"carol"}, "comments": {"Too expensive"}, "confirm": {"yes"}}, sameSite(e))
	wantStatus(t, "reject", r, 303)
	in := e.waitFor("rej-1", func(in *mgmt.Instance) bool { return mgmt.Final(in.RuntimeStatus) })
	if !strings.Contains(in.SerializedOutput, `"status":"Rejected"`) || !strings.Contains(in.SerializedOutput, `"approver":"carol"`) {
		t.Fatalf("output %s", in.SerializedOutput)
	}
}

func TestRaiseAnEvent(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startWaiter("raise-1")
	path := "/hubs/default/instances/raise-1/raise"
	form := url.Values{"event": {"stop"}, "payload": {`{"by": "dashboard"}`}, "confirm": {"yes"}}
	e.refused(path, form, "raise-1")
	bad := url.Values{"event": {"stop"}, "payload": {`{"by": `}, "confirm": {"yes"}}
	wantStatus(t, "invalid JSON", e.post(path, bad, sameSite(e)), 422)
	wantStatus(t, "raise", e.post(path, form, sameSite(e)), 303)
	in := e.waitFor("raise-1", func(in *mgmt.Instance) bool { return mgmt.Final(in.RuntimeStatus) })
	if in.RuntimeStatus != api.RUNTIME_STATUS_COMPLETED || in.SerializedOutput != `{"by":"dashboard"}` {
		t.Fatalf("%s with output %s", mgmt.StatusName(in.RuntimeStatus), in.SerializedOutput)
	}
}

func TestTerminateWithAReason(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startApproval("term-1", "ana", time.Hour)
	path := "/hubs/default/instances/term-1/terminate"
	form := url.Values{"reason": {"Request withdrawn"}, "confirm": {"yes"}}
	e.refused(path, form, "term-1")
	wantStatus(t, "no reason", e.post(path, url.Values{"confirm": {"yes"}}, sameSite(e)), 422)
	wantStatus(t, "terminate", e.post(path, form, sameSite(e)), 303)
	in := e.waitFor("term-1", func(in *mgmt.Instance) bool { return mgmt.Final(in.RuntimeStatus) })
	if in.RuntimeStatus != api.RUNTIME_STATUS_TERMINATED || in.SerializedOutput != `"Request withdrawn"` {
		t.Fatalf("%s with output %s", mgmt.StatusName(in.RuntimeStatus), in.SerializedOutput)
	}
	wantStatus(t, "terminate again", e.post(path, form, sameSite(e)), 409)
}

func TestSuspendHoldsEventsUntilResume(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startApproval("sus-1", "ana", time.Hour)
	path := "/hubs/default/instances/sus-1/suspend"
	form := url.Values{"reason": {"audit"}, "confirm": {"yes"}}
	e.refused(path, form, "sus-1")
	wantStatus(t, "suspend", e.post(path, form, sameSite(e)), 303)
	e.waitFor("sus-1", func(in *mgmt.Instance) bool { return in.RuntimeStatus == api.RUNTIME_STATUS_SUSPENDED })
	r := e.get("/hubs/default/instances/sus-1")
	wantBody(t, "suspended page", r, `href="/hubs/default/instances/sus-1/resume"`, "Suspended")

	yes, who := true, "bob"
	if err := e.client.RaiseEvent(t.Context(), "sus-1", approval.DecisionEventName, api.WithEventPayload(approval.Decision{IsApproved: &yes, Approver: &who})); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if in := e.instance("sus-1"); in.RuntimeStatus != api.RUNTIME_STATUS_SUSPENDED {
		t.Fatalf("a suspended approval went on to %s", mgmt.StatusName(in.RuntimeStatus))
	}
	resume := "/hubs/default/instances/sus-1/resume"
	e.refused(resume, form, "sus-1")
	wantStatus(t, "resume", e.post(resume, form, sameSite(e)), 303)
	in := e.waitFor("sus-1", func(in *mgmt.Instance) bool { return mgmt.Final(in.RuntimeStatus) })
	if !strings.Contains(in.SerializedOutput, `"status":"Approved"`) {
		t.Fatalf("after resume: %s %s", mgmt.StatusName(in.RuntimeStatus), in.SerializedOutput)
	}
}

func TestRestartSameOrNewID(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startApproval("rs-1", "ana", time.Hour)
	e.decide("rs-1", true, "bob")
	first := e.instance("rs-1")
	path := "/hubs/default/instances/rs-1/restart"
	e.refused(path, url.Values{"new_id": {"no"}, "confirm": {"yes"}}, "rs-1")
	wantStatus(t, "restart", e.post(path, url.Values{"new_id": {"no"}, "confirm": {"yes"}}, sameSite(e)), 303)
	again := e.waitFor("rs-1", func(in *mgmt.Instance) bool {
		return in.ExecutionID != first.ExecutionID && in.SerializedCustomStatus != "" && !mgmt.Final(in.RuntimeStatus)
	})
	if again.SerializedInput != first.SerializedInput {
		t.Fatalf("restarted with input %s, want %s", again.SerializedInput, first.SerializedInput)
	}
	e.decide("rs-1", false, "bob")

	r := e.post(path, url.Values{"new_id": {"yes"}, "confirm": {"yes"}}, sameSite(e))
	wantStatus(t, "restart as new", r, 303)
	loc := r.header.Get("Location")
	id, ok := strings.CutPrefix(strings.TrimSuffix(loc, "?notice=restarted"), "/hubs/default/instances/")
	if !ok || id == "rs-1" {
		t.Fatalf("redirected to %q", loc)
	}
	fresh := e.waitFor(id, func(in *mgmt.Instance) bool { return in.SerializedCustomStatus != "" })
	if fresh.SerializedInput != first.SerializedInput || e.instance("rs-1").RuntimeStatus != api.RUNTIME_STATUS_COMPLETED {
		t.Fatalf("new instance input %s; original %s", fresh.SerializedInput, mgmt.StatusName(e.instance("rs-1").RuntimeStatus))
	}
}

func TestPurgeOnlyWhatHasFinished(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.startApproval("pg-done", "ana", time.Hour)
	e.decide("pg-done", true, "bob")
	e.startApproval("pg-live", "ana", time.Hour)
	e.refused("/hubs/default/instances/pg-done/purge", url.Values{"confirm": {"yes"}}, "pg-done")
	r := e.post("/hubs/default/instances/pg-done/purge", url.Values{"confirm": {"yes"}}, sameSite(e))
	wantStatus(t, "purge", r, 303)
	if loc := r.header.Get("Location"); loc != "/hubs/default/?notice=purged" {
		t.Fatalf("redirected to %q", loc)
	}
	if e.instance("pg-done") != nil {
		t.Fatal("pg-done still exists")
	}
	wantStatus(t, "purge page of a running instance", e.get("/hubs/default/instances/pg-live/purge"), 409)
	wantStatus(t, "purge a running instance", e.post("/hubs/default/instances/pg-live/purge", url.Values{"confirm": {"yes"}}, sameSite(e)), 409)
	if e.instance("pg-live") == nil {
		t.Fatal("a running instance was purged")
	}
}

func TestStartAnOrchestration(t *testing.T) {
	e := newEnv(t, envOptions{})
	input := `{"request_id": "st-1", "requester": "ana", "item": "Chair", "timeout_hours": 2}`
	form := url.Values{"name": {approval.OrchestratorName}, "id": {"st-1"}, "input": {input}, "confirm": {"yes"}}
	wantBody(t, "start form", e.get("/hubs/default/start"), `value="human_interaction_orchestrator"`, `name="confirm"`)
	unconfirmed := url.Values{"name": form["name"], "id": form["id"], "input": form["input"]}
	wantStatus(t, "unconfirmed", e.post("/hubs/default/start", unconfirmed, sameSite(e)), 422)
	wantStatus(t, "cross-site", e.post("/hubs/default/start", form, crossSite()), 403)
	wantStatus(t, "foreign origin", e.post("/hubs/default/start", form, foreignOrigin()), 403)
	bad := url.Values{"name": form["name"], "id": form["id"], "input": {"{"}, "confirm": {"yes"}}
	wantStatus(t, "invalid input", e.post("/hubs/default/start", bad, sameSite(e)), 422)
	time.Sleep(200 * time.Millisecond)
	if e.instance("st-1") != nil {
		t.Fatal("a refused start started st-1")
	}

	r := e.post("/hubs/default/start", form, sameSite(e))
	wantStatus(t, "start", r, 303)
	if loc := r.header.Get("Location"); loc != "/hubs/default/instances/st-1?notice=started" {
		t.Fatalf("redirected to %q", loc)
	}
	in := e.waitFor("st-1", func(in *mgmt.Instance) bool { return in.SerializedCustomStatus != "" })
	if in.Name != approval.OrchestratorName || in.SerializedInput != input {
		t.Fatalf("started %s with %s", in.Name, in.SerializedInput)
	}
	wantStatus(t, "duplicate", e.post("/hubs/default/start", form, sameSite(e)), 409)

	// Without an ID, the scheduler makes one.
	r = e.post("/hubs/default/start", url.Values{"name": {waitName}, "confirm": {"yes"}}, sameSite(e))
	wantStatus(t, "start without ID", r, 303)
	id := strings.TrimSuffix(strings.TrimPrefix(r.header.Get("Location"), "/hubs/default/instances/"), "?notice=started")
	e.waitFor(id, func(in *mgmt.Instance) bool { return in.Name == waitName })
}

func TestBulkTerminateAndPurge(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, id := range []string{"bulk-a", "bulk-b", "bulk-c", "bulk-d"} {
		e.startApproval(id, "ana", time.Hour)
	}
	e.decide("bulk-d", true, "bob")

	back := "/hubs/default/?prefix=bulk-"
	r := e.get("/hubs/default/bulk?action=terminate&scope=selected&id=bulk-a&id=bulk-b&back=" + url.QueryEscape(back))
	wantStatus(t, "bulk confirm", r, 200)
	wantBody(t, "bulk confirm", r, "<code>bulk-a</code>", "<code>bulk-b</code>", "Terminate 2")
	if strings.Contains(r.body, "bulk-c") {
		t.Fatal("the confirmation lists an instance that was not selected")
	}
	form := url.Values{"action": {"terminate"}, "id": {"bulk-a", "bulk-b"}, "reason": {"Cleanup"}, "back": {back}, "confirm": {"yes"}}
	all := []string{"bulk-a", "bulk-b", "bulk-c", "bulk-d"}
	before := e.snapshots(all)
	wantStatus(t, "bulk cross-site", e.post("/hubs/default/bulk", form, crossSite()), 403)
	wantStatus(t, "bulk foreign origin", e.post("/hubs/default/bulk", form, foreignOrigin()), 403)
	noReason := url.Values{"action": {"terminate"}, "id": {"bulk-a", "bulk-b"}, "confirm": {"yes"}}
	wantStatus(t, "bulk without reason", e.post("/hubs/default/bulk", noReason, sameSite(e)), 422)
	unconfirmed := url.Values{"action": {"terminate"}, "id": {"bulk-a", "bulk-b"}, "reason": {"Cleanup"}}
	wantStatus(t, "bulk unconfirmed", e.post("/hubs/default/bulk", unconfirmed, sameSite(e)), 422)
	time.Sleep(200 * time.Millisecond)
	if after := e.snapshots(all); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Fatalf("refused bulk requests changed state:\n%v\n%v", before, after)
	}

	r = e.post("/hubs/default/bulk", form, sameSite(e))
	wantStatus(t, "bulk terminate", r, 303)
	if loc := r.header.Get("Location"); loc != "/hubs/default/?n=2&notice=bulk-terminated&of=2&prefix=bulk-" {
		t.Fatalf("redirected to %q", loc)
	}
	for _, id := range []string{"bulk-a", "bulk-b"} {
		in := e.waitFor(id, func(in *mgmt.Instance) bool { return mgmt.Final(in.RuntimeStatus) })
		if in.RuntimeStatus != api.RUNTIME_STATUS_TERMINATED || in.SerializedOutput != `"Cleanup"` {
			t.Fatalf("%s: %s %s", id, mgmt.StatusName(in.RuntimeStatus), in.SerializedOutput)
		}
	}
	wantBody(t, "after bulk terminate", e.get(r.header.Get("Location")), "Termination requested for 2 of 2 selected instances")

	// Purge everything matching a filter that includes a running
	// instance: the running one is kept.
	r = e.get("/hubs/default/bulk?action=purge&scope=filter&prefix=bulk-&status=terminated&status=completed&status=running")
	wantBody(t, "bulk purge confirm", r, "<code>bulk-a</code>", "<code>bulk-b</code>", "<code>bulk-c</code>", "<code>bulk-d</code>", "Purge 4")
	purge := url.Values{"action": {"purge"}, "id": all, "back": {back}, "confirm": {"yes"}}
	wantStatus(t, "bulk purge cross-site", e.post("/hubs/default/bulk", purge, crossSite()), 403)
	if e.instance("bulk-a") == nil {
		t.Fatal("a cross-site bulk purge purged")
	}
	r = e.post("/hubs/default/bulk", purge, sameSite(e))
	wantStatus(t, "bulk purge", r, 303)
	for _, id := range []string{"bulk-a", "bulk-b", "bulk-d"} {
		if e.instance(id) != nil {
			t.Errorf("%s survived the purge", id)
		}
	}
	if e.instance("bulk-c") == nil {
		t.Fatal("the running bulk-c was purged")
	}
	wantBody(t, "after bulk purge", e.get(r.header.Get("Location")), "Purged 3 of 4 selected instances")
}

// A failed instance offers Rewind. This dashboard's worker is
// durabletask-go v0.6.0's, which cannot rewind: the instance runs again
// and fails again, with that SDK's error (the JS SDK's worker rewinds it;
// see e2e's TestJSSDKEntities).
func TestRewindFromTheDashboard(t *testing.T) {
	e := newEnv(t, envOptions{})
	id, err := e.client.ScheduleNewOrchestration(t.Context(), "no_such_orchestrator", api.WithInstanceID("rw-1"))
	if err != nil {
		t.Fatal(err)
	}
	first := e.waitFor(string(id), func(in *mgmt.Instance) bool { return in.RuntimeStatus == api.RUNTIME_STATUS_FAILED })
	wantBody(t, "failed instance", e.get("/hubs/default/instances/rw-1"), `href="/hubs/default/instances/rw-1/rewind"`)
	e.refused("/hubs/default/instances/rw-1/rewind", url.Values{"confirm": {"yes"}}, "rw-1")
	r := e.post("/hubs/default/instances/rw-1/rewind", url.Values{"confirm": {"yes"}, "reason": {"try again"}}, sameSite(e))
	wantStatus(t, "rewind", r, 303)
	if loc := r.header.Get("Location"); loc != "/hubs/default/instances/rw-1?notice=rewound" {
		t.Fatalf("redirected to %q", loc)
	}
	again := e.waitFor("rw-1", func(in *mgmt.Instance) bool {
		return in.RuntimeStatus == api.RUNTIME_STATUS_FAILED && in.LastUpdatedAt.After(first.LastUpdatedAt)
	})
	t.Logf("failed again: %s", again.FailureDetails.GetErrorMessage())
	var rewound bool
	for _, ev := range e.historyEvents("rw-1") {
		if _, ok := ev["executionRewound"]; ok {
			rewound = true
		}
	}
	if !rewound {
		t.Fatal("the JSON API's history does not show the ExecutionRewound")
	}
	wantStatus(t, "rewind page of an unknown instance", e.get("/hubs/default/instances/nope/rewind"), 404)
}
