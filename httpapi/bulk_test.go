package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/config"
	"github.com/approvals-go/approvals/httpapi"
)

// bulkItem is one item of a bulk call.
func bulkItem(id, key string, approved any) map[string]any {
	it := map[string]any{"id": id, "idempotency_key": key, "comments": "in bulk"}
	if approved != nil {
		it["approved"] = approved
	}
	return it
}

// results are a bulk answer's per-item answers, in order.
func results(t *testing.T, r response) []map[string]any {
	t.Helper()
	if r.code != http.StatusOK {
		t.Fatalf("bulk call = %d %s", r.code, r.raw)
	}
	list, _ := r.body["results"].([]any)
	out := make([]map[string]any, len(list))
	for i, v := range list {
		out[i], _ = v.(map[string]any)
	}
	return out
}

// bulkCase is one item of the mixed call and what it must be answered.
type bulkCase struct {
	id, key string
	status  int
	// check looks at the item's body.
	check func(body map[string]any) string
}

func problemReason(reason string) func(map[string]any) string {
	return func(body map[string]any) string {
		if body["reason"] != reason || body["detail"] == "" || body["type"] != "about:blank" {
			return "want a problem with reason " + reason
		}
		return ""
	}
}

// A bulk call mixes every answer a single decision can get, each item
// with its own, in the order sent, with its key echoed and the body the
// decision route gives: allowed items end Approved, a forbidden one
// (not an approver, or the requester) is 403, one already decided by
// someone else 409, an unknown id 404, one without a verdict 400; a vote
// under policy all is recorded, through the bulk channel. The same call
// again answers the same, and decides nothing new.
func TestBulkDecisions(t *testing.T) {
	e := newAPI(t)
	e.startFor(t, "bulk-1", "Laptop", "bob")
	e.startFor(t, "bulk-2", "Monitor", "bob", "dave")
	e.startFor(t, "bulk-carol", "Desk", "carol")
	if r := e.postJSON(t, httpapi.ApprovalsPath, map[string]any{"request_id": "bulk-own", "requester": "bob", "item": "Chair",
		"approvers": []string{"carol"}, "timeout": "2h"}); r.code != http.StatusAccepted {
		t.Fatalf("start = %d %s", r.code, r.raw)
	}
	e.until(t, "bulk-own", submitted)
	e.startFor(t, "bulk-taken", "Phone", "bob", "carol")
	if r := e.postJSON(t, "/api/approvals/bulk-taken/decision", map[string]any{"approved": false, "approver": "carol"}); r.code != http.StatusOK {
		t.Fatalf("carol = %d %s", r.code, r.raw)
	}
	e.startAll(t, "bulk-all")

	cases := []bulkCase{
		{"bulk-1", "k-1", http.StatusOK, func(b map[string]any) string {
			if b["status"] != "Approved" || b["id"] != "bulk-1" {
				return "want the approval, Approved"
			}
			return ""
		}},
		{"bulk-2", "k-2", http.StatusOK, nil},
		{"bulk-carol", "k-carol", http.StatusForbidden, problemReason("not_an_approver")},
		{"bulk-own", "k-own", http.StatusForbidden, problemReason("self_decision")},
		{"bulk-taken", "k-taken", http.StatusConflict, func(b map[string]any) string {
			if b["approval_status"] != "Rejected" || b["result"] == nil || b["instance"] != "/api/approvals/bulk-taken/decision" {
				return "want the outcome that stands"
			}
			return ""
		}},
		{"no-such-approval", "k-none", http.StatusNotFound, nil},
		{"bulk-all", "k-all", http.StatusOK, func(b map[string]any) string {
			if b["status"] != "Pending" {
				return "want the vote recorded while carol is awaited"
			}
			return ""
		}},
	}
	items := []any{}
	for _, c := range cases {
		items = append(items, bulkItem(c.id, c.key, true))
	}
	items = append(items, bulkItem("bulk-verdictless", "k-verdictless", nil))
	cases = append(cases, bulkCase{"bulk-verdictless", "k-verdictless", http.StatusBadRequest, func(b map[string]any) string {
		if b["field"] != "approved" {
			return "want the field approved named"
		}
		return ""
	}})
	call := map[string]any{"approver": "bob", "items": items}

	first := results(t, e.postJSON(t, httpapi.BulkDecisionPath, call))
	if len(first) != len(cases) {
		t.Fatalf("%d results for %d items", len(first), len(cases))
	}
	for i, c := range cases {
		got := first[i]
		body, _ := got["body"].(map[string]any)
		if got["id"] != c.id || got["idempotency_key"] != c.key || got["status"] != float64(c.status) {
			t.Errorf("item %d answered %v, want %s %s %d", i+1, got, c.id, c.key, c.status)
			continue
		}
		if c.check != nil {
			if why := c.check(body); why != "" {
				t.Errorf("item %d (%s): %s; got %v", i+1, c.id, why, body)
			}
		}
	}
	for _, id := range []string{"bulk-1", "bulk-2"} {
		if r := e.until(t, id, finished); r.body["status"] != "Approved" {
			t.Errorf("%s ended %s", id, r.raw)
		}
	}
	r := e.do(t, http.MethodGet, "/api/approvals/bulk-all", "", "")
	votes, _ := r.body["decisions"].([]any)
	if len(votes) != 1 || votes[0].(map[string]any)["channel"] != string(approval.ChannelBulk) {
		t.Errorf("bob's vote under policy all: %v, want one vote through channel bulk", r.body["decisions"])
	}

	delivered := e.orch.decisions.Load()
	again := results(t, e.postJSON(t, httpapi.BulkDecisionPath, call))
	for i := range first {
		if again[i]["status"] != first[i]["status"] || again[i]["idempotency_key"] != first[i]["idempotency_key"] {
			t.Errorf("item %d: the retried call answered %v, the first %v", i+1, again[i], first[i])
		}
	}
	if n := e.orch.decisions.Load(); n != delivered {
		t.Errorf("the retried call delivered %d decisions more", n-delivered)
	}
}

