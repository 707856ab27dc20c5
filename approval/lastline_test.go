package approval_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/backend"

	"github.com/approvals-go/approvals/approval"
)

// The orchestrator is the last line: whatever an event says and whoever
// raised it (any SDK client, the dashboard's raise action), it counts only
// what the rules allow, and records what it refused.

// raw is an approval_response event with the payload as given.
func (s *sim) raw(payload string) *backend.HistoryEvent {
	return s.ev(`"eventRaised":{"name":"approval_response","input":%q}`, payload)
}

// decisionAt is a decision the handler accepted at the instant given.
func (s *sim) decisionAt(who string, approved bool, accepted time.Time) *backend.HistoryEvent {
	raw, _ := json.Marshal(approval.Decision{IsApproved: &approved, Approver: &who, Comments: "by " + who,
		ResponseTime: approval.FormatTime(accepted)})
	return s.ev(`"eventRaised":{"name":"approval_response","input":%q}`, raw)
}

func refusals(p approval.Submission) string {
	var out []string
	for _, r := range p.Refused {
		out = append(out, r.Approver+":"+string(r.Reason))
	}
	return strings.Join(out, ",")
}

func TestMalformedEventsLeaveTheApprovalPending(t *testing.T) {
	s := newSim(t, approval.Request{RequestID: "exp", Requester: "ana", Item: "car", Approvers: []string{"bob"}})
	s.step(s.raw(`{"is_approved":"yes","approver":"bob"}`))
	s.step(s.raw(`yes`))
	s.step(s.raw(`["bob"]`))
	s.step(s.raw(`{"is_approved":true,"approver":"bob","action":"delete"}`))
	s.waiting()
	p := s.progress()
	if refusals(p) != ":malformed,:malformed,:malformed,:malformed" || p.RefusedTotal != 4 {
		t.Fatalf("refused = %+v", p.Refused)
	}
	if !strings.Contains(p.Refused[0].Detail, "is_approved") {
		t.Fatalf("the refusal should name the field: %q", p.Refused[0].Detail)
	}
	s.step(s.decision("bob", true))
	if out := s.process(); out.Status != approval.StatusApproved || out.Approver != "bob" {
		t.Fatalf("outcome = %+v", out)
	}
}

func TestEventsFromPeopleWhoMayNotDecideAreRefused(t *testing.T) {
	s := newSim(t, approval.Request{RequestID: "exp", Requester: "ana", Item: "car", Approvers: []string{"bob"}})
	s.step(s.decision("mallory", true))
	s.step(s.decision("ＡＮＡ", true))
	s.step(s.decision("b\u200bob", true))
	withdraw, _ := json.Marshal(approval.Decision{Action: approval.ActionWithdraw, Approver: ptr("bob")})
	s.step(s.raw(string(withdraw)))
	s.waiting()
	if got := refusals(s.progress()); got != "mallory:not_an_approver,ＡＮＡ:self_decision,b\u200bob:invalid_name,bob:not_the_requester" {
		t.Fatalf("refused = %s", got)
	}
	s.step(s.decision(" BOB", false))
	if out := s.process(); out.Status != approval.StatusRejected || out.Approver != " BOB" {
		t.Fatalf("outcome = %+v", out)
	}
}

// One person is one voter, however their name is spelt.
func TestOnePersonOneVote(t *testing.T) {
	req := approval.Request{RequestID: "exp", Requester: "ana", Item: "car", Approvers: []string{"bob", "carol"}, Policy: approval.PolicyAll}
	for _, variant := range bobVariants[1:] {
		s := newSim(t, req)
		s.step(s.decision("bob", true))
		s.step(s.decision(variant, true))
		s.waiting()
		if p := s.progress(); len(p.Decisions) != 1 || refusals(p) != variant+":already_decided" {
			t.Fatalf("%q after bob: decisions %+v, refused %+v", variant, p.Decisions, p.Refused)
		}
		s.step(s.decision("Carol", true))
		if out := s.process(); out.Status != approval.StatusApproved || votes(out) != "bob:true,Carol:true" {
			t.Fatalf("outcome = %+v", out)
		}
	}
}

// The deadline's timer may be delivered ahead of decisions accepted before
// it (in the same batch or the next): the orchestrator yields one step and
// counts them, and refuses those accepted after it.
func TestDecisionsAcceptedBeforeTheDeadlineWinOnAnyBackend(t *testing.T) {
	req := approval.Request{RequestID: "exp", Requester: "ana", Item: "car", Approvers: []string{"bob"}, TimeoutHours: hours(time.Hour)}
	deadline := simStart.Add(time.Hour)
	for _, c := range []struct {
		name     string
		accepted time.Time
		stamped  bool
		want     approval.Status
	}{
		{"accepted 15s before, same batch", deadline.Add(-15 * time.Second), true, approval.StatusApproved},
		{"accepted 1ns before", deadline.Add(-time.Nanosecond), true, approval.StatusApproved},
		{"accepted at the deadline", deadline, true, approval.StatusTimeout},
		{"no acceptance time", time.Time{}, false, approval.StatusTimeout},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newSim(t, req)
			timer := s.fire()
			s.now = deadline.Add(time.Minute) // the worker was down across the deadline
			ev := s.decision("bob", true)
			if c.stamped {
				ev = s.decisionAt("bob", true, c.accepted)
			}
			s.step(timer, ev)
			s.waiting()
			s.step(s.fire())
			if c.want == approval.StatusTimeout {
				if out := s.outcome(); out.Status != approval.StatusTimeout {
					t.Fatalf("outcome = %+v", out)
				}
				return
			}
			if out := s.process(); out.Status != c.want {
				t.Fatalf("outcome = %+v", out)
			}
		})
	}
	t.Run("accepted before, delivered in the next batch", func(t *testing.T) {
		s := newSim(t, req)
		s.step(s.fire())
		s.step(s.decisionAt("bob", false, deadline.Add(-time.Second)), s.fire())
		if out := s.process(); out.Status != approval.StatusRejected {
			t.Fatalf("outcome = %+v", out)
		}
	})
}

// The status is published, and decisions possible, in the step that
// schedules the first notices: a receiver that hangs holds nothing up.
func TestNoticesFollowTheSubmission(t *testing.T) {
	s := newSimSubmitted(t, approval.Request{RequestID: "exp", Requester: "ana", Item: "car", Approvers: []string{"bob", "carol"}},
		approval.Submission{RequestID: "exp", Status: approval.StatusPending, NoticesDeferred: true,
			SubmittedAt: approval.FormatTime(simStart), ApprovalURL: "http://approvals.test/api/review/exp"})
	notify := s.scheduled(approval.NotifyActivityName)
	if len(notify) != 1 {
		t.Fatalf("%d notify activities after the submission, want 1", len(notify))
	}
	var in approval.NotifyInput
	if err := json.Unmarshal([]byte(notify[0].GetTaskScheduled().GetInput().GetValue()), &in); err != nil {
		t.Fatal(err)
	}
	if in.Kind != approval.NoticeRequest || strings.Join(in.Approvers, ",") != "bob,carol" || in.ExpiresAt != approval.FormatTime(simStart.Add(24*time.Hour)) {
		t.Fatalf("notice = %+v", in)
	}
	if p := s.progress(); p.Status != approval.StatusPending || p.NoticesDeferred {
		t.Fatalf("status published with the notices = %s", s.status)
	}
	// Decided while the notices are still on their way.
	s.step(s.decision("bob", true))
	if out := s.process(); out.Status != approval.StatusApproved {
		t.Fatalf("outcome = %+v", out)
	}
}
