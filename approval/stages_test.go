package approval_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/backend"

	"github.com/approvals-go/approvals/approval"
)

// twoStages is a purchase decided by its manager, then two of finance.
func twoStages() approval.Request {
	return approval.Request{RequestID: "exp", Requester: "ana", Item: "car", Stages: []approval.Stage{
		{Name: "manager", Approvers: []string{"bob"}, TimeoutHours: hours(time.Hour)},
		{Name: "finance", Approvers: []string{"carol", "dan", "erin"}, Policy: approval.PolicyQuorum, Required: 2,
			TimeoutHours: hours(2 * time.Hour)},
	}}
}

// act is an approval_response event carrying d.
func (s *sim) act(d approval.Decision) *backend.HistoryEvent {
	raw, _ := json.Marshal(d)
	return s.ev(`"eventRaised":{"name":"approval_response","input":%q}`, raw)
}

// notified are the people the pending notify activities of kind tell.
func (s *sim) notified(kind approval.NoticeKind) []string {
	var out []string
	for _, e := range s.scheduled(approval.NotifyActivityName) {
		var in approval.NotifyInput
		if err := json.Unmarshal([]byte(e.GetTaskScheduled().GetInput().GetValue()), &in); err != nil {
			s.t.Fatal(err)
		}
		if in.Kind == kind {
			out = append(out, in.Approvers...)
		}
	}
	return out
}

// fireDue takes every pending timer of the earliest instant, as a
// backend delivers timers that fall due together.
func (s *sim) fireDue() []*backend.HistoryEvent {
	first := s.fire()
	at := first.GetTimerFired().GetFireAt().AsTime()
	due := []*backend.HistoryEvent{first}
	rest := s.timers[:0]
	for _, e := range s.timers {
		if e.GetTimerFired().GetFireAt().AsTime().Equal(at) {
			due = append(due, e)
		} else {
			rest = append(rest, e)
		}
	}
	s.timers = rest
	return due
}

func stageStatuses(ps []approval.StageProgress) string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name+":"+string(p.Status))
	}
	return strings.Join(out, ",")
}

func TestStagesRunInOrder(t *testing.T) {
	s := newSim(t, twoStages())
	p := s.progress()
	if p.Stage != 1 || stageStatuses(p.Stages) != "manager:Pending,finance:" || strings.Join(p.Approvers, ",") != "bob" {
		t.Fatalf("at the start: %+v", p)
	}
	// Finance may not decide stage 1.
	s.step(s.decision("carol", true))
	if refusals(s.progress()) != "carol:not_an_approver" {
		t.Fatalf("refused = %+v", s.progress().Refused)
	}
	s.now = s.now.Add(10 * time.Minute)
	s.step(s.decision("bob", true))
	p = s.progress()
	if p.Stage != 2 || stageStatuses(p.Stages) != "manager:Approved,finance:Pending" || strings.Join(p.Approvers, ",") != "carol,dan,erin" {
		t.Fatalf("after the manager: %+v", p)
	}
	if want := approval.FormatTime(s.now.Add(2 * time.Hour)); p.ExpiresAt != want || p.Stages[1].ExpiresAt != want {
		t.Fatalf("stage 2 expires at %s, want %s", p.ExpiresAt, want)
	}
	if got := strings.Join(s.notified(approval.NoticeRequest), ","); !strings.Contains(got, "carol,dan,erin") {
		t.Fatalf("stage 2's approvers were not told: %q", got)
	}
	s.step(s.decision("carol", true))
	s.waiting()
	s.step(s.decision("dan", true))
	out := s.process()
	if out.Status != approval.StatusApproved || votes(out) != "bob:true,carol:true,dan:true" {
		t.Fatalf("outcome = %+v", out)
	}
	if stageStatuses(out.Stages) != "manager:Approved,finance:Approved" || len(out.Stages[1].Decisions) != 2 || out.Stages[1].Decisions[0].Stage != 2 {
		t.Fatalf("stages in the outcome = %+v", out.Stages)
	}
}

func TestStageRejectionEndsTheRequest(t *testing.T) {
	s := newSim(t, twoStages())
	s.step(s.decision("bob", true))
	s.step(s.decision("carol", false))
	s.waiting()
	s.step(s.decision("dan", false))
	out := s.process()
	if out.Status != approval.StatusRejected || stageStatuses(out.Stages) != "manager:Approved,finance:Rejected" {
		t.Fatalf("outcome = %+v", out)
	}
}

