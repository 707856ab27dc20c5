package approval_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"
	"github.com/microsoft/durabletask-go/task"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/internal/testenv"
)

// The histories in testdata/history were recorded from the orchestrator as
// it was deployed before deadlines were published (commit 8b98bae), one per
// way an approval ends and one still waiting. Replaying them under today's
// code proves that approvals already waiting when a new version is deployed
// still finish. Add a directory of recordings before changing what the
// orchestrator schedules; never re-record these.

func loadHistory(t *testing.T, name string) []*backend.HistoryEvent {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "history", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	events := make([]*backend.HistoryEvent, len(items))
	for i, item := range items {
		events[i] = &backend.HistoryEvent{}
		if err := protojson.Unmarshal(item, events[i]); err != nil {
			t.Fatalf("%s event %d: %v", name, i, err)
		}
	}
	return events
}

// isAction reports whether a history event records something the
// orchestrator did, rather than something that happened to it.
func isAction(e *backend.HistoryEvent) bool {
	return e.GetTaskScheduled() != nil || e.GetTimerCreated() != nil || e.GetExecutionCompleted() != nil
}

// actionsOf and describeEvent name an action and the history event it
// leaves behind in the same words, so a replay can be compared to the
// recording. An activity's input is left out: a replay matches scheduled
// activities to the recording by position and name only, so new input
// fields do not affect approvals already waiting, whose inputs are recorded.
func actionsOf(res *backend.ExecutionResults) []string {
	var out []string
	for _, a := range byID(res.Response.GetActions()) {
		switch {
		case a.GetScheduleTask() != nil:
			out = append(out, "schedule "+a.GetScheduleTask().GetName())
		case a.GetCreateTimer() != nil:
			out = append(out, "timer "+a.GetCreateTimer().GetFireAt().AsTime().Format(time.RFC3339Nano))
		case a.GetCompleteOrchestration() != nil:
			c := a.GetCompleteOrchestration()
			out = append(out, "complete "+c.GetOrchestrationStatus().String()+" "+c.GetResult().GetValue())
		default:
			out = append(out, "other "+a.String())
		}
	}
	return out
}

// byID orders one execution's actions as the orchestrator took them:
// durabletask-go returns them in map order.
func byID[A interface{ GetId() int32 }](actions []A) []A {
	return slices.SortedStableFunc(slices.Values(actions), func(a, b A) int { return cmp.Compare(a.GetId(), b.GetId()) })
}

func describeEvent(e *backend.HistoryEvent) string {
	switch {
	case e.GetTaskScheduled() != nil:
		return "schedule " + e.GetTaskScheduled().GetName()
	case e.GetTimerCreated() != nil:
		return "timer " + e.GetTimerCreated().GetFireAt().AsTime().Format(time.RFC3339Nano)
	case e.GetExecutionCompleted() != nil:
		c := e.GetExecutionCompleted()
		return "complete " + c.GetOrchestrationStatus().String() + " " + c.GetResult().GetValue()
	}
	return "other " + e.String()
}

type step struct {
	old, new []*backend.HistoryEvent
	actions  []string
	status   string
}

// replay runs today's orchestrator over a recorded history one execution at
// a time, as the worker would after a restart, and checks that every step
// does what the recording says it did.
func replay(t *testing.T, id string, history []*backend.HistoryEvent) []step {
	t.Helper()
	r := task.NewTaskRegistry()
	if err := approval.Register(r, approval.NewActivities("http://localhost:7071", testenv.Quiet())); err != nil {
		t.Fatal(err)
	}
	exec := task.NewTaskExecutor(r)
	var steps []step
	for i := 0; i < len(history); {
		if history[i].GetOrchestratorStarted() == nil {
			t.Fatalf("%s: event %d should start an execution: %v", id, i, history[i])
		}
		j := i + 1
		for j < len(history) && history[j].GetOrchestratorStarted() == nil {
			j++
		}
		var st step
		st.old = history[:i]
		var want []string
		for _, e := range history[i:j] {
			if isAction(e) {
				want = append(want, describeEvent(e))
			} else {
				st.new = append(st.new, e)
			}
		}
		res, err := exec.ExecuteOrchestrator(context.Background(), api.InstanceID(id), st.old, st.new)
		if err != nil {
			t.Fatalf("%s: replay of events %d-%d: %v", id, i, j, err)
		}
		st.actions = actionsOf(res)
		st.status = res.Response.GetCustomStatus().GetValue()
		if strings.Join(st.actions, "\n") != strings.Join(want, "\n") {
			t.Fatalf("%s: replay of events %d-%d diverges from the recording\n got: %q\nwant: %q", id, i, j, st.actions, want)
		}
		steps = append(steps, st)
		i = j
	}
	return steps
}

func TestReplayRecordedHistories(t *testing.T) {
	for _, c := range []struct{ name, final string }{
		{"approved", "ORCHESTRATION_STATUS_COMPLETED {\"request_id\":\"approved\",\"status\":\"Approved\""},
		{"rejected", "ORCHESTRATION_STATUS_COMPLETED {\"request_id\":\"rejected\",\"status\":\"Rejected\""},
	} {
		t.Run(c.name, func(t *testing.T) {
			steps := replay(t, c.name, loadHistory(t, c.name))
			last := steps[len(steps)-1].actions
			if len(last) != 1 || !strings.HasPrefix(last[0], "complete "+c.final) {
				t.Fatalf("last step = %q, want completion %s", last, c.final)
			}
		})
	}
}

