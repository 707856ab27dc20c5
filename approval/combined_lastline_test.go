package approval_test

import (
	"strings"
	"testing"

	"github.com/approvals-go/approvals/approval"
)

// Events raised directly on the scheduler bypass the handler's body limit
// and its validation: the orchestrator refuses, by the same rules, what
// the handler would have refused, and never grows its status without
// bound.
func TestEventsTheHandlerWouldRefuseAreRefused(t *testing.T) {
	req := approval.Request{RequestID: "exp", Requester: "ana", Item: "car", Approvers: []string{"bob"}, AllowChanges: true}
	s := newSim(t, req)
	huge := strings.Repeat("x", approval.MaxTextBytes+1)
	s.step(s.act(approval.Decision{Action: approval.ActionRequestChanges, Approver: ptr("bob"), Comments: "  "}))
	s.step(s.act(approval.Decision{IsApproved: ptr(true), Approver: ptr("bob"), Comments: huge}))
	s.step(s.act(approval.Decision{IsApproved: ptr(true), Approver: ptr("bob"), Channel: approval.Channel(huge)}))
	s.step(s.act(approval.Decision{Action: approval.ActionRequestChanges, Approver: ptr("bob"), Comments: "cheaper"}))
	s.step(s.act(approval.Decision{Action: approval.ActionResubmit, Approver: ptr("ana"), Item: huge}))
	s.step(s.act(approval.Decision{Action: approval.ActionResubmit, Approver: ptr("ana"), Item: " "}))
	s.waiting()
	p := s.progress()
	if got := refusals(p); got != ":malformed,:malformed,:malformed,:malformed,:malformed" {
		t.Fatalf("refused = %s", got)
	}
	if len(p.Rounds) != 1 || p.Rounds[0].Comments != "cheaper" || !p.ChangesRequested {
		t.Fatalf("rounds = %+v", p.Rounds)
	}
	if len(p.Decisions) != 0 {
		t.Fatalf("decisions = %+v", p.Decisions)
	}
	s.step(s.act(approval.Decision{Action: approval.ActionResubmit, Approver: ptr("ana"), Item: "bike"}))
	s.step(s.decision("bob", true))
	if out := s.process(); out.Status != approval.StatusApproved || out.Item != "bike" {
		t.Fatalf("outcome = %+v", out)
	}
}

// A member of the request's groups who was also delegated a named
// approver's decision casts one vote, as themselves: counted for the
// group and for the approver at once, it would take the approver's place
// and leave the people's rule unmet for good.
func TestAGroupMemberDecidesAsThemselvesNotForADelegator(t *testing.T) {
	req := approval.Request{RequestID: "exp", Requester: "ana", Item: "car", Approvers: []string{"bob"},
		Groups: []approval.GroupRule{{Group: "finance", Required: 1}}}
	s := newSim(t, req)
	dave := approval.Decision{IsApproved: ptr(true), Approver: ptr("dave"), ActingFor: "bob", Groups: []string{"finance"}}
	s.step(s.act(dave))
	s.waiting()
	if p := s.progress(); refusals(p) != "dave:not_delegated" || len(p.Decisions) != 0 {
		t.Fatalf("refused = %s, decisions = %+v", refusals(p), p.Decisions)
	}
	s.step(s.raw(s.groupDecision("dave", true, "finance")))
	s.step(s.decision("bob", true))
	if out := s.process(); out.Status != approval.StatusApproved || len(out.Decisions) != 2 {
		t.Fatalf("outcome = %+v", out)
	}
}

// A withdrawal or a resubmission is the requester's own: one that says it
// acts for someone is refused, not recorded as made for them.
func TestTheRequestersActionsAreNotMadeForAnother(t *testing.T) {
	req := approval.Request{RequestID: "exp", Requester: "ana", Item: "car", Approvers: []string{"bob"}, AllowChanges: true}
	s := newSim(t, req)
	s.step(s.act(approval.Decision{Action: approval.ActionRequestChanges, Approver: ptr("bob"), Comments: "cheaper"}))
	s.step(s.act(approval.Decision{Action: approval.ActionResubmit, Approver: ptr("ana"), ActingFor: "bob", Item: "bike"}))
	s.step(s.act(approval.Decision{Action: approval.ActionWithdraw, Approver: ptr("ana"), ActingFor: "bob"}))
	s.waiting()
	if p := s.progress(); refusals(p) != ":malformed,:malformed" || !p.ChangesRequested {
		t.Fatalf("refused = %s", refusals(p))
	}
	s.step(s.act(approval.Decision{Action: approval.ActionWithdraw, Approver: ptr("ana")}))
	if out := s.process(); out.Status != approval.StatusWithdrawn || out.ActingFor != "" {
		t.Fatalf("outcome = %+v", out)
	}
}

// A vote of a round its stage's request for changes voided is not the
// outcome's: a retry of it that names no round is judged by the round
// that decided the stage.
func TestAVoidedRoundsVoteIsNotTheOutcomes(t *testing.T) {
	out := approval.Outcome{Status: approval.StatusRejected, Approver: "bob", Decisions: []approval.Vote{
		{Approver: "bob", Approved: true, Comments: "ok", Stage: 1, Round: 1},
		{Approver: "bob", Approved: false, Comments: "no", Stage: 1, Round: 2},
	}}
	if out.Decided(approval.Decision{IsApproved: ptr(true), Approver: ptr("bob"), Comments: "ok", Stage: 1}) {
		t.Error("round 1's voided approval is taken for the outcome")
	}
	if !out.Decided(approval.Decision{IsApproved: ptr(false), Approver: ptr("bob"), Comments: "no", Stage: 1}) {
		t.Error("round 2's rejection is not the outcome's")
	}
}