// A call that is not well-formed is refused as a whole, naming what is
// wrong, and decides nothing: too many items, an item without a key or
// id, a key or an approval given twice, a malformed item, a form.
func TestBulkRefusesTheCall(t *testing.T) {
	e := newAPI(t)
	e.startFor(t, "bulk-refused", "Laptop", "bob")
	many := make([]any, approval.MaxBulkItems+1)
	for i := range many {
		many[i] = bulkItem(fmt.Sprintf("bulk-%d", i), fmt.Sprintf("k-%d", i), true)
	}
	ok := bulkItem("bulk-refused", "k", true)
	for _, c := range []struct {
		name, body, field, says string
	}{
		{"too many", mustJSON(t, map[string]any{"approver": "bob", "items": many}), "items", "at most 100"},
		{"no items", `{"approver":"bob","items":[]}`, "items", "are required"},
		{"no key", `{"approver":"bob","items":[{"id":"bulk-refused","approved":true}]}`, "items", "item 1 has no idempotency_key"},
		{"no id", `{"approver":"bob","items":[{"approved":true,"idempotency_key":"k"}]}`, "items", "item 1 has no id"},
		{"key twice", mustJSON(t, map[string]any{"approver": "bob", "items": []any{ok, bulkItem("other", "k", true)}}), "items", "same idempotency_key"},
		{"approval twice", mustJSON(t, map[string]any{"approver": "bob", "items": []any{ok, bulkItem("bulk-refused", "k2", false)}}), "items", "both decide"},
		{"unknown item field", `{"approver":"bob","items":[{"id":"bulk-refused","approved":true,"idempotency_key":"k","aproved":true}]}`, "items", `items item 1: unknown field "aproved"`},
		{"item field of a wrong type", `{"approver":"bob","items":[{"id":"bulk-refused","approved":"yes","idempotency_key":"k"}]}`, "items", "items item 1: approved must be true or false"},
		{"item not an object", `{"approver":"bob","items":["bulk-refused"]}`, "items", "items item 1 must be a JSON object"},
		{"no approver", mustJSON(t, map[string]any{"items": []any{ok}}), "approver", "approver is required"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(t, http.MethodPost, httpapi.BulkDecisionPath, "application/json", c.body)
			detail, _ := r.body["detail"].(string)
			if r.code != http.StatusBadRequest || r.body["field"] != c.field || !strings.Contains(detail, c.says) {
				t.Fatalf("answer %d %s, want 400 naming %s: %q", r.code, r.raw, c.field, c.says)
			}
		})
	}
	if r := e.postForm(t, httpapi.BulkDecisionPath, url.Values{"approver": {"bob"}}); r.code != http.StatusUnsupportedMediaType || r.header.Get("Accept-Post") != "application/json" {
		t.Errorf("a form = %d %v %s, want 415 asking for JSON", r.code, r.header, r.raw)
	}
	if n := e.orch.decisions.Load(); n != 0 {
		t.Fatalf("refused calls delivered %d decisions", n)
	}
	// The path is an approval id too: GET still reads an approval so named.
	if r := e.do(t, http.MethodGet, httpapi.BulkDecisionPath, "", ""); r.code != http.StatusNotFound || r.body["id"] != "decisions" {
		t.Errorf("GET %s = %d %s, want the approval \"decisions\", not found", httpapi.BulkDecisionPath, r.code, r.raw)
	}
}

