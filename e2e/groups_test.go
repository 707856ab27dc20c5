package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// groupsFile writes a development groups file and returns its path.
func groupsFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "groups.json")
	body := `{"finance": ["bob", "carol", "dave", "ana"], "security": ["Carol", "erin"]}`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// 2 from finance and 1 from security, through the real processes with the
// development groups file: carol, in both, decides once and counts for
// one group; a non-member and the requester (a member) are refused; a
// member of a group that has its count has nothing left to decide; the
// outcome records each vote's group.
func TestGroupApproversAcrossProcesses(t *testing.T) {
	s := newStackWith(t, func(s *stack) { s.handlerEnv = []string{"APPROVALS_GROUPS_FILE=" + groupsFile(t)} })
	const id = "e2e-groups"
	s.startApproval(id, map[string]any{"timeout": "1h",
		"groups": []map[string]any{{"group": "finance", "required": 2}, {"group": "security", "required": 1}}})
	s.waitSubmitted(id)

	decide := func(who string, extra map[string]any) (int, map[string]any) {
		t.Helper()
		body := map[string]any{"approved": true, "approver": who, "comments": "ok from " + who}
		for k, v := range extra {
			body[k] = v
		}
		code, _, out := s.call("SubmitDecision", id, body)
		return code, out
	}
	for _, c := range []struct {
		who    string
		extra  map[string]any
		code   int
		reason string
	}{
		{who: "mallory", code: http.StatusForbidden, reason: "not_an_approver"},
		{who: "ana", code: http.StatusForbidden, reason: "self_decision"},
		{who: "erin", extra: map[string]any{"group": "finance"}, code: http.StatusForbidden, reason: "not_an_approver"},
		{who: "carol", code: http.StatusOK},
		{who: "CAROL", extra: map[string]any{"group": "security"}, code: http.StatusConflict, reason: "already_decided"},
		{who: "bob", code: http.StatusOK},
		{who: "dave", code: http.StatusConflict, reason: "group_complete"},
	} {
		code, out := decide(c.who, c.extra)
		if code != c.code || c.reason != "" && out["reason"] != c.reason {
			t.Fatalf("%s %v: %d %v; want %d %s", c.who, c.extra, code, out, c.code, c.reason)
		}
	}
	_, _, pending := s.call("GetApproval", id, nil)
	if got := fmt.Sprint(pending["groups"]); got != "[map[approved:[carol bob] group:finance required:2] map[approved:[] group:security required:1]]" {
		t.Fatalf("groups while pending: %s", got)
	}
	if code, out := decide("erin", nil); code != http.StatusOK || out["status"] != "Approved" {
		t.Fatalf("erin: %d %v", code, out)
	}
	out := s.outcome(id, 20*time.Second)
	result, _ := out["result"].(map[string]any)
	var votes []string
	decisions, _ := result["decisions"].([]any)
	for _, d := range decisions {
		v, _ := d.(map[string]any)
		votes = append(votes, fmt.Sprintf("%s@%s", v["approver"], v["group"]))
	}
	if out["status"] != "Approved" || strings.Join(votes, ",") != "carol@finance,bob@finance,erin@security" {
		t.Fatalf("outcome %v with votes %v", out["status"], votes)
	}
}

// groupPrincipal is App Service Authentication's header for a person whose
// ID token carries the groups claim (the app registration's
// groupMembershipClaims): group object ids.
func groupPrincipal(name string, groups ...string) string {
	claims := []map[string]string{{"typ": "preferred_username", "val": name}}
	for _, g := range groups {
		claims = append(claims, map[string]string{"typ": "groups", "val": g})
	}
	b, _ := json.Marshal(map[string]any{"auth_typ": "aad", "name_typ": "name", "claims": claims})
	return base64.StdEncoding.EncodeToString(b)
}

