package dashboard

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/approvals-go/approvals/dts/mgmt"
)

// history builds events from "at kind" pairs: at is milliseconds after
// t0, kind one of run, started, scheduled, completed, timer (created,
// firing at 1000), fired (stamped at creation, due at 1000), raised, done.
func history(t *testing.T, t0 time.Time, evs ...string) []*backend.HistoryEvent {
	t.Helper()
	var out []*backend.HistoryEvent
	for _, ev := range evs {
		var ms int
		var kind string
		if _, err := fmt.Sscanf(ev, "%d %s", &ms, &kind); err != nil {
			t.Fatal(err)
		}
		ts := func(ms int) string { return t0.Add(time.Duration(ms) * time.Millisecond).Format(time.RFC3339Nano) }
		body := map[string]string{
			"run":       `"orchestratorStarted":{}`,
			"started":   `"executionStarted":{"name":"o"}`,
			"scheduled": `"taskScheduled":{"name":"a"}`,
			"completed": `"taskCompleted":{"taskScheduledId":0}`,
			"timer":     `"timerCreated":{"fireAt":"` + ts(1000) + `"}`,
			"fired":     `"timerFired":{"timerId":1,"fireAt":"` + ts(1000) + `"}`,
			"raised":    `"eventRaised":{"name":"e"}`,
			"done":      `"executionCompleted":{"orchestrationStatus":"ORCHESTRATION_STATUS_COMPLETED"}`,
		}[kind]
		e := &backend.HistoryEvent{}
		if err := protojson.Unmarshal([]byte(`{"eventId":1,"timestamp":"`+ts(ms)+`",`+body+`}`), e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// Each run shows its time and each event its time from the start of its
// run. An event raised while the run before was still recording (at 12,
// before that run's timer at 14) and a timer that fired (stamped when it
// was created, at 14) would otherwise show times that go back.
func TestTimelineCountsFromEachRun(t *testing.T) {
	t0 := time.Date(2026, 4, 12, 9, 0, 0, 0, time.UTC)
	events := history(t, t0,
		"10 run", "5 started", "11 scheduled",
		"13 run", "12 completed", "14 timer",
		"20 run", "12 raised", "21 scheduled",
		"1001 run", "14 fired", "1002 done")
	none := func(*backend.HistoryEvent) string { return "" }
	steps := timeline(events, 0, time.Time{}, time.Time{}, api.RUNTIME_STATUS_COMPLETED, true, none)
	want := []string{"run 10", "5ms before", "+1ms", "run 13 +3ms", "1ms before", "+1ms", "run 20 +7ms", "8ms before", "+1ms",
		"run 1001 +981ms", "1ms before", "+1ms"}
	shown := func(s step) string {
		switch {
		case s.Run && s.HasSince:
			return fmt.Sprintf("run %d +%s", s.Time.Sub(t0).Milliseconds(), span(s.Since))
		case s.Run:
			return fmt.Sprintf("run %d", s.Time.Sub(t0).Milliseconds())
		case s.InRun:
			return s.OffsetText()
		}
		return "at " + formatTime(s.Time)
	}
	for i, s := range steps {
		if got := shown(s); got != want[i] {
			t.Errorf("#%d %s shows %q, want %q", s.N, s.Title, got, want[i])
		}
	}
	if note := steps[5].Note; note != "Fired 986ms after it was created." {
		t.Errorf("the timer's note: %q", note)
	}

	// A window that begins within a run counts from that run, found
	// before the window; one that begins with a run tells the time since
	// the run before.
	if last, before := lastRuns(events[:5]); !last.Equal(t0.Add(13*time.Millisecond)) || !before.Equal(t0.Add(10*time.Millisecond)) {
		t.Errorf("lastRuns = %s, %s", last, before)
	}
	mid := timeline(events[4:], 4, t0.Add(13*time.Millisecond), t0.Add(10*time.Millisecond), api.RUNTIME_STATUS_COMPLETED, true, none)
	if got := shown(mid[0]); got != "1ms before" || mid[0].N != 5 {
		t.Errorf("a window from #5 begins with #%d %q", mid[0].N, got)
	}
	if got := shown(mid[2]); got != "run 20 +7ms" {
		t.Errorf("its next run shows %q", got)
	}
	at := timeline(events[3:], 3, t0.Add(10*time.Millisecond), time.Time{}, api.RUNTIME_STATUS_COMPLETED, true, none)
	if got := shown(at[0]); got != "run 13 +3ms" {
		t.Errorf("a window from a run begins with %q", got)
	}
	// Not known (too far back): the events show their own times.
	far := timeline(events[4:], 4, time.Time{}, time.Time{}, api.RUNTIME_STATUS_COMPLETED, true, none)
	if got := shown(far[0]); got != "at 2026-04-12 09:00:00.012 UTC" {
		t.Errorf("without its run, #5 shows %q", got)
	}
}

// The entity events and ExecutionRewound, which durabletask-go v0.6.0
// does not know, have names of their own on the timeline.
func TestNewerEventsAreNamed(t *testing.T) {
	call := &mgmt.EntityMessage{Kind: mgmt.EntityCall, Target: "@counter@a", Operation: "add", Input: "5", HasInput: true}
	for _, c := range []struct {
		e     *backend.HistoryEvent
		title string
		facts string
	}{
		{call.Event(3), "Entity called", "entity @counter@a"},
		{mgmt.EntityOperationCompleted("r", "6", true), "Entity operation completed", ""},
		{mgmt.EntityLockGranted("cs"), "Entity locks granted", ""},
		{mgmt.ExecutionRewound("try again", ""), "Rewound", "reason try again"},
	} {
		var s step
		describe(&s, c.e, nil)
		var facts []string
		for _, f := range s.Facts {
			facts = append(facts, f.Name+" "+f.Value)
		}
		if s.Title != c.title || (c.facts != "" && !slices.Contains(facts, c.facts)) {
			t.Errorf("%s: got %q with %v", c.title, s.Title, facts)
		}
	}
}
