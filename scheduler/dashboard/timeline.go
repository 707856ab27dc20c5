package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/approvals-go/approvals/dts/mgmt"
)

// step is one history event as the timeline shows it.
//
// A history is a series of the orchestrator's runs. Each begins with an
// OrchestratorStarted event stamped when the run began; after it come the
// events the run was given, stamped when they arrived (so before the run
// began), and then those it recorded, stamped as it ran. Their times, in
// history order, go back at every run: #1 (the run) at .685, #2 (the start
// it was given) at .681. So the timeline shows each run's time, and each
// event's time from the start of its run: "0.4ms before" for what the run
// was given, "+1.5ms" for what it recorded.
type step struct {
	// N is the event's position in the whole history, from 1.
	N int
	// Time is when the event happened: when it arrived or was recorded,
	// and for a timer that fired, when it was due.
	Time time.Time
	// Run says the step is the start of one of the orchestrator's runs.
	// Since is then the time since the run before it began, when that is
	// known (HasSince).
	Run      bool
	Since    time.Duration
	HasSince bool
	// Offset is the time from the start of the step's run to the event,
	// negative for the events the run was given, when the run's start is
	// known (InRun); otherwise the step shows its own Time.
	Offset time.Duration
	InRun  bool
	// Kind picks the marker's colour: start, task, timer, event, done,
	// fail, pause, run for the start of a run, or replay for the
	// orchestrator's other bookkeeping.
	Kind  string
	Title string
	// Subject is what the event is about: an activity, event or
	// orchestrator name.
	Subject string
	// Facts are short details, such as a timer's due time.
	Facts []fact
	// Payload is the event's data, pretty-printed, under PayloadLabel.
	Payload      string
	PayloadLabel string
	// Note explains the event in the walk-through's terms, such as whether
	// a timer fired.
	Note string
	// Compact rows are the orchestrator's own markers, shown small.
	Compact bool
}

// OffsetText is the step's time from the start of its run.
func (s step) OffsetText() string {
	if s.Offset < 0 {
		return span(-s.Offset) + " before"
	}
	return "+" + span(s.Offset)
}

type fact struct{ Name, Value string }

// eventTime is when an event happened. A TimerFired event is stamped when
// its timer was created, and delivered when it is due: it fired at its
// FireAt.
func eventTime(e *backend.HistoryEvent) time.Time {
	if tf := e.GetTimerFired(); tf != nil && tf.GetFireAt() != nil {
		return tf.GetFireAt().AsTime()
	}
	return e.GetTimestamp().AsTime()
}

// timeline turns a window of history into steps. first is the window's
// position in the whole history (0 for the start); run is when the run
// the window begins in started and prevRun when the one before it did,
// each zero when not known (the window begins with a run, or its start is
// too far back); final says whether the instance has finished and last
// whether the window reaches the end of its history, so that a timer with
// no TimerFired in the window can be told apart from one that never
// fired; note is what the app says of an event.
func timeline(events []*backend.HistoryEvent, first int, run, prevRun time.Time, status api.OrchestrationStatus, last bool,
	note func(*backend.HistoryEvent) string) []step {
	scheduled := map[int32]string{}
	fired := map[int32]time.Time{}
	for _, e := range events {
		if ts := e.GetTaskScheduled(); ts != nil {
			scheduled[e.GetEventId()] = ts.GetName()
		}
		if tf := e.GetTimerFired(); tf != nil {
			fired[tf.GetTimerId()] = eventTime(e)
		}
	}
	if !run.IsZero() && len(events) > 0 && events[0].GetOrchestratorStarted() != nil {
		// The window begins with a run: the run known is the one before.
		prevRun, run = run, time.Time{}
	}
	steps := make([]step, 0, len(events))
	// waiting is the latest timer not yet fired at each point: what an
	// event that arrives is racing, as a decision races its timeout.
	var waiting *backend.HistoryEvent
	for i, e := range events {
		at := eventTime(e)
		s := step{N: first + i + 1, Time: at}
		describe(&s, e, scheduled)
		if s.Note == "" {
			s.Note = note(e)
		}
		if e.GetOrchestratorStarted() != nil {
			if !run.IsZero() {
				prevRun = run
			}
			s.Run, run = true, at
			if !prevRun.IsZero() {
				s.Since, s.HasSince = at.Sub(prevRun), true
			}
		} else if !run.IsZero() {
			s.Offset, s.InRun = at.Sub(run), true
		}
		switch {
		case e.GetTimerCreated() != nil:
			s.Note = timerNote(e, fired, status, last)
			waiting = e
		case e.GetTimerFired() != nil:
			if waiting != nil && waiting.GetEventId() == e.GetTimerFired().GetTimerId() {
				waiting = nil
			}
		case e.GetEventRaised() != nil && waiting != nil:
			race := fmt.Sprintf("arrived %s after timer %d was set, %s before it was due", span(at.Sub(waiting.GetTimestamp().AsTime())),
				waiting.GetEventId(), span(waiting.GetTimerCreated().GetFireAt().AsTime().Sub(at)))
			if s.Note != "" {
				race = s.Note + " — " + race
			}
			s.Note = strings.ToUpper(race[:1]) + race[1:] + "."
			waiting = nil
		}
		steps = append(steps, s)
	}
	return steps
}

