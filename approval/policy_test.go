package approval_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/backend"
	"github.com/microsoft/durabletask-go/task"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/internal/testenv"
)

// sim runs the orchestrator the way the scheduler does, one execution at a
// time over its recorded history, with time and event order chosen by the
// test: a timeout is a TimerFired event, so nothing waits on the clock.
type sim struct {
	t       *testing.T
	exec    backend.Executor
	history []*backend.HistoryEvent
	now     time.Time
	// tasks and timers are what the orchestrator has asked for and not
	// yet been given, by task id.
	tasks  map[int32]*backend.HistoryEvent
	timers []*backend.HistoryEvent
	status string
	done   *backend.HistoryEvent
	subs   []string
}

var simStart = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func newSim(t *testing.T, req approval.Request) *sim {
	t.Helper()
	// The submit activity completes at once, as one from before notices
	// were the orchestrator's own step.
	return newSimSubmitted(t, req, approval.Submission{RequestID: "exp", Status: approval.StatusPending,
		SubmittedAt: approval.FormatTime(simStart), ApprovalURL: "http://approvals.test/api/review/exp"})
}

// newSimSubmitted starts an approval whose submit activity reports sub.
func newSimSubmitted(t *testing.T, req approval.Request, sub approval.Submission) *sim {
	t.Helper()
	r := task.NewTaskRegistry()
	if err := approval.Register(r, approval.NewActivities("http://approvals.test", testenv.Quiet())); err != nil {
		t.Fatal(err)
	}
	s := &sim{t: t, exec: task.NewTaskExecutor(r), now: simStart, tasks: map[int32]*backend.HistoryEvent{}}
	input, _ := json.Marshal(req)
	s.step(s.ev(`"executionStarted":{"name":"human_interaction_orchestrator","input":%q,"orchestrationInstance":{"instanceId":"exp"}}`, input))
	s.complete(approval.SubmitActivityName, sub)
	return s
}

func (s *sim) ev(format string, args ...any) *backend.HistoryEvent {
	s.t.Helper()
	e := &backend.HistoryEvent{}
	js := `{"eventId":-1,"timestamp":"` + approval.FormatTime(s.now) + `",` + fmt.Sprintf(format, args...) + `}`
	if err := protojson.Unmarshal([]byte(js), e); err != nil {
		s.t.Fatalf("%s: %v", js, err)
	}
	return e
}

// step runs one execution with the given new events.
func (s *sim) step(events ...*backend.HistoryEvent) {
	s.t.Helper()
	if s.done != nil {
		s.t.Fatal("the orchestration has completed")
	}
	st := backend.NewOrchestrationRuntimeState("exp", s.history)
	for _, e := range append([]*backend.HistoryEvent{s.ev(`"orchestratorStarted":{}`)}, events...) {
		if err := st.AddEvent(e); err != nil {
			s.t.Fatal(err)
		}
	}
	res, err := s.exec.ExecuteOrchestrator(context.Background(), "exp", st.OldEvents(), st.NewEvents())
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := st.ApplyActions(res.Response.GetActions(), nil); err != nil {
		s.t.Fatal(err)
	}
	s.status = res.Response.GetCustomStatus().GetValue()
	s.history = append(append([]*backend.HistoryEvent(nil), st.OldEvents()...), st.NewEvents()...)
	for _, e := range st.PendingTasks() {
		s.tasks[e.GetEventId()] = e
	}
	s.timers = append(s.timers, st.PendingTimers()...)
	for _, m := range st.PendingMessages() {
		s.subs = append(s.subs, m.HistoryEvent.GetExecutionStarted().GetName())
	}
	for _, e := range st.NewEvents() {
		if e.GetExecutionCompleted() != nil {
			s.done = e
		}
	}
}

// scheduled returns the pending activities of a name.
func (s *sim) scheduled(name string) []*backend.HistoryEvent {
	var out []*backend.HistoryEvent
	for _, e := range s.tasks {
		if e.GetTaskScheduled().GetName() == name {
			out = append(out, e)
		}
	}
	return out
}

// complete finishes the one pending activity of a name with result.
func (s *sim) complete(name string, result any) {
	s.t.Helper()
	pending := s.scheduled(name)
	if len(pending) != 1 {
		s.t.Fatalf("%d %s activities pending, want 1", len(pending), name)
	}
	e := pending[0]
	delete(s.tasks, e.GetEventId())
	raw, _ := json.Marshal(result)
	s.step(s.ev(`"taskCompleted":{"taskScheduledId":%d,"result":%q}`, e.GetEventId(), raw))
}