func TestStageTimeoutEndsTheRequest(t *testing.T) {
	s := newSim(t, twoStages())
	s.step(s.decision("bob", true))
	for s.done == nil {
		s.step(s.fire())
	}
	out := s.outcome()
	if out.Status != approval.StatusTimeout || stageStatuses(out.Stages) != "manager:Approved,finance:Timeout" {
		t.Fatalf("outcome = %+v", out)
	}
	if want := approval.FormatTime(simStart.Add(2 * time.Hour)); out.TimedOutAt != want {
		t.Fatalf("timed out at %s, want stage 2's deadline %s", out.TimedOutAt, want)
	}
}

func TestWithdrawAtAStage(t *testing.T) {
	s := newSim(t, twoStages())
	s.step(s.decision("bob", true))
	s.step(s.act(approval.Decision{Action: approval.ActionWithdraw, Approver: ptr("ana"), Comments: "bought one"}))
	out := s.process()
	if out.Status != approval.StatusWithdrawn || stageStatuses(out.Stages) != "manager:Approved,finance:Withdrawn" {
		t.Fatalf("outcome = %+v", out)
	}
}

// A decision meant for stage 1 that arrives once stage 2 has started is
// refused, not counted in stage 2, even from a person who decides both.
func TestDecisionForAnEarlierStageIsNotCounted(t *testing.T) {
	req := twoStages()
	req.Stages[0].Approvers = []string{"bob", "carol"}
	s := newSim(t, req)
	s.step(s.decision("bob", true))
	s.step(s.act(approval.Decision{IsApproved: ptr(true), Approver: ptr("carol"), Stage: 1}))
	p := s.progress()
	if refusals(p) != "carol:stale" || len(p.Decisions) != 0 {
		t.Fatalf("a stage 1 decision in stage 2: refused %+v, decisions %+v", p.Refused, p.Decisions)
	}
}

// A stage's timers left behind when it ends early never make stage 2
// deaf: the wait after the stage changes aims at the leftover, fires with
// it, and a decision after it decides at once.
func TestLeftoverTimersOfAStageDoNotHoldUpTheNext(t *testing.T) {
	req := twoStages()
	req.Stages[0].RemindEvery = "10m"
	s := newSim(t, req)
	s.now = simStart.Add(5 * time.Minute)
	s.step(s.decision("bob", true)) // the wait aimed at the 10m reminder leaves its timer
	var at []string
	for _, e := range s.timers {
		at = append(at, e.GetTimerFired().GetFireAt().AsTime().Sub(simStart).String())
	}
	if strings.Join(at, ",") != "10m0s,10m0s" {
		t.Fatalf("timers at %q, want the leftover and the current wait's, both at 10m", at)
	}
	s.step(s.fireDue()...)
	s.now = simStart.Add(20 * time.Minute)
	s.step(s.decision("carol", true))
	s.step(s.decision("dan", true))
	if out := s.process(); out.Status != approval.StatusApproved {
		t.Fatalf("outcome = %+v", out)
	}
}

// Two rounds of changes: each resubmission restarts the votes and the
// deadline from itself, and every round is recorded.
func TestTwoRoundsOfChanges(t *testing.T) {
	req := approval.Request{RequestID: "exp", Requester: "ana", Item: "car", Approvers: []string{"bob", "carol"},
		Policy: approval.PolicyAll, AllowChanges: true, TimeoutHours: hours(time.Hour)}
	s := newSim(t, req)
	if p := s.progress(); p.Round != 1 || strings.Join(featureNames(p.Features), ",") != "withdraw,request_changes" {
		t.Fatalf("at the start: %+v", p)
	}
	s.step(s.decision("carol", true))
	s.now = simStart.Add(10 * time.Minute)
	s.step(s.act(approval.Decision{Action: approval.ActionRequestChanges, Approver: ptr("bob"), Comments: "which model?"}))
	p := s.progress()
	if !p.ChangesRequested || len(p.Rounds) != 1 || p.Rounds[0].RequestedBy != "bob" {
		t.Fatalf("after changes were requested: %+v", p)
	}
	if got := s.notified(approval.NoticeChanges); strings.Join(got, ",") != "ana" {
		t.Fatalf("the requester was not told: %q", got)
	}
	// Nothing is decided while the requester edits.
	s.step(s.decision("bob", true))
	if refusals(s.progress()) != "bob:changes_requested" {
		t.Fatalf("refused = %+v", s.progress().Refused)
	}
	s.now = simStart.Add(30 * time.Minute)
	s.step(s.act(approval.Decision{Action: approval.ActionResubmit, Approver: ptr("ana"), Item: "car, model T", Comments: "the T"}))
	p = s.progress()
	if p.Round != 2 || p.ChangesRequested || len(p.Decisions) != 0 || p.Item != "car, model T" {
		t.Fatalf("after resubmission: %+v", p)
	}
	if want := approval.FormatTime(s.now.Add(time.Hour)); p.ExpiresAt != want {
		t.Fatalf("deadline %s, want an hour after the resubmission, %s", p.ExpiresAt, want)
	}
	s.step(s.act(approval.Decision{Action: approval.ActionRequestChanges, Approver: ptr("carol"), Comments: "colour?"}))
	s.now = simStart.Add(40 * time.Minute)
	s.step(s.act(approval.Decision{Action: approval.ActionResubmit, Approver: ptr("ana"), Item: "car, model T, black"}))
	// The first round's leftover deadline (at 1h) fires with the waits
	// aimed at it, and changes nothing.
	s.step(s.fireDue()...)
	s.waiting()
	s.step(s.decision("bob", true))
	s.step(s.decision("carol", true))
	out := s.process()
	if out.Status != approval.StatusApproved || len(out.Rounds) != 2 || out.Rounds[1].Item != "car, model T, black" ||
		out.Rounds[0].Answer != "the T" || out.Item != "car, model T, black" {
		t.Fatalf("outcome = %+v", out)
	}
	for _, v := range out.Decisions {
		if v.Round != 3 {
			t.Fatalf("vote %+v not of round 3", v)
		}
	}
}

