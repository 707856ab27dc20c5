package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/approvals-go/approvals/config"
	"github.com/approvals-go/approvals/httpapi"
)

// How one person's name arrives spelt otherwise: white space around it
// (a space, a no-break space, a tab, an ideographic space), another case,
// fullwidth letters.
var bobSpellings = []string{"bob ", "\u00a0bob", " BOB", "bob\t", "\u3000bob", "ｂｏｂ", "Ｂｏｂ"}

func (e *apiEnv) startAll(t *testing.T, id string) {
	t.Helper()
	r := e.postJSON(t, httpapi.ApprovalsPath, map[string]any{"request_id": id, "requester": "ana", "item": "Laptop",
		"approvers": []string{"bob", "carol"}, "policy": "all", "timeout": "2h"})
	if r.code != http.StatusAccepted {
		t.Fatalf("start %s = %d %s", id, r.code, r.raw)
	}
	e.until(t, id, submitted)
}

// decisions is how many votes an approval has recorded.
func (e *apiEnv) decisions(t *testing.T, id string) int {
	t.Helper()
	r := e.do(t, http.MethodGet, "/api/approvals/"+id, "", "")
	list, _ := r.body["decisions"].([]any)
	if r.body["status"] != "Pending" {
		t.Fatalf("%s is no longer pending: %s", id, r.raw)
	}
	return len(list)
}

// Under policy all, bob and then bob spelt any other way is one voter, so
// bob alone never approves a request that also needs carol; and the
// requester spelt another way is still the requester. In both identity
// modes: names typed in the body, and principals signed in by App Service
// Authentication.
func TestOnePersonIsOnePerson(t *testing.T) {
	modes := []struct {
		name string
		opts httpapi.Options
		// as decides as who: the body's approver, or the principal.
		as func(e *apiEnv, t *testing.T, id, who string, approved bool) response
	}{
		{"body", httpapi.Options{}, func(e *apiEnv, t *testing.T, id, who string, approved bool) response {
			return e.postJSON(t, "/api/approvals/"+id+"/decision", map[string]any{"approved": approved, "approver": who, "comments": "ok"})
		}},
		{"appservice", httpapi.Options{Identity: config.IdentityAppService}, func(e *apiEnv, t *testing.T, id, who string, approved bool) response {
			return e.with(signedIn(who)).postJSON(t, "/api/approvals/"+id+"/decision", map[string]any{"approved": approved, "comments": "ok"})
		}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := newAPIWith(t, m.opts)
			id := "one-" + m.name
			e.startAll(t, id)
			if r := m.as(e, t, id, "bob", true); r.code != http.StatusOK {
				t.Fatalf("bob = %d %s", r.code, r.raw)
			}
			for _, spelt := range bobSpellings {
				// The same vote again is answered as the first was; it is
				// not a second voter.
				if r := m.as(e, t, id, spelt, true); r.code != http.StatusOK {
					t.Fatalf("%q after bob = %d %s", spelt, r.code, r.raw)
				}
				if r := m.as(e, t, id, spelt, false); r.code != http.StatusConflict || r.body["reason"] != "already_decided" {
					t.Fatalf("%q voting otherwise after bob = %d %s", spelt, r.code, r.raw)
				}
				if n := e.decisions(t, id); n != 1 {
					t.Fatalf("after %q the approval has %d votes, want bob's alone", spelt, n)
				}
			}
			for _, ana := range []string{"ANA", " ana\u00a0", "ａｎａ", "Ａｎａ"} {
				if r := m.as(e, t, id, ana, true); r.code != http.StatusForbidden || r.body["reason"] != "self_decision" {
					t.Fatalf("the requester as %q = %d %s", ana, r.code, r.raw)
				}
			}
			hidden := m.as(e, t, id, "a\u200bna", true)
			if want := map[string]int{"body": http.StatusBadRequest, "appservice": http.StatusUnauthorized}[m.name]; hidden.code != want {
				t.Fatalf("a name with a zero-width space = %d %s, want %d", hidden.code, hidden.raw, want)
			}
			if n := e.decisions(t, id); n != 1 {
				t.Fatalf("%d votes after the refusals, want 1", n)
			}
			r := m.as(e, t, id, "Carol", true)
			if r.code != http.StatusOK || r.body["status"] != "Approved" {
				t.Fatalf("carol = %d %s", r.code, r.raw)
			}
			// Each vote keeps the name as given, the form it was compared
			// by when that differs, and with sign-in the object id.
			result, _ := r.body["result"].(map[string]any)
			votes, _ := result["decisions"].([]any)
			carol, _ := votes[len(votes)-1].(map[string]any)
			wantOID := map[string]any{"body": nil, "appservice": "00000000-0000-0000-0000-000000000001"}[m.name]
			if carol["approver"] != "Carol" || carol["identity"] != "carol" || carol["oid"] != wantOID {
				t.Fatalf("carol's recorded vote = %v", carol)
			}
		})
	}
}

