package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// A member of the request's groups to whom a named approver delegated,
// through the real processes: they decide as the member they are (one
// person, one vote), counted for their group, and the approver who
// delegated still decides, so the request can be approved. Counted for
// the approver and the group at once, the vote took the approver's place
// and the request could never be approved.
func TestGroupMemberWithADelegationDecidesAsAMember(t *testing.T) {
	s := newStackWith(t, func(s *stack) { s.handlerEnv = []string{"APPROVALS_GROUPS_FILE=" + groupsFile(t)} })
	s.mustDelegate("mia", "dave", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	const id = "e2e-member-delegate"
	s.startApproval(id, map[string]any{"approvers": []string{"mia"}, "groups": []map[string]any{{"group": "finance", "required": 1}}})
	s.waitSubmitted(id)

	code, out := s.decideAs(id, true, "dave", "as finance")
	groups := fmt.Sprint(out["groups"])
	if code != http.StatusOK || out["status"] != "Pending" || groups != "[map[approved:[dave] group:finance required:1]]" {
		t.Fatalf("dave = %d %v", code, out)
	}
	if code, out := s.decideAs(id, true, "mia", "back"); code != http.StatusOK || out["status"] != "Approved" {
		t.Fatalf("mia = %d %v", code, out)
	}
	result, _ := s.outcome(id, 20*time.Second)["result"].(map[string]any)
	var votes []string
	decisions, _ := result["decisions"].([]any)
	for _, d := range decisions {
		v, _ := d.(map[string]any)
		votes = append(votes, fmt.Sprintf("%s@%v/%v", v["approver"], v["group"], v["acting_for"]))
	}
	if fmt.Sprint(votes) != "[dave@finance/<nil> mia@<nil>/<nil>]" {
		t.Fatalf("votes = %v", votes)
	}
}

// Delegates in a request with stages, through the real processes: the
// manager's delegate, retrying after a lost answer once the manager's
// stage was decided, is answered 200 as the vote recorded there (not 403
// by the next stage's rules), and nothing is counted twice; finance's
// delegate sends the request back for the approver they decide for.
func TestDelegatesAcrossStagesAndChanges(t *testing.T) {
	s := newStack(t)
	s.mustDelegate("mia", "dan", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	s.mustDelegate("carol", "erin", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	const id = "e2e-stage-delegates"
	s.startApproval(id, map[string]any{"stages": []map[string]any{
		{"name": "manager", "approvers": []string{"mia"}, "timeout_hours": 1},
		{"name": "finance", "approvers": []string{"carol"}, "timeout_hours": 1},
	}})
	s.waitSubmitted(id)

	if code, out := s.decideAs(id, true, "dan", "covering"); code != http.StatusOK || out["stage"] != float64(2) {
		t.Fatalf("dan for mia = %d %v", code, out)
	}
	if code, out := s.decideAs(id, true, "dan", "covering"); code != http.StatusOK || out["status"] != "Pending" {
		t.Fatalf("dan's retry = %d %v", code, out)
	}
	out := s.act("RequestChanges", id, map[string]any{"approver": "erin", "comments": "two orders"}, http.StatusOK)
	rounds, _ := out["rounds"].([]any)
	if len(rounds) != 1 || rounds[0].(map[string]any)["acting_for"] != "carol" {
		t.Fatalf("erin's request for changes: %v", out)
	}
	s.act("ResubmitApproval", id, map[string]any{"requester": "ana", "item": "two orders of laptops"}, http.StatusOK)
	s.act("SubmitDecision", id, map[string]any{"approved": true, "approver": "carol"}, http.StatusOK)
	result, _ := s.outcome(id, 20*time.Second)["result"].(map[string]any)
	stages := stagesOf(result)
	if result["status"] != "Approved" || len(stages) != 2 || len(stages[0]["decisions"].([]any)) != 1 || len(stages[1]["decisions"].([]any)) != 1 {
		t.Fatalf("outcome = %v", result)
	}
}