// Changes left unmade run into the deadline, which still ends the request.
func TestChangesNotMadeTimeOut(t *testing.T) {
	req := approval.Request{RequestID: "exp", Requester: "ana", Item: "car", Approvers: []string{"bob"}, AllowChanges: true,
		TimeoutHours: hours(time.Hour)}
	s := newSim(t, req)
	s.step(s.act(approval.Decision{Action: approval.ActionRequestChanges, Approver: ptr("bob"), Comments: "why?"}))
	for s.done == nil {
		s.step(s.fire())
	}
	if out := s.outcome(); out.Status != approval.StatusTimeout || len(out.Rounds) != 1 {
		t.Fatalf("outcome = %+v", out)
	}
}

// Only the requester resubmits, only when sent back; only an approver
// asks for changes, and only when the request allows it.
func TestRoundsAreTheRulesToo(t *testing.T) {
	s := newSim(t, approval.Request{RequestID: "exp", Requester: "ana", Item: "car", Approvers: []string{"bob"}})
	s.step(s.act(approval.Decision{Action: approval.ActionRequestChanges, Approver: ptr("bob"), Comments: "?"}))
	if refusals(s.progress()) != "bob:not_supported" {
		t.Fatalf("refused = %+v", s.progress().Refused)
	}
	s = newSim(t, approval.Request{RequestID: "exp", Requester: "ana", Item: "car", Approvers: []string{"bob"}, AllowChanges: true})
	s.step(s.act(approval.Decision{Action: approval.ActionResubmit, Approver: ptr("ana")}))
	s.step(s.act(approval.Decision{Action: approval.ActionRequestChanges, Approver: ptr("mallory"), Comments: "?"}))
	s.step(s.act(approval.Decision{Action: approval.ActionRequestChanges, Approver: ptr("bob"), Comments: "?"}))
	s.step(s.act(approval.Decision{Action: approval.ActionResubmit, Approver: ptr("bob")}))
	s.step(s.act(approval.Decision{Action: approval.ActionResubmit, Approver: ptr("ana"), Round: 7}))
	if got := refusals(s.progress()); got != "ana:no_changes_requested,mallory:not_an_approver,bob:not_the_requester,ana:stale" {
		t.Fatalf("refused = %s", got)
	}
}

func featureNames(fs []approval.Feature) []string {
	var out []string
	for _, f := range fs {
		out = append(out, string(f))
	}
	return out
}

func TestStagesValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		req  approval.Request
		want string
	}{
		{"mixed", approval.Request{Requester: "ana", Item: "car", Approver: "bob", Stages: []approval.Stage{{Approvers: []string{"carol"}}}}, "approver"},
		{"bad policy", approval.Request{Requester: "ana", Item: "car", Stages: []approval.Stage{{Approvers: []string{"carol"}}, {Approvers: []string{"dan"}, Policy: approval.PolicyQuorum, Required: 3}}}, "stages[1].required"},
		{"requester only", approval.Request{Requester: "ana", Item: "car", Stages: []approval.Stage{{Approvers: []string{"ana"}}}}, "stages[0].approvers"},
		{"reminder", approval.Request{Requester: "ana", Item: "car", Stages: []approval.Stage{{Approvers: []string{"bob"}, TimeoutHours: hours(time.Hour), RemindEvery: "2h"}}}, "stages[0].remind_every"},
		{"unusable group", approval.Request{Requester: "ana", Item: "car", Stages: []approval.Stage{{Groups: []approval.GroupRule{{Group: "fin/ance", Required: 1}}}}}, "stages[0].groups"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fe, ok := approval.AsFieldError(c.req.Validate())
			if !ok || fe.Field != c.want {
				t.Fatalf("Validate = %v, want a fault in %s", c.req.Validate(), c.want)
			}
		})
	}
	if err := twoStages().Validate(); err != nil {
		t.Fatal(err)
	}
	// A deadline given as a duration at the top level is told against
	// the field the client used.
	timeout := "2h"
	_, err := approval.StartRequest{Request: twoStages(), Timeout: &timeout}.Validate()
	if fe, ok := approval.AsFieldError(err); !ok || fe.Field != "timeout" || !strings.Contains(err.Error(), "belongs in each stage") {
		t.Fatalf("a top-level timeout with stages: %v", err)
	}
}