// Signed in, the items are decided as the signed-in person, whom the
// body's approver may not contradict, and without a principal nothing is.
func TestBulkSignedIn(t *testing.T) {
	e := newAPIWith(t, httpapi.Options{Identity: config.IdentityAppService})
	e.startFor(t, "bulk-signed", "Laptop", "bob")
	call := map[string]any{"items": []any{bulkItem("bulk-signed", "k", true)}}
	if r := e.postJSON(t, httpapi.BulkDecisionPath, call); r.code != http.StatusUnauthorized {
		t.Fatalf("without a principal = %d %s", r.code, r.raw)
	}
	mismatch := map[string]any{"approver": "carol", "items": call["items"]}
	e.refused(t, e.with(signedIn("bob")).postJSON(t, httpapi.BulkDecisionPath, mismatch), http.StatusForbidden, "approver_mismatch")
	got := results(t, e.with(signedIn("bob")).postJSON(t, httpapi.BulkDecisionPath, call))
	if len(got) != 1 || got[0]["status"] != float64(http.StatusOK) {
		t.Fatalf("bob signed in: %v", got)
	}
	if r := e.until(t, "bulk-signed", finished); !reflect.DeepEqual(r.body["result"].(map[string]any)["approver"], "bob") {
		t.Fatalf("outcome %s", r.raw)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The inbox's form decides the requests ticked and shows what became of
// each, in the review page's words; it is refused from another site, and
// with signed links and no sign-in, where there is no inbox. Nothing is
// decided by a refused post.
func TestInboxBulkForm(t *testing.T) {
	e := newAPI(t)
	e.startFor(t, "inbox-bulk-1", "Laptop", "bob")
	e.startFor(t, "inbox-bulk-2", "Monitor", "carol")
	form := url.Values{"id": {"inbox-bulk-1", "inbox-bulk-2"}, "approved": {"true"}, "approver": {"bob"}, "comments": {"fine"}}
	page := func(h http.Header) response {
		t.Helper()
		return e.with(h).do(t, http.MethodPost, approval.ReviewPath, "application/x-www-form-urlencoded", form.Encode())
	}
	html := http.Header{"Accept": {"text/html"}}
	crossSite := http.Header{"Accept": {"text/html"}, "Sec-Fetch-Site": {"cross-site"}}
	if r := page(crossSite); r.code != http.StatusForbidden {
		t.Fatalf("from another site = %d", r.code)
	}
	signed := newSignedAPI(t)
	if r := signed.with(html).do(t, http.MethodPost, approval.ReviewPath, "application/x-www-form-urlencoded", form.Encode()); r.code != http.StatusForbidden {
		t.Fatalf("with signed links and no sign-in = %d", r.code)
	}
	if n := e.orch.decisions.Load() + signed.orch.decisions.Load(); n != 0 {
		t.Fatalf("refused posts delivered %d decisions", n)
	}
	r := page(html)
	if r.code != http.StatusOK {
		t.Fatalf("the inbox's form = %d %s", r.code, r.raw)
	}
	for _, want := range []string{"1 of 2 decided", "Approved.", "bob is not among the approvers of this request, so cannot decide it."} {
		if !strings.Contains(r.raw, want) {
			t.Errorf("the page after the form does not say %q", want)
		}
	}
	if got := e.until(t, "inbox-bulk-1", finished); got.body["status"] != "Approved" {
		t.Errorf("inbox-bulk-1 ended %s", got.raw)
	}
	for _, bad := range []url.Values{
		{"approved": {"true"}, "approver": {"bob"}},
		{"id": {"inbox-bulk-2"}, "approver": {"bob"}},
	} {
		if r := e.postForm(t, approval.ReviewPath, bad); r.code != http.StatusBadRequest {
			t.Errorf("form %v = %d %s, want 400", bad, r.code, r.raw)
		}
	}
}

// Signed in, the inbox's form decides as the signed-in person, whatever
// name the form carries; without a principal it decides nothing.
func TestInboxBulkFormSignedIn(t *testing.T) {
	e := newAPIWith(t, httpapi.Options{Identity: config.IdentityAppService})
	e.startFor(t, "inbox-signed", "Laptop", "bob")
	form := url.Values{"id": {"inbox-signed"}, "approved": {"false"}}
	if r := e.postForm(t, approval.ReviewPath, form); r.code != http.StatusUnauthorized {
		t.Fatalf("without a principal = %d %s", r.code, r.raw)
	}
	form.Set("approver", "carol")
	e.refused(t, e.with(signedIn("bob")).postForm(t, approval.ReviewPath, form), http.StatusForbidden, "approver_mismatch")
	form.Del("approver")
	html := signedIn("bob")
	html.Set("Accept", "text/html")
	if r := e.with(html).postForm(t, approval.ReviewPath, form); r.code != http.StatusOK || !strings.Contains(r.raw, "1 of 1 decided") {
		t.Fatalf("bob signed in = %d %.400s", r.code, r.raw)
	}
	if r := e.until(t, "inbox-signed", finished); r.body["status"] != "Rejected" || r.body["result"].(map[string]any)["approver"] != "bob" {
		t.Fatalf("outcome %s", r.raw)
	}
}