// lastRuns are the starts of the last run in events and of the one
// before it, each zero when there is none.
func lastRuns(events []*backend.HistoryEvent) (last, before time.Time) {
	for _, e := range events {
		if e.GetOrchestratorStarted() != nil {
			last, before = e.GetTimestamp().AsTime(), last
		}
	}
	return last, before
}

func describe(s *step, e *backend.HistoryEvent, scheduled map[int32]string) {
	switch {
	case e.GetExecutionStarted() != nil:
		es := e.GetExecutionStarted()
		s.Kind, s.Title, s.Subject = "start", "Orchestration started", es.GetName()
		s.payload("input", es.GetInput())
		if v := es.GetVersion().GetValue(); v != "" {
			s.Facts = append(s.Facts, fact{"version", v})
		}
		if p := es.GetParentInstance(); p != nil {
			s.Facts = append(s.Facts, fact{"parent", p.GetOrchestrationInstance().GetInstanceId()})
		}
	case e.GetTaskScheduled() != nil:
		ts := e.GetTaskScheduled()
		s.Kind, s.Title, s.Subject = "task", "Activity scheduled", ts.GetName()
		s.Facts = append(s.Facts, fact{"task", fmt.Sprint(e.GetEventId())})
		s.payload("input", ts.GetInput())
	case e.GetTaskCompleted() != nil:
		tc := e.GetTaskCompleted()
		s.Kind, s.Title, s.Subject = "task", "Activity completed", taskName(scheduled, tc.GetTaskScheduledId())
		s.Facts = append(s.Facts, fact{"task", fmt.Sprint(tc.GetTaskScheduledId())})
		s.payload("result", tc.GetResult())
	case e.GetTaskFailed() != nil:
		tf := e.GetTaskFailed()
		s.Kind, s.Title, s.Subject = "fail", "Activity failed", taskName(scheduled, tf.GetTaskScheduledId())
		s.Facts = append(s.Facts, fact{"task", fmt.Sprint(tf.GetTaskScheduledId())})
		s.failure(tf.GetFailureDetails())
	case e.GetTimerCreated() != nil:
		at := e.GetTimerCreated().GetFireAt().AsTime()
		s.Kind, s.Title = "timer", "Timer created"
		s.Facts = append(s.Facts, fact{"timer", fmt.Sprint(e.GetEventId())}, fact{"fires at", formatTime(at)},
			fact{"after", span(at.Sub(e.GetTimestamp().AsTime()))})
	case e.GetTimerFired() != nil:
		tf := e.GetTimerFired()
		s.Kind, s.Title = "timer", "Timer fired"
		s.Facts = append(s.Facts, fact{"timer", fmt.Sprint(tf.GetTimerId())}, fact{"was due", formatTime(tf.GetFireAt().AsTime())})
	case e.GetEventRaised() != nil:
		er := e.GetEventRaised()
		s.Kind, s.Title, s.Subject = "event", "Event raised", er.GetName()
		s.payload("payload", er.GetInput())
	case e.GetEventSent() != nil:
		es := e.GetEventSent()
		s.Kind, s.Title, s.Subject = "event", "Event sent", es.GetName()
		s.Facts = append(s.Facts, fact{"to", es.GetInstanceId()})
		s.payload("payload", es.GetInput())
	case e.GetSubOrchestrationInstanceCreated() != nil:
		sc := e.GetSubOrchestrationInstanceCreated()
		s.Kind, s.Title, s.Subject = "task", "Sub-orchestration started", sc.GetName()
		s.Facts = append(s.Facts, fact{"instance", sc.GetInstanceId()})
		s.payload("input", sc.GetInput())
	case e.GetSubOrchestrationInstanceCompleted() != nil:
		sc := e.GetSubOrchestrationInstanceCompleted()
		s.Kind, s.Title, s.Subject = "task", "Sub-orchestration completed", taskName(scheduled, sc.GetTaskScheduledId())
		s.payload("result", sc.GetResult())
	case e.GetSubOrchestrationInstanceFailed() != nil:
		sf := e.GetSubOrchestrationInstanceFailed()
		s.Kind, s.Title, s.Subject = "fail", "Sub-orchestration failed", taskName(scheduled, sf.GetTaskScheduledId())
		s.failure(sf.GetFailureDetails())
	case e.GetExecutionCompleted() != nil:
		ec := e.GetExecutionCompleted()
		st := api.OrchestrationStatus(ec.GetOrchestrationStatus())
		s.Kind, s.Title = "done", "Orchestration "+strings.ToLower(mgmt.StatusName(st))
		if st == api.RUNTIME_STATUS_FAILED {
			s.Kind = "fail"
		}
		s.payload("output", ec.GetResult())
		s.failure(ec.GetFailureDetails())
	case e.GetExecutionTerminated() != nil:
		s.Kind, s.Title = "fail", "Termination requested"
		s.payload("reason", e.GetExecutionTerminated().GetInput())
	case e.GetExecutionSuspended() != nil:
		s.Kind, s.Title = "pause", "Suspended"
		s.payload("reason", e.GetExecutionSuspended().GetInput())
	case e.GetExecutionResumed() != nil:
		s.Kind, s.Title = "pause", "Resumed"
		s.payload("reason", e.GetExecutionResumed().GetInput())
	case e.GetContinueAsNew() != nil:
		s.Kind, s.Title = "start", "Continued as new"
		s.payload("input", e.GetContinueAsNew().GetInput())
	case e.GetOrchestratorStarted() != nil:
		s.Kind, s.Title, s.Compact = "run", "Orchestrator ran", true
	case e.GetOrchestratorCompleted() != nil:
		s.Kind, s.Title, s.Compact = "replay", "Orchestrator yielded", true
	default:
		if !describeNewer(s, e) {
			s.Kind, s.Title, s.Compact = "replay", "Other event", true
		}
	}
}

