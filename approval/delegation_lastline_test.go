package approval_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/microsoft/durabletask-go/backend"

	"github.com/approvals-go/approvals/approval"
)

// forAnother is an approval from who, acting for forWhom.
func (s *sim) forAnother(who, forWhom string) *backend.HistoryEvent {
	approved := true
	raw, _ := json.Marshal(approval.Decision{IsApproved: &approved, Approver: &who, ActingFor: forWhom, Comments: "covering"})
	return s.ev(`"eventRaised":{"name":"approval_response","input":%q}`, raw)
}

// The orchestrator re-checks a decision made for another by the same
// rules as the handler: it cannot see the delegations, but it can see
// that the requester never decides, that the person acted for is an
// approver who has not voted, and that one person casts one vote.
func TestOrchestratorRechecksActingFor(t *testing.T) {
	s := newSim(t, approval.Request{RequestID: "exp", Requester: "ana", Item: "car", Approvers: []string{"alice", "dan"}, Policy: approval.PolicyAll})
	s.step(s.forAnother("ANA", "alice"))
	s.step(s.forAnother("bob", "zoe"))
	s.step(s.forAnother("dan", "alice"))
	s.step(s.forAnother("bob", "alice"))
	s.step(s.decision("alice", true))
	s.step(s.forAnother("bob", "dan"))
	s.step(s.forAnother("carol", "Alice"))
	s.waiting()
	p := s.progress()
	if got := refusals(p); got != "ANA:self_decision,bob:not_an_approver,dan:not_delegated,alice:already_decided,bob:already_decided,carol:already_decided" {
		t.Errorf("refused = %s", got)
	}
	if len(p.Decisions) != 1 || p.Decisions[0].Approver != "bob" || p.Decisions[0].ActingFor != "alice" {
		t.Fatalf("decisions = %+v; want bob's, for alice", p.Decisions)
	}
	s.step(s.decision("dan", true))
	if out := s.process(); out.Status != approval.StatusApproved || votes(out) != "bob:true,dan:true" || out.Decisions[0].ActingFor != "alice" {
		t.Fatalf("outcome = %+v", out)
	}
}

// Under the sample's rule a delegate's decision is the outcome, and the
// process activity is told whom it was made for.
func TestActingForReachesTheOutcome(t *testing.T) {
	s := newSim(t, approval.Request{RequestID: "exp", Requester: "ana", Item: "car", Approvers: []string{"alice"}})
	s.step(s.forAnother("bob", "alice"))
	pending := s.scheduled(approval.ProcessActivityName)
	if len(pending) != 1 || !strings.Contains(pending[0].GetTaskScheduled().GetInput().GetValue(), `"acting_for":"alice"`) {
		t.Fatalf("process input = %v; want bob's decision for alice", pending)
	}
}
