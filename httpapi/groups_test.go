package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/config"
	"github.com/approvals-go/approvals/httpapi"
)

// memberOf is X-MS-CLIENT-PRINCIPAL for a person whose ID token carries
// the groups claim, under the long claim type App Service may use.
func memberOf(name string, groups ...string) http.Header {
	claims := []map[string]string{{"typ": "preferred_username", "val": name}}
	for _, g := range groups {
		claims = append(claims, map[string]string{"typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups", "val": g})
	}
	b, _ := json.Marshal(map[string]any{"auth_typ": "aad", "claims": claims})
	return http.Header{"X-Ms-Client-Principal": {base64.StdEncoding.EncodeToString(b)}}
}

// Signed in, a person's groups are their principal's claim and the groups
// file's: the page offers a member of two groups the choice, the vote
// counts for the one chosen, and a group they do not hold is refused.
func TestGroupsFromClaimsAndFile(t *testing.T) {
	dir, err := approval.ParseDirectory([]byte(`{"security": ["carol@contoso.com"]}`))
	if err != nil {
		t.Fatal(err)
	}
	e := newAPIWith(t, httpapi.Options{Identity: config.IdentityAppService, Groups: dir})
	r := e.postJSON(t, httpapi.ApprovalsPath, map[string]any{"request_id": "grp-1", "requester": "ana", "item": "Server", "timeout": "2h",
		"groups": []map[string]any{{"group": "finance", "required": 1}, {"group": "security", "required": 1}}})
	if r.code != http.StatusAccepted {
		t.Fatalf("start = %d %s", r.code, r.raw)
	}
	e.until(t, "grp-1", submitted)

	carol := memberOf("carol@contoso.com", "Finance")
	carolPage := carol.Clone()
	carolPage.Set("Accept", "text/html")
	page := e.with(carolPage).do(t, http.MethodGet, "/api/review/grp-1", "", "")
	if page.code != http.StatusOK || !strings.Contains(page.raw, `<select id="group" name="group"><option value="finance">finance</option><option value="security">security</option></select>`) {
		t.Fatalf("carol's page = %d %s", page.code, page.raw)
	}
	e.refused(t, e.with(memberOf("dave@contoso.com", "finance")).postForm(t, "/api/review/grp-1",
		url.Values{"approved": {"true"}, "group": {"security"}}), http.StatusForbidden, "not_an_approver")
	e.refused(t, e.with(memberOf("ana", "finance")).postForm(t, "/api/review/grp-1", url.Values{"approved": {"true"}}), http.StatusForbidden, "self_decision")
	if r := e.with(carol).postForm(t, "/api/review/grp-1", url.Values{"approved": {"true"}, "group": {"fin ance"}}); r.code != http.StatusBadRequest || r.body["field"] != "group" {
		t.Fatalf("an unusable group = %d %s", r.code, r.raw)
	}

	d := e.with(carol).postForm(t, "/api/review/grp-1", url.Values{"approved": {"true"}, "group": {"security"}})
	if d.code != http.StatusOK || d.body["status"] != "Pending" {
		t.Fatalf("carol = %d %s", d.code, d.raw)
	}
	groups, _ := json.Marshal(d.body["groups"])
	if string(groups) != `[{"approved":[],"group":"finance","required":1},{"approved":["carol@contoso.com"],"group":"security","required":1}]` {
		t.Fatalf("groups after carol: %s", groups)
	}
	if page := e.with(carolPage).do(t, http.MethodGet, "/api/review/grp-1", "", ""); !strings.Contains(page.raw, "Still to decide: 1 more from finance.") ||
		!strings.Contains(page.raw, "<strong>security</strong>: 1 of 1 — carol@contoso.com") {
		t.Fatalf("carol's page after her decision: %s", page.raw)
	}
	if r := e.with(memberOf("erin@contoso.com", "security")).postForm(t, "/api/review/grp-1", url.Values{"approved": {"true"}}); r.code != http.StatusConflict || r.body["reason"] != "group_complete" {
		t.Fatalf("erin, once security has its approval = %d %s", r.code, r.raw)
	}
	if d := e.with(memberOf("dave@contoso.com", "finance")).postForm(t, "/api/review/grp-1", url.Values{"approved": {"true"}}); d.code != http.StatusOK || d.body["status"] != "Approved" {
		t.Fatalf("dave = %d %s", d.code, d.raw)
	}
	if n := e.orch.decisions.Load(); n != 2 {
		t.Fatalf("%d decisions raised, want carol's and dave's alone", n)
	}
}

// A start's groups are refused by name when they cannot be used, and
// nothing starts.
func TestStartRefusesUnusableGroups(t *testing.T) {
	e := newAPI(t)
	for name, groups := range map[string]any{
		"a fractional count": []map[string]any{{"group": "finance", "required": 1.5}},
		"no name":            []map[string]any{{"required": 1}},
		"an unusable name":   []map[string]any{{"group": "fin/ance"}},
		"named twice":        []map[string]any{{"group": "finance"}, {"group": "Finance", "required": 2}},
		"not a list":         "finance",
		// The body's parser names an unknown field itself, as an item's.
		"an unknown field": []map[string]any{{"group": "finance", "count": 2}},
	} {
		t.Run(name, func(t *testing.T) {
			r := e.postJSON(t, httpapi.ApprovalsPath, map[string]any{"requester": "ana", "item": "Server", "groups": groups})
			if r.code != http.StatusBadRequest || r.body["field"] != "groups" {
				t.Fatalf("start = %d %s", r.code, r.raw)
			}
			if detail, _ := r.body["detail"].(string); name == "an unknown field" && !strings.HasSuffix(detail, "accepted fields are group, required") {
				t.Fatalf("detail = %q, want the item's fields named", detail)
			}
		})
	}
	if n := e.orch.starts.Load(); n != 0 {
		t.Fatalf("%d approvals started", n)
	}
}