// decision is an approval_response event, to pass to step.
func (s *sim) decision(who string, approved bool) *backend.HistoryEvent {
	raw, _ := json.Marshal(approval.Decision{IsApproved: &approved, Approver: &who, Comments: "by " + who})
	return s.ev(`"eventRaised":{"name":"approval_response","input":%q}`, raw)
}

// fire takes the earliest pending timer, moving time to it, and returns
// its TimerFired event.
func (s *sim) fire() *backend.HistoryEvent {
	s.t.Helper()
	if len(s.timers) == 0 {
		s.t.Fatal("no timer pending")
	}
	first := 0
	for i, e := range s.timers {
		if e.GetTimerFired().GetFireAt().AsTime().Before(s.timers[first].GetTimerFired().GetFireAt().AsTime()) {
			first = i
		}
	}
	e := s.timers[first]
	s.timers = append(s.timers[:first], s.timers[first+1:]...)
	if at := e.GetTimerFired().GetFireAt().AsTime(); at.After(s.now) {
		s.now = at
	}
	return e
}

func (s *sim) progress() approval.Submission {
	s.t.Helper()
	var sub approval.Submission
	if err := json.Unmarshal([]byte(s.status), &sub); err != nil {
		s.t.Fatalf("custom status %q: %v", s.status, err)
	}
	return sub
}

// process completes a pending process_approval as the activity would and
// returns the outcome.
func (s *sim) process() approval.Outcome {
	s.t.Helper()
	pending := s.scheduled(approval.ProcessActivityName)
	if len(pending) != 1 {
		s.t.Fatalf("%d process activities pending, want 1 (status %s)", len(pending), s.status)
	}
	var in approval.ProcessInput
	if err := json.Unmarshal([]byte(pending[0].GetTaskScheduled().GetInput().GetValue()), &in); err != nil {
		s.t.Fatal(err)
	}
	out := approval.Outcome{RequestID: in.RequestID, Status: approval.StatusRejected, ProcessedAt: approval.FormatTime(s.now),
		Approver: in.Approver, Comments: in.Comments, Decisions: in.Decisions, Trail: in.Trail}
	switch {
	case in.Withdrawn:
		out.Status = approval.StatusWithdrawn
	case in.IsApproved:
		out.Status = approval.StatusApproved
	}
	s.complete(approval.ProcessActivityName, out)
	return s.outcome()
}

func (s *sim) outcome() approval.Outcome {
	s.t.Helper()
	if s.done == nil {
		s.t.Fatalf("not completed; status %s", s.status)
	}
	var out approval.Outcome
	if err := json.Unmarshal([]byte(s.done.GetExecutionCompleted().GetResult().GetValue()), &out); err != nil {
		s.t.Fatal(err)
	}
	return out
}

func (s *sim) waiting() {
	s.t.Helper()
	if s.done != nil || len(s.scheduled(approval.ProcessActivityName)) > 0 {
		s.t.Fatalf("decided too early: %s", s.status)
	}
}

func votes(out approval.Outcome) string {
	var parts []string
	for _, v := range out.Decisions {
		parts = append(parts, fmt.Sprintf("%s:%v", v.Approver, v.Approved))
	}
	return strings.Join(parts, ",")
}

