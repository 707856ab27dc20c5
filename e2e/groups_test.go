package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