// With sign-in, a person's groups are the object ids their principal's
// groups claim carries: the review page's form decides as a member, the
// inbox lists the request for members only, and the vote records the
// group.
func TestGroupClaimsAcrossProcesses(t *testing.T) {
	const finance = "5f0c6e2a-1b7d-4c39-9a8e-2d4f6b1c0e93"
	s := newStackWith(t, func(s *stack) { s.handlerEnv = []string{"APPROVALS_IDENTITY=appservice"} })
	const id = "e2e-group-claims"
	s.startApproval(id, map[string]any{"requester": "ana@contoso.com", "timeout": "1h", "approvers": []string{"group:" + strings.ToUpper(finance)}})
	s.waitSubmitted(id)

	send := func(method, path, principal string, form url.Values) (int, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequest(method, s.url(path), body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", "application/json")
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		req.Header.Set("X-MS-CLIENT-PRINCIPAL", principal)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := send(http.MethodGet, "/api/review", groupPrincipal("bob@contoso.com", "other", finance), nil); code != http.StatusOK || !strings.Contains(body, id) {
		t.Fatalf("bob's inbox = %d %.400s", code, body)
	}
	if code, body := send(http.MethodGet, "/api/review", groupPrincipal("mallory@contoso.com", "other"), nil); code != http.StatusOK || strings.Contains(body, id) {
		t.Fatalf("mallory's inbox = %d %.400s", code, body)
	}
	approve := url.Values{"approved": {"true"}, "comments": {"fine"}}
	for who, groups := range map[string][]string{"mallory@contoso.com": {"other"}, "ana@contoso.com": {finance}} {
		if code, body := send(http.MethodPost, "/api/review/"+id, groupPrincipal(who, groups...), approve); code != http.StatusForbidden {
			t.Fatalf("%s deciding = %d %s", who, code, body)
		}
	}
	if code, body := send(http.MethodPost, "/api/review/"+id, groupPrincipal("bob@contoso.com", finance), approve); code != http.StatusOK {
		t.Fatalf("bob deciding = %d %s", code, body)
	}
	out := s.outcome(id, 20*time.Second)
	result, _ := out["result"].(map[string]any)
	decisions, _ := result["decisions"].([]any)
	if out["status"] != "Approved" || len(decisions) != 1 || decisions[0].(map[string]any)["group"] != strings.ToUpper(finance) {
		t.Fatalf("outcome %v", out)
	}
}

// The review page shows each group's count and progress, and who decided
// for which group, in Chromium, from go run ./cmd/dev with the sample
// groups file.
func TestGroupProgressInABrowser(t *testing.T) {
	ctx := browserTab(t)
	_, s := startDev(t, nil, "-groups", filepath.Join("..", "cmd", "dev", "groups.sample.json"))
	base := s.url("")
	post := func(path, body string) int {
		t.Helper()
		resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("/api/approvals", `{"request_id":"grp-page","requester":"ana@contoso.com","item":"Server","timeout":"1h",
		"groups":[{"group":"finance","required":2},{"group":"security","required":1}]}`); code != http.StatusAccepted {
		t.Fatalf("start = %d", code)
	}
	deadline := time.Now().Add(20 * time.Second)
	for code := 0; code != http.StatusOK; {
		if time.Now().After(deadline) {
			t.Fatalf("carol's decision = %d", code)
		}
		// 503 while the request is being submitted.
		code = post("/api/approvals/grp-page/decision", `{"approved":true,"approver":"carol@contoso.com","comments":"ok"}`)
		time.Sleep(20 * time.Millisecond)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/api/review/grp-page")); err != nil {
		t.Fatal(err)
	}
	groups, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".groups")))
	if err != nil {
		t.Fatal(err)
	}
	votes, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".vote-list")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(groups, "finance: 1 of 2 — carol@contoso.com") || !strings.Contains(groups, "security: 0 of 1") {
		t.Fatalf("groups on the page: %q", groups)
	}
	if !strings.Contains(votes, "carol@contoso.com\nApproved\nfor finance") {
		t.Fatalf("decisions on the page: %q", votes)
	}
}