func TestPolicyAll(t *testing.T) {
	req := approval.Request{RequestID: "exp", Requester: "ana", Item: "car", Approvers: []string{"bob", "carol"}, Policy: approval.PolicyAll, TimeoutHours: hours(4 * time.Hour)}

	t.Run("both approve", func(t *testing.T) {
		s := newSim(t, req)
		s.step(s.decision("bob", true))
		s.waiting()
		if p := s.progress(); len(p.Decisions) != 1 || p.Decisions[0].Approver != "bob" || p.Policy != approval.PolicyAll || p.Required != 2 {
			t.Fatalf("progress after one approval = %+v", p)
		}
		// A second decision by the same person changes nothing.
		s.step(s.decision("BOB", false))
		s.waiting()
		s.step(s.decision("carol", true))
		out := s.process()
		if out.Status != approval.StatusApproved || votes(out) != "bob:true,carol:true" || out.Approver != "carol" {
			t.Fatalf("outcome = %+v", out)
		}
	})
	t.Run("a rejection in the middle rejects", func(t *testing.T) {
		s := newSim(t, req)
		s.step(s.decision("carol", false))
		if out := s.process(); out.Status != approval.StatusRejected || out.Approver != "carol" || votes(out) != "carol:false" {
			t.Fatalf("outcome = %+v", out)
		}
	})
	t.Run("timeout with a partial approval", func(t *testing.T) {
		s := newSim(t, req)
		s.step(s.decision("bob", true))
		s.step(s.fire(), s.fire())
		s.waiting()
		s.step(s.fire()) // the step the orchestrator yields before concluding
		if out := s.outcome(); out.Status != approval.StatusTimeout || votes(out) != "bob:true" {
			t.Fatalf("outcome = %+v", out)
		}
	})
	// Both approvals were accepted before the deadline, but no worker ran
	// until after it: they arrive in one batch ahead of the deadline's
	// timer, in the order they became due, and both count.
	t.Run("both approvals delivered late with the deadline", func(t *testing.T) {
		s := newSim(t, req)
		deadline := s.fire()
		s.now = s.now.Add(time.Minute)
		s.step(s.decision("bob", true), s.decision("carol", true), deadline)
		s.step(s.fire())
		if out := s.process(); out.Status != approval.StatusApproved || votes(out) != "bob:true,carol:true" {
			t.Fatalf("outcome = %+v", out)
		}
	})
}

func TestPolicyQuorum(t *testing.T) {
	req := approval.Request{RequestID: "exp", Requester: "ana", Item: "car", Approvers: []string{"a", "b", "c"}, Policy: approval.PolicyQuorum, Required: 2}
	for _, c := range []struct {
		order []string // "a+" approves, "a-" rejects
		want  approval.Status
		after int // decisions until decided
	}{
		{[]string{"a+", "b+"}, approval.StatusApproved, 2},
		{[]string{"a+", "b-", "c+"}, approval.StatusApproved, 3},
		{[]string{"a-", "b+", "c+"}, approval.StatusApproved, 3},
		{[]string{"a-", "b-"}, approval.StatusRejected, 2},
		{[]string{"a+", "b-", "c-"}, approval.StatusRejected, 3},
		{[]string{"a+", "a+", "b+"}, approval.StatusApproved, 3},
	} {
		t.Run(strings.Join(c.order, " "), func(t *testing.T) {
			s := newSim(t, req)
			for i, d := range c.order {
				s.step(s.decision(d[:1], d[1] == '+'))
				if i+1 < c.after {
					s.waiting()
				}
			}
			if out := s.process(); out.Status != c.want {
				t.Fatalf("outcome = %+v, want %s", out, c.want)
			}
		})
	}
}

// Reminders go to those who have not decided, on durable timers; the
// escalation brings its people in, and their decisions count.
func TestRemindersAndEscalation(t *testing.T) {
	req := approval.Request{RequestID: "exp", Requester: "ana", Item: "car", Approvers: []string{"bob", "carol"}, Policy: approval.PolicyAll,
		TimeoutHours: hours(10 * time.Hour), RemindEvery: "3h", EscalateAfter: "5h", EscalateTo: []string{"dave"}}
	s := newSim(t, req)
	p := s.progress()
	if p.NextReminderAt != approval.FormatTime(simStart.Add(3*time.Hour)) || p.EscalatesAt != approval.FormatTime(simStart.Add(5*time.Hour)) {
		t.Fatalf("progress = %+v", p)
	}
	s.step(s.decision("bob", true))
	// Two timers aim at the first reminder: the first wait's, and the one
	// after bob's decision. Both fire together.
	s.step(s.fire(), s.fire())
	notify := s.scheduled(approval.NotifyActivityName)
	if len(notify) != 1 {
		t.Fatalf("%d notify activities after the first reminder", len(notify))
	}
	var in approval.NotifyInput
	json.Unmarshal([]byte(notify[0].GetTaskScheduled().GetInput().GetValue()), &in)
	if in.Kind != approval.NoticeReminder || strings.Join(in.Approvers, ",") != "carol" {
		t.Fatalf("reminder = %+v, want carol only", in)
	}
	if p := s.progress(); p.RemindersSent != 1 || p.NextReminderAt != approval.FormatTime(simStart.Add(6*time.Hour)) {
		t.Fatalf("after a reminder: %+v", p)
	}
	delete(s.tasks, notify[0].GetEventId())
	// The escalation at 5h.
	s.step(s.fire())
	notify = s.scheduled(approval.NotifyActivityName)
	if len(notify) != 1 {
		t.Fatalf("%d notify activities after the escalation", len(notify))
	}
	json.Unmarshal([]byte(notify[0].GetTaskScheduled().GetInput().GetValue()), &in)
	if in.Kind != approval.NoticeEscalation || strings.Join(in.Approvers, ",") != "dave" {
		t.Fatalf("escalation = %+v", in)
	}
	if p := s.progress(); strings.Join(p.Approvers, ",") != "bob,carol,dave" || p.EscalatedAt == "" {
		t.Fatalf("after the escalation: %+v", p)
	}
	s.step(s.decision("dave", true))
	if out := s.process(); out.Status != approval.StatusApproved || votes(out) != "bob:true,dave:true" {
		t.Fatalf("outcome = %+v", out)
	}
}