// newerTitles name the event types durabletask-go v0.6.0 does not know.
var newerTitles = map[string][2]string{
	"entityOperationCalled":    {"task", "Entity called"},
	"entityOperationSignaled":  {"event", "Entity signalled"},
	"entityOperationCompleted": {"task", "Entity operation completed"},
	"entityOperationFailed":    {"fail", "Entity operation failed"},
	"entityLockRequested":      {"pause", "Entity locks requested"},
	"entityLockGranted":        {"pause", "Entity locks granted"},
	"entityUnlockSent":         {"pause", "Entity unlocked"},
	"executionRewound":         {"start", "Rewound"},
}

// describeNewer describes the entity events and ExecutionRewound.
func describeNewer(s *step, e *backend.HistoryEvent) bool {
	n, _ := mgmt.DecodeNewer(e)
	title, ok := newerTitles[n.Kind]
	if !ok {
		return false
	}
	s.Kind, s.Title = title[0], title[1]
	if n.RewoundReason != "" {
		s.Facts = append(s.Facts, fact{"reason", n.RewoundReason})
	}
	if m := n.Entity; m != nil {
		s.Subject = m.Operation
		if m.Target != "" {
			s.Facts = append(s.Facts, fact{"entity", m.Target})
		}
		if len(m.LockSet) > 0 {
			s.Facts = append(s.Facts, fact{"entities", strings.Join(m.LockSet, ", ")})
		}
		if m.HasInput {
			s.payload("input", wrapperspb.String(m.Input))
		}
	}
	return true
}

func taskName(scheduled map[int32]string, id int32) string {
	if name, ok := scheduled[id]; ok {
		return name
	}
	return fmt.Sprintf("task %d", id)
}

func (s *step) payload(label string, v *wrapperspb.StringValue) {
	if v == nil {
		return
	}
	s.PayloadLabel, s.Payload = label, prettyJSON(v.GetValue())
}

func (s *step) failure(fd *backend.TaskFailureDetails) {
	if fd == nil {
		return
	}
	s.Facts = append(s.Facts, fact{"error", fd.GetErrorType()})
	s.Note = fd.GetErrorMessage()
	if fd.GetStackTrace().GetValue() != "" {
		s.PayloadLabel, s.Payload = "stack trace", fd.GetStackTrace().GetValue()
	}
}

// timerNote says what became of a timer: the walk-through's "timeout
// task", which fires only when nobody decides in time.
func timerNote(e *backend.HistoryEvent, fired map[int32]time.Time, status api.OrchestrationStatus, last bool) string {
	if at, ok := fired[e.GetEventId()]; ok {
		return "Fired " + span(at.Sub(e.GetTimestamp().AsTime())) + " after it was created."
	}
	if !last {
		return "Whether it fired is shown further on in the history."
	}
	due := e.GetTimerCreated().GetFireAt().AsTime()
	if mgmt.Final(status) {
		return "Never fired: the orchestration finished before it was due."
	}
	return "Not fired yet: due " + formatTime(due) + "."
}

// prettyJSON indents a JSON value for reading; anything else is shown as
// it is.
func prettyJSON(s string) string {
	var buf bytes.Buffer
	if json.Indent(&buf, []byte(s), "", "  ") != nil {
		return s
	}
	return buf.String()
}

// span renders a duration briefly and precisely enough to compare steps:
// "850ms", "12.3s", "4m 05s", "23h 59m", "3d 4h".
func span(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	var out string
	switch {
	case d < time.Millisecond:
		out = fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		out = fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		out = fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		out = fmt.Sprintf("%dm %02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		out = fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		out = fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
	}
	if neg {
		return "-" + out
	}
	return out
}
