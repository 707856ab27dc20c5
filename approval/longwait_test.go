package approval_test

import (
	"testing"
	"time"

	"github.com/approvals-go/approvals/approval"
)

// A year-long approval waits as a chain of timers none longer than
// approval.MaxTimer, as the official SDKs split theirs, and times out at
// its deadline, not at a hop.
func TestOneYearDeadlineIsAChainOfShortTimers(t *testing.T) {
	year := approval.MaxTimeout
	s := newSim(t, approval.Request{RequestID: "exp", Requester: "ana", Item: "car", TimeoutHours: hours(year)})
	deadline := simStart.Add(year)
	if p := s.progress(); p.ExpiresAt != approval.FormatTime(deadline) {
		t.Fatalf("published deadline %s, want %s", p.ExpiresAt, approval.FormatTime(deadline))
	}
	hops := 0
	for s.done == nil && len(s.timers) > 0 {
		if len(s.timers) != 1 {
			t.Fatalf("%d timers pending, want one", len(s.timers))
		}
		at := s.timers[0].GetTimerFired().GetFireAt().AsTime()
		if d := at.Sub(s.now); d > approval.MaxTimer {
			t.Fatalf("a timer of %s at %s", d, at)
		}
		if at.After(deadline) {
			t.Fatalf("a timer at %s, after the deadline %s", at, deadline)
		}
		if at.Before(deadline) {
			hops++
			if p := s.progress(); p.Status != approval.StatusPending {
				t.Fatalf("after hop %d: %+v", hops, p)
			}
		}
		s.step(s.fire())
	}
	if want := int((year + approval.MaxTimer - 1) / approval.MaxTimer); hops != want-1 {
		t.Fatalf("%d hops before the deadline, want %d", hops, want-1)
	}
	if out := s.outcome(); out.Status != approval.StatusTimeout || out.TimedOutAt != approval.FormatTime(deadline) {
		t.Fatalf("outcome = %+v, want Timeout at %s", out, approval.FormatTime(deadline))
	}
}

// A decision in the middle of a long wait decides at once, and the timers
// left behind never cut a later wait short.
func TestLongWaitDecidedBetweenHops(t *testing.T) {
	req := approval.Request{RequestID: "exp", Requester: "ana", Item: "car", Approvers: []string{"bob", "carol"},
		Policy: approval.PolicyAll, TimeoutHours: hours(30 * 24 * time.Hour)}
	s := newSim(t, req)
	s.step(s.fire()) // the first hop, at 3 days
	s.now = simStart.Add(4 * 24 * time.Hour)
	s.step(s.decision("bob", true))
	// The wait after bob's decision aims at the same hop (6 days) as the
	// timer it left behind: both fire together.
	first, second := s.fire(), s.fire()
	if !first.GetTimerFired().GetFireAt().AsTime().Equal(second.GetTimerFired().GetFireAt().AsTime()) {
		t.Fatalf("timers at %s and %s: a leftover would cut the current wait short",
			first.GetTimerFired().GetFireAt().AsTime(), second.GetTimerFired().GetFireAt().AsTime())
	}
	s.step(first, second)
	s.step(s.decision("carol", true))
	if out := s.process(); out.Status != approval.StatusApproved {
		t.Fatalf("outcome = %+v", out)
	}
}

// An approval that was already waiting on one long timer, as the
// orchestrator recorded before it hopped, replays: today's code aims at a
// hop, the recorded timer fires at the deadline, and the approval times
// out there.
func TestLongTimerRecordedBeforeHopsStillTimesOut(t *testing.T) {
	s := newSim(t, approval.Request{RequestID: "exp", Requester: "ana", Item: "car", TimeoutHours: hours(10 * 24 * time.Hour)})
	deadline := simStart.Add(10 * 24 * time.Hour)
	timer := s.fire()
	// The recorded timer fires at the deadline, not at the hop.
	s.now = deadline
	fired := s.ev(`"timerFired":{"fireAt":%q,"timerId":%d}`, approval.FormatTime(deadline), timer.GetTimerFired().GetTimerId())
	s.step(fired)
	for s.done == nil && len(s.timers) > 0 {
		s.step(s.fire())
	}
	if out := s.outcome(); out.Status != approval.StatusTimeout {
		t.Fatalf("outcome = %+v", out)
	}
}