func TestWithdraw(t *testing.T) {
	s := newSim(t, approval.Request{RequestID: "exp", Requester: "ana", Item: "car", Approvers: []string{"bob", "carol"}, Policy: approval.PolicyAll})
	s.step(s.decision("bob", true))
	raw, _ := json.Marshal(approval.Decision{Action: approval.ActionWithdraw, Approver: ptr("ana"), Comments: "bought one myself"})
	s.step(s.ev(`"eventRaised":{"name":"approval_response","input":%q}`, raw))
	out := s.process()
	if out.Status != approval.StatusWithdrawn || out.Approver != "ana" || out.Comments != "bought one myself" || votes(out) != "bob:true" {
		t.Fatalf("outcome = %+v", out)
	}
}

// A request of the sample's shape publishes the sample's custom status,
// with only the deadline and what the workflow supports added.
func TestSampleShapeStatus(t *testing.T) {
	s := newSim(t, approval.Request{RequestID: "exp", Requester: "ana", Item: "car"})
	var raw map[string]any
	if err := json.Unmarshal([]byte(s.status), &raw); err != nil {
		t.Fatal(err)
	}
	if keys(raw) != "approval_url,expires_at,features,request_id,status,submitted_at" {
		t.Fatalf("custom status keys = %s", keys(raw))
	}
}

func TestCallbackStartedWhenDone(t *testing.T) {
	s := newSim(t, approval.Request{RequestID: "exp", Requester: "ana", Item: "car", CallbackURL: "https://flows.example/hook"})
	s.step(s.decision("bob", true))
	s.process()
	if len(s.subs) != 1 || s.subs[0] != approval.CallbackOrchestratorName {
		t.Fatalf("sub-orchestrations started = %v", s.subs)
	}
}

func TestValidatePolicies(t *testing.T) {
	base := approval.Request{Requester: "ana", Item: "x", Approvers: []string{"bob", "carol"}}
	for _, c := range []struct {
		mod   func(*approval.Request)
		field string
	}{
		{func(r *approval.Request) { r.Policy = "most" }, "policy"},
		{func(r *approval.Request) { r.Policy, r.Approvers = approval.PolicyAll, nil }, "policy"},
		{func(r *approval.Request) { r.Policy, r.Required = approval.PolicyQuorum, 3 }, "required"},
		{func(r *approval.Request) { r.Policy, r.Required = approval.PolicyQuorum, 0 }, "required"},
		{func(r *approval.Request) { r.Required = 1 }, "required"},
		{func(r *approval.Request) { r.RemindEvery = "soon" }, "remind_every"},
		{func(r *approval.Request) { r.RemindEvery = "48h" }, "remind_every"},
		{func(r *approval.Request) { r.EscalateAfter = "1h" }, "escalate_to"},
		{func(r *approval.Request) { r.EscalateTo = []string{"dave"} }, "escalate_after"},
		{func(r *approval.Request) { r.EscalateAfter, r.EscalateTo = "1h", []string{"ANA"} }, "escalate_to"},
	} {
		r := base
		c.mod(&r)
		fe, ok := approval.AsFieldError(r.Validate())
		if !ok || fe.Field != c.field {
			t.Errorf("%+v: %v, want an error on %s", r, r.Validate(), c.field)
		}
	}
	ok := base
	ok.Policy, ok.Required, ok.EscalateAfter, ok.EscalateTo = approval.PolicyQuorum, 3, "2h", []string{"dave"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("a quorum counting the escalation: %v", err)
	}
}
