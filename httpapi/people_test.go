package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/config"
	"github.com/approvals-go/approvals/httpapi"
)

// with is e sending h with every request.
func (e *apiEnv) with(h http.Header) *apiEnv {
	c := *e
	c.header = h
	return &c
}

// refused checks that r is a 403 (or code) problem naming reason, and that
// nothing has been raised.
func (e *apiEnv) refused(t *testing.T, r response, code int, reason string) {
	t.Helper()
	if r.code != code || r.header.Get("Content-Type") != "application/problem+json" || r.body["reason"] != reason {
		t.Fatalf("answer %d %s, want %d problem with reason %s", r.code, r.raw, code, reason)
	}
	if detail, _ := r.body["detail"].(string); detail == "" {
		t.Fatalf("a refusal without detail: %s", r.raw)
	}
	if n := e.orch.decisions.Load(); n != 0 {
		t.Fatalf("a refused decision raised %d events", n)
	}
}

// The requester never decides their own request, named as an approver or
// not; when approvers are named, nobody else decides; names compare
// regardless of case. Each refusal is a 403 naming its reason, on the
// machine route and on the review page's form alike, and raises nothing.
func TestWhoMayDecide(t *testing.T) {
	e := newAPI(t)
	e.startFor(t, "who-1", "Laptop", "Bob@Example.com", "ana")
	for _, c := range []struct {
		name, path, ct, body, reason string
	}{
		{"requester", "/api/approvals/who-1/decision", ctJSON, `{"approved":true,"approver":"ana"}`, "self_decision"},
		{"requester in other case", "/api/approvals/who-1/decision", ctJSON, `{"approved":true,"approver":" ANA "}`, "self_decision"},
		{"someone not named", "/api/approvals/who-1/decision", ctJSON, `{"approved":true,"approver":"carol"}`, "not_an_approver"},
		{"requester on the page", "/api/review/who-1", ctForm, "approved=true&approver=ana", "self_decision"},
		{"not named on the page", "/api/review/who-1", ctForm, "approved=false&approver=mallory", "not_an_approver"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.refused(t, e.do(t, http.MethodPost, c.path, c.ct, c.body), http.StatusForbidden, c.reason)
		})
	}
	if r := e.do(t, http.MethodGet, "/api/approvals/who-1", "", ""); r.body["status"] != "Pending" {
		t.Fatalf("after the refusals the approval is %s", r.raw)
	}
	d := e.postJSON(t, "/api/approvals/who-1/decision", map[string]any{"approved": true, "approver": "bob@example.com"})
	if d.code != http.StatusOK || d.body["status"] != "Approved" {
		t.Fatalf("the named approver's decision = %d %s", d.code, d.raw)
	}

	// With nobody named, anyone but the requester decides.
	r := e.postJSON(t, httpapi.ApprovalsPath, map[string]any{"request_id": "who-2", "requester": "ana", "item": "pen"})
	if r.code != http.StatusAccepted {
		t.Fatalf("start = %d %s", r.code, r.raw)
	}
	e.orch.decisions.Store(0)
	e.refused(t, e.postJSON(t, "/api/approvals/who-2/decision", map[string]any{"approved": true, "approver": "Ana"}), http.StatusForbidden, "self_decision")
	if d := e.postJSON(t, "/api/approvals/who-2/decision", map[string]any{"approved": true, "approver": "zoe"}); d.code != http.StatusOK {
		t.Fatalf("anyone's decision = %d %s", d.code, d.raw)
	}

	// A request whose only approver is its requester cannot be started.
	for _, body := range []map[string]any{
		{"requester": "ana", "item": "pen", "approver": "ANA"},
		{"requester": "ana", "item": "pen", "approvers": []string{"ana"}},
	} {
		if r := e.postJSON(t, httpapi.ApprovalsPath, body); r.code != http.StatusBadRequest {
			t.Fatalf("start %v = %d %s", body, r.code, r.raw)
		}
	}
	// Approvers are echoed back, and may come as repeated form fields.
	r = e.postForm(t, httpapi.ApprovalsPath, url.Values{"request_id": {"who-3"}, "requester": {"ana"}, "item": {"pen"}, "approvers": {"bob", "carol"}})
	if r.code != http.StatusAccepted || jsonOf(r.body["approvers"]) != `["bob","carol"]` {
		t.Fatalf("start with approvers = %d %s", r.code, r.raw)
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// principal is X-MS-CLIENT-PRINCIPAL as App Service Authentication sends
// it for a Microsoft Entra ID user, with name under the claim type typ.
func principal(typ, name string) string {
	b, _ := json.Marshal(map[string]any{
		"auth_typ": "aad",
		"name_typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
		"role_typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
		"claims": []map[string]string{
			{"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": "00000000-0000-0000-0000-000000000001"},
			{"typ": typ, "val": name},
		},
	})
	return base64.StdEncoding.EncodeToString(b)
}

func signedIn(name string) http.Header {
	return http.Header{"X-Ms-Client-Principal": {principal("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name", name)},
		"X-Ms-Client-Principal-Name": {name}}
}

// With APPROVALS_IDENTITY=appservice the decider is the principal App
// Service Authentication signed in, never the body: a body that names
// someone else is a 403, no principal a 401, and the outcome records the
// verified name.
func TestAppServiceIdentity(t *testing.T) {
	e := newAPIWith(t, httpapi.Options{Identity: config.IdentityAppService})
	e.startFor(t, "as-1", "Laptop", "bob@contoso.com")
	decision := "/api/approvals/as-1/decision"
	bob := signedIn("bob@contoso.com")

	e.refused(t, e.postJSON(t, decision, map[string]any{"approved": true, "approver": "bob@contoso.com"}), http.StatusUnauthorized, "sign_in_required")
	if r := e.postJSON(t, decision, map[string]any{"approved": true}); r.header.Get("WWW-Authenticate") == "" {
		t.Fatalf("a 401 without WWW-Authenticate: %v", r.header)
	}
	for name, h := range map[string]http.Header{
		"not base64":      {"X-Ms-Client-Principal": {"%%%"}},
		"not JSON":        {"X-Ms-Client-Principal": {base64.StdEncoding.EncodeToString([]byte("bob"))}},
		"no name claim":   {"X-Ms-Client-Principal": {principal("groups", "admins")}},
		"two principals":  {"X-Ms-Client-Principal": {principal("upn", "bob@contoso.com"), principal("upn", "eve@contoso.com")}},
		"control in name": {"X-Ms-Client-Principal": {principal("upn", "bob\x1b[2J")}},
		// An application's token is named by its application id alone.
		"application without an id": {"X-Ms-Client-Principal": {principal("idtyp", "app")}, "X-Ms-Client-Principal-Name": {"bob@contoso.com"}},
	} {
		t.Run(name, func(t *testing.T) {
			e.refused(t, e.with(h).postJSON(t, decision, map[string]any{"approved": true}), http.StatusUnauthorized, "sign_in_required")
		})
	}
	e.refused(t, e.with(bob).postJSON(t, decision, map[string]any{"approved": true, "approver": "carol@contoso.com"}), http.StatusForbidden, "approver_mismatch")
	e.refused(t, e.with(signedIn("ana")).postJSON(t, decision, map[string]any{"approved": true}), http.StatusForbidden, "self_decision")
	e.refused(t, e.with(signedIn("carol@contoso.com")).postForm(t, "/api/review/as-1", url.Values{"approved": {"true"}}), http.StatusForbidden, "not_an_approver")
	e.refused(t, e.postForm(t, "/api/review/as-1", url.Values{"approved": {"true"}, "approver": {"bob@contoso.com"}}), http.StatusUnauthorized, "sign_in_required")

	// The body may name the principal in another case, or not at all.
	d := e.with(bob).postJSON(t, decision, map[string]any{"approved": true, "approver": "BOB@contoso.com", "comments": "ok"})
	if d.code != http.StatusOK {
		t.Fatalf("the principal's decision = %d %s", d.code, d.raw)
	}
	if result, _ := d.body["result"].(map[string]any); result["approver"] != "bob@contoso.com" {
		t.Fatalf("the outcome records %v, not the verified name", result["approver"])
	}

	// Microsoft Entra ID's v2 tokens carry no name_typ claim; the UPN is
	// in preferred_username.
	e.startFor(t, "as-2", "Desk", "dana@contoso.com")
	dana := http.Header{"X-Ms-Client-Principal": {principal("preferred_username", "dana@contoso.com")}}
	if d := e.with(dana).postForm(t, "/api/review/as-2", url.Values{"approved": {"false"}, "comments": {"no"}}); d.code != http.StatusOK || d.body["status"] != "Rejected" {
		t.Fatalf("decision by preferred_username = %d %s", d.code, d.raw)
	}
	f := e.until(t, "as-2", finished)
	if result, _ := f.body["result"].(map[string]any); result["approver"] != "dana@contoso.com" {
		t.Fatalf("final %s", f.raw)
	}
}

// appPrincipal is X-MS-CLIENT-PRINCIPAL as App Service Authentication
// sends it for an application calling with an access token of its own
// (client credentials, or a managed identity): its application id in azp
// (appid in a v1.0 token), its object id, the app roles granted to it, and
// no delegated scope and no sign-in name. extra claims are added as given.
func appPrincipal(appIDClaim, appID string, roles []string, extra ...map[string]string) string {
	const oid = "00000000-0000-0000-0000-0000000000a1"
	claims := []map[string]string{
		{"typ": "aud", "val": "api://11111111-1111-1111-1111-111111111111"},
		{"typ": "iss", "val": "https://login.microsoftonline.com/22222222-2222-2222-2222-222222222222/v2.0"},
		{"typ": appIDClaim, "val": appID},
		{"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": oid},
		{"typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier", "val": oid},
		{"typ": "http://schemas.microsoft.com/identity/claims/tenantid", "val": "22222222-2222-2222-2222-222222222222"},
	}
	for _, r := range roles {
		claims = append(claims, map[string]string{"typ": "roles", "val": r})
	}
	claims = append(claims, extra...)
	b, _ := json.Marshal(map[string]any{
		"auth_typ": "aad",
		"name_typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
		"role_typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
		"claims":   claims,
	})
	return base64.StdEncoding.EncodeToString(b)
}

// A script or a Logic App calls with an access token for the app: App
// Service Authentication validates it and passes its claims on. The
// application is a decider like a person, known by its application id,
// which approvers may name; it needs the app role to act at all, and no
// name it could choose for itself (a display name, a principal name the
// platform derives) makes it anyone else.
func TestApplicationPrincipal(t *testing.T) {
	const (
		script   = "33333333-3333-3333-3333-333333333333"
		logicApp = "44444444-4444-4444-4444-444444444444"
	)
	e := newAPIWith(t, httpapi.Options{Identity: config.IdentityAppService})
	e.startFor(t, "app-1", "Laptop", script)
	e.startFor(t, "app-2", "Desk", "bob@contoso.com")
	app := func(p string) http.Header { return http.Header{"X-Ms-Client-Principal": {p}} }
	withRole := app(appPrincipal("azp", script, []string{httpapi.AppRole}))

	e.refused(t, e.with(app(appPrincipal("azp", script, nil))).postJSON(t, "/api/approvals/app-1/decision", map[string]any{"approved": true}), http.StatusForbidden, "app_role_required")
	e.refused(t, e.with(app(appPrincipal("azp", script, []string{"Approvals.Read", "approvals.decide"}))).postJSON(t, "/api/approvals/app-1/decision", map[string]any{"approved": true}), http.StatusForbidden, "app_role_required")
	// Not named on app-2, whatever the platform calls it.
	posing := withRole.Clone()
	posing.Set("X-Ms-Client-Principal-Name", "bob@contoso.com")
	e.refused(t, e.with(posing).postJSON(t, "/api/approvals/app-2/decision", map[string]any{"approved": true}), http.StatusForbidden, "not_an_approver")
	e.refused(t, e.with(posing).postJSON(t, "/api/approvals/app-2/decision", map[string]any{"approved": true, "approver": "bob@contoso.com"}), http.StatusForbidden, "approver_mismatch")
	// A person's delegated token names the client it came through (azp)
	// too: it is the person, never that client.
	viaCLI := app(appPrincipal("azp", script, nil,
		map[string]string{"typ": "http://schemas.microsoft.com/identity/claims/scope", "val": "user_impersonation"},
		map[string]string{"typ": "preferred_username", "val": "carol@contoso.com"}))
	e.refused(t, e.with(viaCLI).postJSON(t, "/api/approvals/app-1/decision", map[string]any{"approved": true}), http.StatusForbidden, "not_an_approver")
	// A token that says it is a person's (idtyp user) but names none is
	// no one.
	e.refused(t, e.with(app(appPrincipal("azp", script, []string{httpapi.AppRole}, map[string]string{"typ": "idtyp", "val": "user"}))).postJSON(t, "/api/approvals/app-1/decision", map[string]any{"approved": true}), http.StatusUnauthorized, "sign_in_required")

	d := e.with(withRole).postJSON(t, "/api/approvals/app-1/decision", map[string]any{"approved": true, "comments": "checked by the pipeline"})
	if d.code != http.StatusOK || d.body["status"] != "Approved" {
		t.Fatalf("the named application's decision = %d %s", d.code, d.raw)
	}
	if result, _ := d.body["result"].(map[string]any); result["approver"] != script || result["approver_oid"] != "00000000-0000-0000-0000-0000000000a1" {
		t.Fatalf("the outcome records %v", result)
	}

	// A v1.0 token names the application in appid; idtyp app is enough
	// even with a name claim. An application withdraws what it requested
	// as itself.
	r := e.postJSON(t, httpapi.ApprovalsPath, map[string]any{"request_id": "app-3", "requester": logicApp, "item": "Build 42", "approver": "bob@contoso.com", "timeout": "2h"})
	if r.code != http.StatusAccepted {
		t.Fatalf("start = %d %s", r.code, r.raw)
	}
	e.until(t, "app-3", submitted)
	flow := app(appPrincipal("appid", logicApp, []string{httpapi.AppRole},
		map[string]string{"typ": "idtyp", "val": "app"}, map[string]string{"typ": "email", "val": "bob@contoso.com"}))
	e.orch.decisions.Store(0)
	e.refused(t, e.with(withRole).postJSON(t, "/api/approvals/app-3/withdraw", map[string]any{"reason": "not mine"}), http.StatusForbidden, "not_the_requester")
	w := e.with(flow).postJSON(t, "/api/approvals/app-3/withdraw", map[string]any{"reason": "the flow was cancelled"})
	if w.code != http.StatusOK || w.body["status"] != "Withdrawn" {
		t.Fatalf("the requesting application's withdrawal = %d %s", w.code, w.raw)
	}
}

// With sign-in, App Service Authentication lets anonymous requests through
// so that a function key alone starts, reads and lists; the handler then
// serves the people's routes to the signed-in only. A browser opening a
// page, a signed link included, is sent to sign in and back; anything else
// is a 401. Deciding and withdrawing need a principal wherever they are
// asked.
func TestPeopleRoutesNeedSignIn(t *testing.T) {
	signer := testSigner(t)
	e := newAPIWith(t, httpapi.Options{Links: signer, Identity: config.IdentityAppService})
	e.startFor(t, "pg-1", "Laptop", "bob@contoso.com")
	token := signer.Token("pg-1", "bob@contoso.com", time.Now().Add(time.Hour))
	browser := e.with(browserGet)
	for _, page := range []string{"/api/review", "/api/review?status=Pending", "/api/review/pg-1", "/api/review/pg-1?token=" + url.QueryEscape(token)} {
		r := browser.do(t, http.MethodGet, page, "", "")
		want := httpapi.LoginPath + "?" + url.Values{"post_login_redirect_uri": {page}}.Encode()
		if r.code != http.StatusFound || r.header.Get("Location") != want {
			t.Fatalf("a browser opening %s without signing in = %d %s, Location %q; want 302 to %s", page, r.code, r.raw, r.header.Get("Location"), want)
		}
		e.refused(t, e.do(t, http.MethodGet, page, "", ""), http.StatusUnauthorized, "sign_in_required")
	}
	e.refused(t, e.postForm(t, "/api/review/pg-1", url.Values{"approved": {"true"}, "token": {token}}), http.StatusUnauthorized, "sign_in_required")
	// A form posted once the session is gone cannot be replayed after a
	// redirect: the page says to sign in, with the way back.
	if r := browser.postForm(t, "/api/review/pg-1", url.Values{"approved": {"true"}}); r.code != http.StatusUnauthorized || !strings.Contains(r.raw, `href="/.auth/login/aad?post_login_redirect_uri=%2Fapi%2Freview%2Fpg-1"`) {
		t.Fatalf("a browser posting without a session = %d %.300s", r.code, r.raw)
	}
	e.refused(t, e.with(http.Header{"X-Ms-Client-Principal": {appPrincipal("azp", "33333333-3333-3333-3333-333333333333", nil)}}).do(t, http.MethodGet, "/api/review", "", ""), http.StatusForbidden, "app_role_required")
	e.refused(t, e.postJSON(t, "/api/approvals/pg-1/decision", map[string]any{"approved": true, "approver": "bob@contoso.com"}), http.StatusUnauthorized, "sign_in_required")
	e.refused(t, e.postJSON(t, "/api/approvals/pg-1/withdraw", map[string]any{"requester": "ana"}), http.StatusUnauthorized, "sign_in_required")

	// What a function key alone does.
	if r := e.do(t, http.MethodGet, "/api/approvals/pg-1", "", ""); r.code != http.StatusAccepted {
		t.Fatalf("status without a principal = %d %s", r.code, r.raw)
	}
	if r := e.do(t, http.MethodGet, httpapi.ApprovalsPath+"?approver=bob@contoso.com", "", ""); r.code != http.StatusOK {
		t.Fatalf("list without a principal = %d %s", r.code, r.raw)
	}
	if r := e.postJSON(t, httpapi.ApprovalsPath, map[string]any{"request_id": "pg-2", "requester": "ana", "item": "pen"}); r.code != http.StatusAccepted {
		t.Fatalf("start without a principal = %d %s", r.code, r.raw)
	}

	// Signed in, the same page opens.
	bob := e.with(http.Header{"Accept": browserGet["Accept"], "X-Ms-Client-Principal": signedIn("bob@contoso.com")["X-Ms-Client-Principal"]})
	if r := bob.do(t, http.MethodGet, "/api/review/pg-1?token="+url.QueryEscape(token), "", ""); r.code != http.StatusOK {
		t.Fatalf("bob opening his link = %d %.300s", r.code, r.raw)
	}
}

// A form posted from another site is refused before anything else, on
// every route that changes something; a browser's own page, a typed URL
// and a client that is not a browser (no Sec-Fetch-Site, no Origin) are
// not.
func TestCrossSiteFormPostRefused(t *testing.T) {
	e := newAPI(t)
	e.startFor(t, "xs-1", "Laptop", "bob")
	e.orch.starts.Store(0)
	own := e.url
	for _, h := range []http.Header{
		{"Sec-Fetch-Site": {"cross-site"}},
		{"Sec-Fetch-Site": {"same-site"}},
		{"Sec-Fetch-Site": {"cross-site"}, "Origin": {own}},
		{"Origin": {"http://evil.example"}},
		{"Origin": {"null"}},
		{"Origin": {strings.Replace(own, "127.0.0.1", "127.0.0.2", 1)}},
		{"Origin": {own, "http://evil.example"}},
	} {
		for _, c := range []struct{ path, body string }{
			{"/api/approvals/xs-1/decision", "approved=true&approver=bob"},
			{"/api/review/xs-1", "approved=true&approver=bob"},
			{"/api/review/xs-1", "action=withdraw&requester=ana"},
			{httpapi.ApprovalsPath, "requester=eve&item=car"},
		} {
			r := e.with(h).do(t, http.MethodPost, c.path, ctForm, c.body)
			e.refused(t, r, http.StatusForbidden, "cross_site")
		}
	}
	if n := e.orch.starts.Load(); n != 0 {
		t.Fatalf("cross-site posts started %d approvals", n)
	}
	// The browser's own page (as Chromium sends it), and a page that only
	// sends Origin, on the same host.
	for _, h := range []http.Header{
		{"Sec-Fetch-Site": {"same-origin"}, "Origin": {own}},
		{"Origin": {strings.Replace(own, "http:", "https:", 1)}},
	} {
		if r := e.with(h).do(t, http.MethodPost, httpapi.ApprovalsPath, ctForm, "requester=ana&item=pen"); r.code != http.StatusAccepted {
			t.Fatalf("a same-origin post %v = %d %s", h, r.code, r.raw)
		}
	}
	if r := e.with(http.Header{"Sec-Fetch-Site": {"none"}}).postForm(t, "/api/review/xs-1", url.Values{"approved": {"true"}, "approver": {"bob"}}); r.code != http.StatusOK {
		t.Fatalf("a post the person started themselves = %d %s", r.code, r.raw)
	}
}

// Signed links: a GET shows the page and decides nothing; only the form's
// post decides, as the approver the link names. A tampered, expired,
// foreign or rotated-out link is a 403 and decides nothing, while a link
// signed with the previous key still works.
func TestSignedLinks(t *testing.T) {
	const (
		oldKey     = "0ld-0ld-0ld-0ld-0ld-0ld-0ld-0ld-"
		previous   = "previous-previous-previous-previ"
		current    = "current-current-current-current-"
		otherAppID = "other-other-other-other-other-ot"
	)
	signer, err := approval.NewLinkSigner(current, previous)
	if err != nil {
		t.Fatal(err)
	}
	e := newAPIWith(t, httpapi.Options{Links: signer})
	e.startFor(t, "sl-1", "Laptop", "bob")
	e.startFor(t, "sl-2", "Desk", "bob")
	later := time.Now().Add(time.Hour)
	signWith := func(key, id, who string, expires time.Time) string {
		s, err := approval.NewLinkSigner(key, "")
		if err != nil {
			t.Fatal(err)
		}
		return s.Token(id, who, expires)
	}
	good := signWith(current, "sl-1", "bob", later)
	payload, sig, _ := strings.Cut(good, ".")
	forged, _ := json.Marshal(map[string]any{"id": "sl-1", "sub": "mallory", "exp": later.Unix()})
	for _, c := range []struct{ name, token, reason string }{
		{"tampered approver", base64.RawURLEncoding.EncodeToString(forged) + "." + sig, "link_invalid"},
		{"tampered signature", payload + "." + strings.Repeat("A", len(sig)), "link_invalid"},
		{"no signature", payload, "link_invalid"},
		{"another approval's", signWith(current, "sl-2", "bob", later), "link_invalid"},
		{"expired", signWith(current, "sl-1", "bob", time.Now().Add(-time.Minute)), "link_expired"},
		{"rotated-out key", signWith(oldKey, "sl-1", "bob", later), "link_invalid"},
		{"another deployment's key", signWith(otherAppID, "sl-1", "bob", later), "link_invalid"},
	} {
		t.Run(c.name, func(t *testing.T) {
			page := "/api/review/sl-1?token=" + url.QueryEscape(c.token)
			e.refused(t, e.do(t, http.MethodGet, page, "", ""), http.StatusForbidden, c.reason)
			html := e.with(http.Header{"Accept": {"text/html"}}).do(t, http.MethodGet, page, "", "")
			if html.code != http.StatusForbidden || !strings.HasPrefix(html.header.Get("Content-Type"), "text/html") || !strings.Contains(html.raw, "This link") {
				t.Fatalf("a browser is shown %d %s: %.300s", html.code, html.header.Get("Content-Type"), html.raw)
			}
			e.refused(t, e.postForm(t, "/api/review/sl-1", url.Values{"approved": {"true"}, "token": {c.token}}), http.StatusForbidden, c.reason)
		})
	}

	// Without a token, the review page cannot tell who is deciding: with a
	// link key configured, a typed name is not taken.
	e.refused(t, e.postForm(t, "/api/review/sl-1", url.Values{"approved": {"true"}, "approver": {"bob"}}), http.StatusForbidden, "link_required")

	// A GET of a good link, with the previous key, decides nothing.
	fromPrevious := signWith(previous, "sl-1", "bob", later)
	for range 3 {
		r := e.with(http.Header{"Accept": {"text/html"}}).do(t, http.MethodGet, "/api/review/sl-1?token="+url.QueryEscape(fromPrevious), "", "")
		if r.code != http.StatusOK || !strings.Contains(r.raw, "You are deciding as <strong>bob</strong>") || !strings.Contains(r.raw, `name="token"`) {
			t.Fatalf("a good link shows %d: %.400s", r.code, r.raw)
		}
	}
	if n := e.orch.decisions.Load(); n != 0 {
		t.Fatalf("opening a link raised %d decisions", n)
	}
	// A body naming someone else than the link's approver is refused.
	e.refused(t, e.postForm(t, "/api/review/sl-1", url.Values{"approved": {"true"}, "token": {fromPrevious}, "approver": {"eve"}}), http.StatusForbidden, "approver_mismatch")
	d := e.postForm(t, "/api/review/sl-1", url.Values{"approved": {"true"}, "token": {fromPrevious}, "comments": {"via link"}})
	if d.code != http.StatusOK || d.body["status"] != "Approved" {
		t.Fatalf("a decision with the previous key's link = %d %s", d.code, d.raw)
	}
	if result, _ := d.body["result"].(map[string]any); result["approver"] != "bob" {
		t.Fatalf("decided as %v", result["approver"])
	}

	// A browser's post is sent back to the page, without the token.
	b := e.with(http.Header{"Accept": {"text/html"}}).do(t, http.MethodPost, "/api/review/sl-2", ctForm,
		url.Values{"approved": {"false"}, "token": {signWith(current, "sl-2", "bob", later)}}.Encode())
	if b.code != http.StatusSeeOther || b.header.Get("Location") != e.url+"/api/review/sl-2" {
		t.Fatalf("a browser's decision = %d Location %q", b.code, b.header.Get("Location"))
	}
}

// In appservice mode a signed link is only good for the person it was sent
// to, signed in.
func TestSignedLinkNeedsItsApprover(t *testing.T) {
	signer := testSigner(t)
	e := newAPIWith(t, httpapi.Options{Links: signer, Identity: config.IdentityAppService})
	e.startFor(t, "sa-1", "Laptop", "bob@contoso.com")
	token := signer.Token("sa-1", "bob@contoso.com", time.Now().Add(time.Hour))
	form := url.Values{"approved": {"true"}, "token": {token}}
	e.refused(t, e.postForm(t, "/api/review/sa-1", form), http.StatusUnauthorized, "sign_in_required")
	e.refused(t, e.with(signedIn("carol@contoso.com")).postForm(t, "/api/review/sa-1", form), http.StatusForbidden, "link_for_someone_else")
	if d := e.with(signedIn("Bob@Contoso.com")).postForm(t, "/api/review/sa-1", form); d.code != http.StatusOK {
		t.Fatalf("bob's decision with his link = %d %s", d.code, d.raw)
	}
}