// A workflow that does not publish the stages feature (a worker keeping
// the sample's contract would take the first decision for the outcome)
// gets no decision on a request with stages.
func TestStagesNeedAWorkflowThatHonoursThem(t *testing.T) {
	st := approval.State{Status: approval.StatusPending, Request: twoStages(),
		Progress: approval.Submission{SubmittedAt: approval.FormatTime(simStart), Features: []approval.Feature{approval.FeatureWithdraw}}}
	r, ok := approval.RefusalOf(st.Check(approval.Attempt{Who: "bob"}))
	if !ok || r.Reason != approval.ReasonUnsupported {
		t.Fatalf("Check = %v, want not_supported", r)
	}
	st.Progress.Features = append(st.Progress.Features, approval.FeatureStages)
	if err := st.Check(approval.Attempt{Who: "bob"}); err != nil {
		t.Fatal(err)
	}
}

// Changes asked for in stage 2 restart stage 2 alone: its votes and its
// deadline, from the resubmission; stage 1's decision stands.
func TestChangesInAStageRestartThatStage(t *testing.T) {
	s := newSim(t, twoStages())
	s.step(s.decision("bob", true))
	s.step(s.decision("carol", true))
	s.now = simStart.Add(30 * time.Minute)
	s.step(s.act(approval.Decision{Action: approval.ActionRequestChanges, Approver: ptr("dan"), Comments: "cheaper?"}))
	s.now = simStart.Add(50 * time.Minute)
	s.step(s.act(approval.Decision{Action: approval.ActionResubmit, Approver: ptr("ana"), Item: "bike"}))
	p := s.progress()
	if p.Stage != 2 || p.Round != 2 || len(p.Decisions) != 0 || p.ExpiresAt != approval.FormatTime(s.now.Add(2*time.Hour)) {
		t.Fatalf("after resubmitting in stage 2: %+v", p)
	}
	if got := strings.Join(s.notified(approval.NoticeRequest), ","); !strings.Contains(got, "carol,dan,erin") {
		t.Fatalf("stage 2's approvers were not told again: %q", got)
	}
	s.step(s.fireDue()...) // stage 1's deadline, left behind
	s.step(s.decision("carol", true))
	s.step(s.decision("erin", true))
	out := s.process()
	if out.Status != approval.StatusApproved || out.Item != "bike" || stageStatuses(out.Stages) != "manager:Approved,finance:Approved" {
		t.Fatalf("outcome = %+v", out)
	}
	if n := len(out.Stages[1].Decisions); n != 3 || out.Stages[1].Decisions[0].Round != 1 || out.Stages[1].Decisions[2].Round != 2 {
		t.Fatalf("stage 2 should keep both rounds' votes, each with its round: %+v", out.Stages[1].Decisions)
	}
	if len(out.Rounds) != 1 || out.Rounds[0].Stage != 2 || out.Rounds[0].RequestedBy != "dan" {
		t.Fatalf("rounds = %+v", out.Rounds)
	}
}

// A request goes back for changes at most MaxRounds times.
func TestRoundsAreBounded(t *testing.T) {
	s := newSim(t, approval.Request{RequestID: "exp", Requester: "ana", Item: "car", Approvers: []string{"bob"}, AllowChanges: true})
	for range approval.MaxRounds {
		s.step(s.act(approval.Decision{Action: approval.ActionRequestChanges, Approver: ptr("bob"), Comments: "again"}))
		s.step(s.act(approval.Decision{Action: approval.ActionResubmit, Approver: ptr("ana")}))
	}
	s.step(s.act(approval.Decision{Action: approval.ActionRequestChanges, Approver: ptr("bob"), Comments: "again"}))
	p := s.progress()
	if len(p.Rounds) != approval.MaxRounds || refusals(p) != "bob:rounds_exhausted" {
		t.Fatalf("%d rounds, refused %s", len(p.Rounds), refusals(p))
	}
	s.step(s.decision("bob", true))
	if out := s.process(); out.Status != approval.StatusApproved {
		t.Fatalf("outcome = %+v", out)
	}
}