// An approval whose deadline's timer fires under today's code replays up
// to that timer as recorded, then yields one step, so that decisions
// accepted before the deadline and delivered behind the timer still
// count, and then times out as it did.
func TestReplayTimeoutYieldsOneStep(t *testing.T) {
	history := loadHistory(t, "timeout")
	last := len(history) - 1
	for history[last].GetOrchestratorStarted() == nil {
		last--
	}
	replay(t, "timeout", history[:last])
	var batch []*backend.HistoryEvent
	for _, e := range history[last:] {
		if !isAction(e) {
			batch = append(batch, e)
		}
	}
	r := task.NewTaskRegistry()
	if err := approval.Register(r, approval.NewActivities("http://localhost:7071", testenv.Quiet())); err != nil {
		t.Fatal(err)
	}
	exec := task.NewTaskExecutor(r)
	res, err := exec.ExecuteOrchestrator(context.Background(), "timeout", history[:last], batch)
	if err != nil {
		t.Fatal(err)
	}
	at := approval.FormatTime(history[last].GetTimestamp().AsTime())
	if got := actionsOf(res); len(got) != 1 || got[0] != "timer "+at {
		t.Fatalf("at the deadline the orchestrator did %q, want one timer at %s", got, at)
	}
	// The yielded step: its timer fires, nothing else arrived.
	old := append(append([]*backend.HistoryEvent(nil), history[:last]...), batch...)
	var news []*backend.HistoryEvent
	for _, js := range []string{
		`{"eventId":-1,"timestamp":"` + at + `","orchestratorStarted":{}}`,
		`{"eventId":` + fmt.Sprint(res.Response.GetActions()[0].GetId()) + `,"timestamp":"` + at + `","timerCreated":{"fireAt":"` + at + `"}}`,
		`{"eventId":-1,"timestamp":"` + at + `","timerFired":{"fireAt":"` + at + `","timerId":` + fmt.Sprint(res.Response.GetActions()[0].GetId()) + `}}`,
	} {
		e := &backend.HistoryEvent{}
		if err := protojson.Unmarshal([]byte(js), e); err != nil {
			t.Fatal(err)
		}
		news = append(news, e)
	}
	old = append(old, news[1])
	res, err = exec.ExecuteOrchestrator(context.Background(), "timeout", old, []*backend.HistoryEvent{news[0], news[2]})
	if err != nil {
		t.Fatal(err)
	}
	want := `complete ORCHESTRATION_STATUS_COMPLETED {"request_id":"timeout","status":"Timeout","timed_out_at":"` + at + `"}`
	if got := actionsOf(res); len(got) != 1 || got[0] != want {
		t.Fatalf("after the yielded step: %q, want %s", got, want)
	}
}

// TestReplayWaitingApprovalDecides takes an approval that was waiting when
// the new code was deployed: its deadline is published as exactly the
// recorded timer, and a decision sent now is processed.
func TestReplayWaitingApprovalDecides(t *testing.T) {
	history := loadHistory(t, "waiting")
	steps := replay(t, "waiting", history)
	last := history[len(history)-1].GetTimerCreated()
	if last == nil {
		t.Fatal("the recording should end waiting on its timer")
	}
	var sub approval.Submission
	if err := json.Unmarshal([]byte(steps[len(steps)-1].status), &sub); err != nil {
		t.Fatalf("custom status %q: %v", steps[len(steps)-1].status, err)
	}
	if want := approval.FormatTime(last.GetFireAt().AsTime()); sub.ExpiresAt != want {
		t.Fatalf("published deadline %s, timer fires at %s", sub.ExpiresAt, want)
	}

	r := task.NewTaskRegistry()
	if err := approval.Register(r, approval.NewActivities("http://localhost:7071", testenv.Quiet())); err != nil {
		t.Fatal(err)
	}
	// The generated event types are internal to durabletask-go, so the new
	// events are written as the JSON the recordings use.
	now := approval.FormatTime(last.GetFireAt().AsTime().Add(-time.Hour))
	var news []*backend.HistoryEvent
	for _, js := range []string{
		`{"eventId":-1,"timestamp":"` + now + `","orchestratorStarted":{}}`,
		`{"eventId":-1,"timestamp":"` + now + `","eventRaised":{"name":"approval_response","input":"{\"is_approved\":true,\"approver\":\"bob\",\"comments\":\"fine\"}"}}`,
	} {
		e := &backend.HistoryEvent{}
		if err := protojson.Unmarshal([]byte(js), e); err != nil {
			t.Fatal(err)
		}
		news = append(news, e)
	}
	res, err := task.NewTaskExecutor(r).ExecuteOrchestrator(context.Background(), "waiting", history, news)
	if err != nil {
		t.Fatal(err)
	}
	actions := res.Response.GetActions()
	want := `{"request_id":"waiting","is_approved":true,"approver":"bob","comments":"fine"}`
	if len(actions) != 1 || actions[0].GetScheduleTask().GetName() != approval.ProcessActivityName ||
		actions[0].GetScheduleTask().GetInput().GetValue() != want {
		t.Fatalf("after a decision the waiting approval did %q, want process_approval with %s", actionsOf(res), want)
	}
}
