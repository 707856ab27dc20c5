package httpapi_test

import (
	"github.com/approvals-go/approvals/config"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/httpapi"
)

// The inbox is a people's route, anonymous to the Functions host: a
// decision from its form was vouched for by no function key, whatever
// the machine routes sit behind, and its outcome must not say one was.
func TestInboxBulkFormIsNotVouchedForByAFunctionKey(t *testing.T) {
	e := newAPIWith(t, httpapi.Options{FunctionKeys: true})
	e.startFor(t, "inbox-auth", "Laptop", "bob")
	e.until(t, "inbox-auth", submitted)
	form := url.Values{"id": {"inbox-auth"}, "approved": {"true"}, "approver": {"bob"}}
	if r := e.postForm(t, approval.ReviewPath, form); r.code != http.StatusOK {
		t.Fatalf("the inbox's form = %d %s", r.code, r.raw)
	}
	wantRecorded(t, e.until(t, "inbox-auth", finished), "bulk", "development")
}

// Hostile delegation bodies are refused, naming the field at fault where
// there is one, and nothing reaches a ledger: neither the delegator's nor
// the delegate's list shows anything afterwards.
func TestHostileDelegationsChangeNothing(t *testing.T) {
	e := newDelegatingAPI(t, httpapi.Options{})
	now := time.Now()
	from, until := rfc3339(now), rfc3339(now.Add(24*time.Hour))
	valid := `"delegator":"alice","to":"bob","from":"` + from + `","until":"` + until + `"`
	for name, c := range map[string]struct {
		body  string
		code  int
		field string
	}{
		"a duplicate key":        {`{` + valid + `,"to":"carol"}`, 400, "to"},
		"a key in another case":  {`{` + valid + `,"To":"carol"}`, 400, "To"},
		"an unknown field":       {`{` + valid + `,"acting_for":"x"}`, 400, "acting_for"},
		"invalid UTF-8":          {`{` + valid + `,"note":"` + "\xff\xfe" + `"}`, 400, "note"},
		"a lone surrogate":       {`{` + valid + `,"note":"\ud800"}`, 400, "note"},
		"a number for a name":    {`{"delegator":"alice","to":5,"from":"` + from + `","until":"` + until + `"}`, 400, "to"},
		"a date that is not one": {`{"delegator":"alice","to":"bob","from":"2026-13-01T00:00:00Z","until":"` + until + `"}`, 400, "from"},
		"a date without a zone":  {`{"delegator":"alice","to":"bob","from":"2026-12-01T00:00:00","until":"` + until + `"}`, 400, "from"},
		"from after until":       {`{"delegator":"alice","to":"bob","from":"` + until + `","until":"` + from + `"}`, 400, "until"},
		"a range too long":       {`{"delegator":"alice","to":"bob","from":"` + from + `","until":"9999-12-31T23:59:59Z"}`, 400, "until"},
		"a range long past":      {`{"delegator":"alice","to":"bob","from":"2001-01-01T00:00:00Z","until":"2001-01-02T00:00:00Z"}`, 400, "until"},
		"a control character":    {`{"delegator":"alice","to":"bob\u0007","from":"` + from + `","until":"` + until + `"}`, 400, "to"},
		"an inner tab":           {`{"delegator":"ali\tce","to":"bob","from":"` + from + `","until":"` + until + `"}`, 400, "delegator"},
		"a bidi override":        {`{"delegator":"alice","to":"bob\u202e","from":"` + from + `","until":"` + until + `"}`, 400, "to"},
		"a note too long":        {`{` + valid + `,"note":"` + strings.Repeat("x", approval.MaxNoteBytes+1) + `"}`, 400, "note"},
		"a body too large":       {`{` + valid + `,"note":"` + strings.Repeat("x", httpapi.MaxBodyBytes) + `"}`, 413, ""},
		"not an object":          {`["alice","bob"]`, 400, ""},
		"two values":             {`{` + valid + `}{` + valid + `}`, 400, ""},
	} {
		r := e.send(t, httpapi.DelegationsPath, "application/json", c.body)
		if r.code != c.code || r.body["field"] != nilIfEmpty(c.field) {
			t.Errorf("%s: %d %.300s; want %d naming %q", name, r.code, r.raw, c.code, c.field)
		}
	}
	for _, who := range []string{"alice", "bob", "carol"} {
		r := e.do(t, http.MethodGet, httpapi.DelegationsPath+"?person="+who, "", "")
		if r.code != http.StatusOK || len(r.body["given"].([]any))+len(r.body["received"].([]any)) != 0 {
			t.Errorf("%s's delegations after hostile bodies: %d %s", who, r.code, r.raw)
		}
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Signed in, every delegation route and the away page act for the
// signed-in person only: nobody gives, lists or revokes another's
// delegation, a delegate cannot revoke what they received, no principal
// is a 401, and the away page is not driven from another site.
func TestDelegationRoutesActForTheSignedInOnly(t *testing.T) {
	e := newDelegatingAPI(t, httpapi.Options{Identity: config.IdentityAppService})
	alice, bob, carol := signedIn("alice@contoso.com"), signedIn("bob@contoso.com"), signedIn("carol@contoso.com")
	now := time.Now()
	give := url.Values{"to": {"bob@contoso.com"}, "from": {now.UTC().Format(time.DateOnly)}, "until": {now.Add(48 * time.Hour).UTC().Format(time.DateOnly)}}

	// No principal: nothing is served.
	for _, c := range []struct{ method, path, ct, body string }{
		{http.MethodPost, httpapi.DelegationsPath, "application/json", `{"to":"bob@contoso.com","from":"` + rfc3339(now) + `","until":"` + rfc3339(now.Add(time.Hour)) + `"}`},
		{http.MethodGet, httpapi.DelegationsPath + "?person=alice@contoso.com", "", ""},
		{http.MethodDelete, httpapi.DelegationsPath + "/x?person=alice@contoso.com", "", ""},
		{http.MethodGet, httpapi.AwayPath + "?person=alice@contoso.com", "", ""},
		{http.MethodPost, httpapi.AwayPath, ctForm, give.Encode() + "&person=alice@contoso.com"},
	} {
		e.refused(t, e.do(t, c.method, c.path, c.ct, c.body), http.StatusUnauthorized, "sign_in_required")
	}
	// The away page for someone else, read or changed.
	e.refused(t, e.with(carol).do(t, http.MethodGet, httpapi.AwayPath+"?person=alice@contoso.com", "", ""), http.StatusForbidden, "person_mismatch")
	mallory := url.Values{"person": {"alice@contoso.com"}}
	for k, v := range give {
		mallory[k] = v
	}
	e.refused(t, e.with(carol).postForm(t, httpapi.AwayPath, mallory), http.StatusForbidden, "person_mismatch")
	// From another site, with alice's session: refused before anything.
	for _, h := range []http.Header{{"Sec-Fetch-Site": {"cross-site"}}, {"Origin": {"http://evil.example"}}} {
		for k, v := range alice {
			h[k] = v
		}
		e.refused(t, e.with(h).postForm(t, httpapi.AwayPath, give), http.StatusForbidden, "cross_site")
		e.refused(t, e.with(h).do(t, http.MethodDelete, httpapi.DelegationsPath+"/x", "", ""), http.StatusForbidden, "cross_site")
	}
	list := func(h http.Header) response {
		t.Helper()
		r := e.with(h).do(t, http.MethodGet, httpapi.DelegationsPath, "", "")
		if r.code != http.StatusOK {
			t.Fatalf("list = %d %s", r.code, r.raw)
		}
		return r
	}
	if r := list(alice); len(r.body["given"].([]any)) != 0 {
		t.Fatalf("refused requests gave a delegation: %s", r.raw)
	}

	// Alice gives one, from her own page.
	if r := e.with(alice).postForm(t, httpapi.AwayPath, give); r.code != http.StatusSeeOther {
		t.Fatalf("alice's own away form = %d %.300s", r.code, r.raw)
	}
	given := list(alice).body["given"].([]any)
	if len(given) != 1 {
		t.Fatalf("alice's delegations: %v", given)
	}
	id := given[0].(map[string]any)["id"].(string)
	// Carol cannot see it, nor revoke it by id; bob, its delegate, cannot
	// revoke it either; nor can a name in the query speak for alice.
	if r := list(carol); strings.Contains(r.raw, id) {
		t.Errorf("carol's list shows alice's delegation: %s", r.raw)
	}
	for _, c := range []struct {
		h      http.Header
		path   string
		code   int
		reason string
	}{
		{carol, httpapi.DelegationsPath + "/" + id, http.StatusNotFound, ""},
		{bob, httpapi.DelegationsPath + "/" + id, http.StatusForbidden, ""},
		{carol, httpapi.DelegationsPath + "/" + id + "?person=alice@contoso.com", http.StatusForbidden, "person_mismatch"},
	} {
		r := e.with(c.h).do(t, http.MethodDelete, c.path, "", "")
		if r.code != c.code || c.reason != "" && r.body["reason"] != c.reason {
			t.Errorf("DELETE %s = %d %s; want %d %s", c.path, r.code, r.raw, c.code, c.reason)
		}
	}
	if r := e.with(carol).postForm(t, httpapi.AwayPath, url.Values{"revoke": {id}}); r.code != http.StatusNotFound {
		t.Errorf("carol revoking alice's delegation from her away page = %d %.300s", r.code, r.raw)
	}
	if r := list(alice); len(r.body["given"].([]any)) != 1 {
		t.Fatalf("alice's delegation after others tried to revoke it: %s", r.raw)
	}
	if r := e.with(alice).do(t, http.MethodDelete, httpapi.DelegationsPath+"/"+id, "", ""); r.code != http.StatusOK {
		t.Fatalf("alice revoking her own = %d %s", r.code, r.raw)
	}
	if r := list(bob); len(r.body["received"].([]any)) != 0 {
		t.Errorf("bob still lists the revoked delegation: %s", r.raw)
	}
}

// With signed links and no sign-in, the site cannot tell who is asking
// for the away page, so there is none, and a post changes nothing.
func TestNoAwayPageWithSignedLinksAlone(t *testing.T) {
	e := newDelegatingAPI(t, httpapi.Options{Links: testSigner(t)})
	e.refused(t, e.do(t, http.MethodGet, httpapi.AwayPath+"?person=alice", "", ""), http.StatusForbidden, "sign_in_required")
	now := time.Now()
	give := url.Values{"person": {"alice"}, "to": {"bob"}, "from": {now.UTC().Format(time.DateOnly)}, "until": {now.Add(48 * time.Hour).UTC().Format(time.DateOnly)}}
	e.refused(t, e.postForm(t, httpapi.AwayPath, give), http.StatusForbidden, "sign_in_required")
	if r := e.do(t, http.MethodGet, httpapi.DelegationsPath+"?person=alice", "", ""); r.code != http.StatusOK || len(r.body["given"].([]any)) != 0 {
		t.Errorf("alice's delegations: %d %s", r.code, r.raw)
	}
}

// A delegation not yet seen kept is a 202 without Location (pollers
// follow a 202's Location, and the delegation's answers only DELETE),
// and the away page does not say it is kept.
func TestDelegationNotYetKeptIsNotSaidKept(t *testing.T) {
	e := newDelegatingAPI(t, httpapi.Options{DecisionWait: time.Nanosecond})
	now := time.Now()
	r := e.postJSON(t, httpapi.DelegationsPath, map[string]any{"delegator": "alice", "to": "bob", "from": rfc3339(now), "until": rfc3339(now.Add(time.Hour))})
	if r.code != http.StatusAccepted || r.header.Get("Location") != "" {
		t.Errorf("a delegation not yet seen kept = %d, Location %q; want 202 without Location", r.code, r.header.Get("Location"))
	}
	form := url.Values{"person": {"carol"}, "to": {"dan"}, "from": {now.UTC().Format(time.DateOnly)}, "until": {now.Add(48 * time.Hour).UTC().Format(time.DateOnly)}}
	r = e.postForm(t, httpapi.AwayPath, form)
	if r.code != http.StatusSeeOther {
		t.Fatalf("the away form = %d %s", r.code, r.raw)
	}
	page := e.with(http.Header{"Accept": {"text/html"}}).get(t, r.header.Get("Location"))
	if strings.Contains(page.raw, "Your delegation is kept") || !strings.Contains(page.raw, "not recorded yet") {
		t.Errorf("the away page after a delegation not yet seen kept says:\n%.2000s", page.raw)
	}
}

// The away form's faults are refused by field, as the API's are (a
// client that is not a browser reads them as a problem, not a page), and
// change nothing.
func TestHostileAwayFormsChangeNothing(t *testing.T) {
	e := newDelegatingAPI(t, httpapi.Options{})
	day := func(d int) string { return time.Now().AddDate(0, 0, d).UTC().Format(time.DateOnly) }
	for name, c := range map[string]struct {
		body  string
		field string
	}{
		"a repeated field":       {"person=alice&to=bob&to=carol&from=" + day(0) + "&until=" + day(2), "to"},
		"an unknown field":       {"person=alice&to=bob&from=" + day(0) + "&until=" + day(2) + "&delegator=eve", "delegator"},
		"invalid UTF-8":          {"person=alice&to=bob%FF&from=" + day(0) + "&until=" + day(2), "to"},
		"a control character":    {"person=alice&to=b%07ob&from=" + day(0) + "&until=" + day(2), "to"},
		"a date that is not one": {"person=alice&to=bob&from=2026-02-30&until=" + day(2), "from"},
		"until before from":      {"person=alice&to=bob&from=" + day(3) + "&until=" + day(1), "until"},
		"no person":              {"to=bob&from=" + day(0) + "&until=" + day(2), "person"},
	} {
		r := e.do(t, http.MethodPost, httpapi.AwayPath, ctForm, c.body)
		if r.code != http.StatusBadRequest || r.body["field"] != c.field {
			t.Errorf("%s: %d %.300s; want 400 naming %s", name, r.code, r.raw, c.field)
		}
	}
	for _, who := range []string{"alice", "bob"} {
		r := e.do(t, http.MethodGet, httpapi.DelegationsPath+"?person="+who, "", "")
		if r.code != http.StatusOK || len(r.body["given"].([]any))+len(r.body["received"].([]any)) != 0 {
			t.Errorf("%s's delegations after hostile forms: %d %s", who, r.code, r.raw)
		}
	}
}

// Requests for changes and resubmissions take their sender as decisions
// do: signed in, a body naming someone else is refused and nothing is
// delivered; hostile bodies are refused by field before anything is.
func TestChangesRoutesTakeTheSignedInPerson(t *testing.T) {
	e := newAPIWith(t, httpapi.Options{Identity: config.IdentityAppService})
	r := e.with(signedIn("ana@contoso.com")).postJSON(t, httpapi.ApprovalsPath, map[string]any{"request_id": "ch-signed", "requester": "ana@contoso.com",
		"item": "Laptop", "approvers": []string{"bob@contoso.com"}, "allow_changes": true, "timeout": "2h"})
	if r.code != http.StatusAccepted {
		t.Fatalf("start = %d %s", r.code, r.raw)
	}
	e.until(t, "ch-signed", submitted)
	changes, resubmit := "/api/approvals/ch-signed/changes", "/api/approvals/ch-signed/resubmit"
	bob, ana, carol := signedIn("bob@contoso.com"), signedIn("ana@contoso.com"), signedIn("carol@contoso.com")
	e.refused(t, e.postJSON(t, changes, map[string]any{"comments": "cheaper"}), http.StatusUnauthorized, "sign_in_required")
	e.refused(t, e.with(carol).postJSON(t, changes, map[string]any{"approver": "bob@contoso.com", "comments": "cheaper"}), http.StatusForbidden, "approver_mismatch")
	e.refused(t, e.with(carol).postJSON(t, changes, map[string]any{"comments": "cheaper"}), http.StatusForbidden, "not_an_approver")
	for name, c := range map[string]struct{ body, field string }{
		"a duplicate key":    {`{"comments":"a","comments":"b"}`, "comments"},
		"an unknown field":   {`{"comments":"a","acting_for":"x"}`, "acting_for"},
		"a stage as text":    {`{"comments":"a","stage":"1"}`, "stage"},
		"a fractional round": {`{"comments":"a","round":1.5}`, "round"},
		"invalid UTF-8":      {`{"comments":"` + "\xff" + `"}`, "comments"},
		"no comments":        {`{"comments":"  "}`, "comments"},
	} {
		if r := e.with(bob).send(t, changes, "application/json", c.body); r.code != http.StatusBadRequest || r.body["field"] != c.field {
			t.Errorf("changes with %s = %d %s; want 400 naming %s", name, r.code, r.raw, c.field)
		}
	}
	if n := e.orch.decisions.Load(); n != 0 {
		t.Fatalf("refused requests for changes delivered %d events", n)
	}
	if r := e.with(bob).postJSON(t, changes, map[string]any{"comments": "cheaper"}); r.code != http.StatusOK {
		t.Fatalf("bob's request for changes = %d %s", r.code, r.raw)
	}
	e.orch.decisions.Store(0)
	e.refused(t, e.with(bob).postJSON(t, resubmit, map[string]any{"item": "Laptop, cheaper"}), http.StatusForbidden, "not_the_requester")
	e.refused(t, e.with(bob).postJSON(t, resubmit, map[string]any{"requester": "ana@contoso.com", "item": "x"}), http.StatusForbidden, "requester_mismatch")
	if r := e.with(ana).send(t, resubmit, "application/json", `{"item":"   "}`); r.code != http.StatusBadRequest || r.body["field"] != "item" {
		t.Errorf("a blank item = %d %s; want 400 naming item", r.code, r.raw)
	}
	if r := e.with(ana).postJSON(t, resubmit, map[string]any{"item": "Laptop, cheaper", "comments": "done"}); r.code != http.StatusOK {
		t.Fatalf("ana's resubmission = %d %s", r.code, r.raw)
	}
	rounds, _ := e.get(t, "/api/approvals/ch-signed").body["rounds"].([]any)
	if len(rounds) != 1 || rounds[0].(map[string]any)["requested_by"] != "bob@contoso.com" || rounds[0].(map[string]any)["resubmit_auth"] != "sign_in" {
		t.Errorf("rounds: %v", rounds)
	}
}
