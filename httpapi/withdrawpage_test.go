package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/approvals-go/approvals/config"
	"github.com/approvals-go/approvals/httpapi"
)

// headers is h1 with h2's headers added.
func headers(h1, h2 http.Header) http.Header {
	out := h1.Clone()
	for k, v := range h2 {
		out[k] = v
	}
	return out
}

const withdrawButton = `name="action" value="withdraw"`

// The review page offers the requester, and only them, to withdraw: a link
// to a confirm step, whose form posts the withdrawal. Signed in, ana sees
// the offer and no decision form; bob, an approver, sees no offer, and
// opening the confirm step's address shows him his decision form only.
// A withdrawal posted for someone else, without a sign-in, or naming
// another requester is refused and raises nothing; ana's is answered
// like a decision: 303 back to the page for a browser, which then shows
// it Withdrawn with her reason.
func TestReviewWithdrawSignedIn(t *testing.T) {
	e := newAPIWith(t, httpapi.Options{Identity: config.IdentityAppService})
	e.startFor(t, "rw-in", "Laptop", "bob")
	ana, bob := signedIn("ana"), signedIn("bob")
	page := "/api/review/rw-in"
	confirm := page + "?withdraw=confirm"

	offer := e.with(headers(browserGet, ana)).get(t, page)
	if offer.code != http.StatusOK || !strings.Contains(offer.raw, `href="`+strings.ReplaceAll(confirm, "&", "&amp;")+`"`) ||
		strings.Contains(offer.raw, withdrawButton) || strings.Contains(offer.raw, `name="approved"`) ||
		!strings.Contains(offer.raw, "You requested this, so someone else must decide it.") {
		t.Fatalf("ana's page: %d %s", offer.code, offer.raw)
	}
	step := e.with(headers(browserGet, ana)).get(t, confirm)
	if !strings.Contains(step.raw, withdrawButton) || !strings.Contains(step.raw, "You are withdrawing it as <strong>ana</strong>") ||
		strings.Contains(step.raw, `id="requester"`) || strings.Contains(step.raw, "someone else must decide") {
		t.Fatalf("ana's confirm step: %s", step.raw)
	}
	for _, path := range []string{page, confirm} {
		r := e.with(headers(browserGet, bob)).get(t, path)
		if strings.Contains(r.raw, "?withdraw=confirm") || strings.Contains(r.raw, withdrawButton) || strings.Contains(r.raw, "Withdraw") ||
			!strings.Contains(r.raw, `name="approved"`) {
			t.Fatalf("bob's %s offers a withdrawal or no decision: %s", path, r.raw)
		}
	}

	withdraw := url.Values{"action": {"withdraw"}, "reason": {"bought one"}}
	e.refused(t, e.postForm(t, page, withdraw), http.StatusUnauthorized, "sign_in_required")
	e.refused(t, e.with(bob).postForm(t, page, withdraw), http.StatusForbidden, "not_the_requester")
	e.refused(t, e.with(ana).postForm(t, page, url.Values{"action": {"withdraw"}, "requester": {"bob"}}), http.StatusForbidden, "requester_mismatch")
	for _, body := range []url.Values{{"action": {"withdraw!"}}, {"approved": {"true"}, "reason": {"why"}}} {
		if r := e.with(bob).postForm(t, page, body); r.code != http.StatusBadRequest || r.body["field"] != "action" {
			t.Fatalf("%v = %d %s", body, r.code, r.raw)
		}
	}
	// The refusal a browser sees is the page, saying so, and no form.
	r := e.with(headers(browserPost, bob)).postForm(t, page, withdraw)
	if r.code != http.StatusForbidden || !strings.Contains(r.raw, "Your withdrawal was not recorded.") || strings.Contains(r.raw, withdrawButton) {
		t.Fatalf("bob's withdrawal in a browser = %d %s", r.code, r.raw)
	}

	done := e.with(headers(browserPost, ana)).postForm(t, page, withdraw)
	if done.code != http.StatusSeeOther || done.header.Get("Location") != e.url+page {
		t.Fatalf("ana's withdrawal = %d %s, Location %q", done.code, done.raw, done.header.Get("Location"))
	}
	f := e.until(t, "rw-in", finished)
	if result, _ := f.body["result"].(map[string]any); f.body["status"] != "Withdrawn" || result["approver"] != "ana" || result["comments"] != "bought one" {
		t.Fatalf("recorded %s", f.raw)
	}
	shown := e.with(headers(browserGet, ana)).get(t, page)
	if !strings.Contains(shown.raw, "Withdrawn by <span class=\"who\">ana</span>") || !strings.Contains(shown.raw, "bought one") ||
		strings.Contains(shown.raw, "?withdraw=confirm") {
		t.Fatalf("the withdrawn page: %s", shown.raw)
	}
}