// Names a start cannot use as anyone's identity are refused, naming the
// field, and start nothing.
func TestStartRefusesUnusableNames(t *testing.T) {
	e := newAPI(t)
	for _, c := range []struct {
		field string
		body  map[string]any
	}{
		{"requester", map[string]any{"requester": "ana\r\nBcc: eve", "item": "x"}},
		{"requester", map[string]any{"requester": "\u200b", "item": "x"}},
		{"requester", map[string]any{"requester": "\u202eana", "item": "x"}},
		{"approver", map[string]any{"requester": "ana", "item": "x", "approver": strings.Repeat("b", 10_000)}},
		{"approver", map[string]any{"requester": "ana", "item": "x", "approver": "ＡＮＡ"}},
		{"approvers", map[string]any{"requester": "ana", "item": "x", "approvers": []string{"bob", "c\u200barol"}}},
		{"escalate_to", map[string]any{"requester": "ana", "item": "x", "timeout": "2h", "escalate_after": "1h", "escalate_to": []string{"d\u2067ave"}}},
	} {
		t.Run(fmt.Sprintf("%s %.40q", c.field, fmt.Sprint(c.body)), func(t *testing.T) {
			r := e.postJSON(t, httpapi.ApprovalsPath, c.body)
			if r.code != http.StatusBadRequest || r.body["field"] != c.field {
				t.Fatalf("start = %d %s, want 400 naming %s", r.code, r.raw, c.field)
			}
		})
	}
	if n := e.orch.starts.Load(); n != 0 {
		t.Fatalf("%d refused starts reached the scheduler", n)
	}
}

// After a vote on a request that needs several, the page says the decision
// is recorded and who is still to decide, and the voter's inbox no longer
// lists the request as waiting for them.
func TestVoteAcknowledged(t *testing.T) {
	e := newAPI(t)
	e.startAll(t, "ack-1")
	browser := e.with(http.Header{"Accept": {"text/html"}})
	posted := browser.do(t, http.MethodPost, "/api/review/ack-1", ctForm, "approved=true&approver=bob")
	loc := posted.header.Get("Location")
	if posted.code != http.StatusSeeOther || !strings.HasSuffix(loc, "/api/review/ack-1?notice=recorded") {
		t.Fatalf("bob's vote = %d, Location %q", posted.code, loc)
	}
	r := browser.do(t, http.MethodGet, strings.TrimPrefix(loc, e.url), "", "")
	if r.code != http.StatusOK || !strings.Contains(r.raw, "The decision is recorded.") || !strings.Contains(r.raw, "Still to decide: carol.") {
		t.Fatalf("page after bob's vote = %d\n%s", r.code, r.raw)
	}
	inbox := func(who string) string {
		return e.do(t, http.MethodGet, "/api/approvals?approver="+who, "", "").raw
	}
	if strings.Contains(inbox("bob"), "ack-1") || !strings.Contains(inbox("carol"), "ack-1") {
		t.Fatalf("bob's inbox:\n%s\ncarol's inbox:\n%s", inbox("bob"), inbox("carol"))
	}
}

// With signed links and no sign-in there is no inbox an approver could
// use: pages offer no link to it, and opened anyway it says why in words
// an approver understands, not in configuration.
func TestNoDeadEndInboxWithSignedLinks(t *testing.T) {
	signer := testSigner(t)
	api := newAPIWith(t, httpapi.Options{Links: signer})
	api.startFor(t, "dead-1", "Laptop", "bob")
	e := api.with(http.Header{"Accept": {"text/html"}})
	page := e.do(t, http.MethodGet, "/api/review/dead-1", "", "")
	if page.code != http.StatusOK || strings.Contains(page.raw, `href="/api/review"`) {
		t.Fatalf("review page = %d, links to the inbox:\n%s", page.code, page.raw)
	}
	inbox := e.do(t, http.MethodGet, "/api/review", "", "")
	if inbox.code != http.StatusForbidden || strings.Contains(inbox.raw, "APPROVALS_") || strings.Contains(inbox.raw, `href="/api/review"`) ||
		!strings.Contains(inbox.raw, "link you were sent") {
		t.Fatalf("inbox = %d\n%s", inbox.code, inbox.raw)
	}
}
