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