// In development (names typed, no link key) the page cannot tell who is
// looking: it offers the withdrawal to whoever opens it, saying so, and
// takes only the requester's name when the confirm step is posted. A
// refused name shows the confirm step again as it was filled in.
func TestReviewWithdrawTypedName(t *testing.T) {
	e := newAPI(t)
	e.startFor(t, "rw-dev", "Laptop", "bob")
	page := "/api/review/rw-dev"
	offer := e.with(browserGet).get(t, page)
	if !strings.Contains(offer.raw, "?withdraw=confirm") || !strings.Contains(offer.raw, "Development identity mode") || !strings.Contains(offer.raw, `name="approved"`) {
		t.Fatalf("the page: %s", offer.raw)
	}
	step := e.with(browserGet).get(t, page+"?withdraw=confirm")
	if !strings.Contains(step.raw, `id="requester"`) || !strings.Contains(step.raw, withdrawButton) || strings.Contains(step.raw, `name="approved"`) {
		t.Fatalf("the confirm step: %s", step.raw)
	}
	if r := e.postForm(t, page, url.Values{"action": {"withdraw"}}); r.code != http.StatusBadRequest || r.body["field"] != "requester" {
		t.Fatalf("a withdrawal without a name = %d %s", r.code, r.raw)
	}
	r := e.with(browserPost).postForm(t, page, url.Values{"action": {"withdraw"}, "requester": {"bob"}, "reason": {"not mine"}})
	if r.code != http.StatusForbidden || !strings.Contains(r.raw, "Your withdrawal was not recorded.") ||
		!strings.Contains(r.raw, `value="bob"`) || !strings.Contains(r.raw, ">not mine</textarea>") || !strings.Contains(r.raw, withdrawButton) {
		t.Fatalf("bob's withdrawal = %d %s", r.code, r.raw)
	}
	if d := e.postForm(t, page, url.Values{"action": {"withdraw"}, "requester": {"Ana"}}); d.code != http.StatusOK || d.body["status"] != "Withdrawn" {
		t.Fatalf("ana's withdrawal = %d %s", d.code, d.raw)
	}
}

// With a link key and no sign-in, a withdrawal needs a link as a decision
// does, and is taken from the person the link names: not an approver who
// is not the requester; the requester, when the request names them among
// its approvers and so sends them a link, whose page then offers the
// withdrawal and no decision.
func TestReviewWithdrawSignedLink(t *testing.T) {
	signer := testSigner(t)
	e := newAPIWith(t, httpapi.Options{Links: signer})
	e.startFor(t, "rw-link", "Laptop", "bob")
	page := "/api/review/rw-link"
	e.refused(t, e.postForm(t, page, url.Values{"action": {"withdraw"}, "requester": {"ana"}}), http.StatusForbidden, "link_required")
	token := signer.Token("rw-link", "bob", time.Now().Add(time.Hour))
	e.refused(t, e.postForm(t, page, url.Values{"action": {"withdraw"}, "token": {token}}), http.StatusForbidden, "not_the_requester")
	if r := e.with(browserGet).get(t, page+"?withdraw=confirm&token="+url.QueryEscape(token)); strings.Contains(r.raw, withdrawButton) || strings.Contains(r.raw, "?withdraw=confirm") {
		t.Fatalf("bob's link offers a withdrawal: %s", r.raw)
	}

	e.startFor(t, "rw-own", "Desk", "bob", "ana")
	link, err := url.Parse(e.notices.link(t, "rw-own", "ana"))
	if err != nil {
		t.Fatal(err)
	}
	own := e.with(browserGet).get(t, link.RequestURI())
	if !strings.Contains(own.raw, "?token=") || !strings.Contains(own.raw, "withdraw=confirm") || strings.Contains(own.raw, `name="approved"`) {
		t.Fatalf("ana's own link: %s", own.raw)
	}
	step := e.with(browserGet).get(t, link.RequestURI()+"&withdraw=confirm")
	if !strings.Contains(step.raw, withdrawButton) || !strings.Contains(step.raw, `name="token"`) {
		t.Fatalf("ana's confirm step: %s", step.raw)
	}
	if d := e.postForm(t, "/api/review/rw-own", url.Values{"action": {"withdraw"}, "token": {link.Query().Get("token")}}); d.code != http.StatusOK || d.body["status"] != "Withdrawn" {
		t.Fatalf("ana's withdrawal with her link = %d %s", d.code, d.raw)
	}
}
