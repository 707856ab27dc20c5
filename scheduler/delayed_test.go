package scheduler

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// startInstanceAt starts id as a client does with a start time.
func startInstanceAt(t *testing.T, s *Store, id string, at time.Time) {
	t.Helper()
	e := event(t, `{"eventId":-1,"timestamp":"2026-01-01T00:00:00Z","executionStarted":{"name":"o","orchestrationInstance":{"instanceId":"`+id+`","executionId":"exec-`+id+`"},"scheduledStartTimestamp":"`+at.UTC().Format(time.RFC3339Nano)+`"}}`)
	if err := s.CreateOrchestrationInstance(context.Background(), e); err != nil {
		t.Fatal(err)
	}
}

func terminateEvent(t *testing.T, reason string) *backend.HistoryEvent {
	return event(t, `{"eventId":-1,"timestamp":"2026-01-01T00:00:00Z","executionTerminated":{"input":"`+reason+`"}}`)
}

// reopen closes a file store and opens it again, as a restart of the
// scheduler does.
func reopen(t *testing.T, s *Store, path string) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return openStore(t, path)
}

// storeCase is a store a test runs on: in memory, on a file at path, and
// on a file that the test reopens (see reopen) where restart says.
type storeCase struct {
	file, restart bool
	path          string
}

// acrossRestarts runs test on a store in memory, on a file, and on a file
// reopened midway, as what a scheduler keeps must survive its restart.
func acrossRestarts(t *testing.T, test func(t *testing.T, s *Store, c storeCase)) {
	for _, c := range []struct {
		name string
		storeCase
	}{{"memory", storeCase{}}, {"file", storeCase{file: true}}, {"file after restart", storeCase{file: true, restart: true}}} {
		t.Run(c.name, func(t *testing.T) {
			if c.file {
				c.path = filepath.Join(t.TempDir(), "s.db")
			}
			test(t, openStore(t, c.path), c.storeCase)
		})
	}
}

// Events for an instance whose start is ahead wait for it, also across a
// restart, and are delivered after the start once it is due: an event
// delivered alone would be run as an execution of nothing, and the start
// that came later would be dropped as an invalid state.
func TestEventsWaitForADelayedStart(t *testing.T) {
	acrossRestarts(t, func(t *testing.T, s *Store, c storeCase) {
		at := time.Now().Add(400 * time.Millisecond)
		startInstanceAt(t, s, "later", at)
		ctx := context.Background()
		if err := s.AddNewOrchestrationEvent(ctx, "later", raised(t)); err != nil {
			t.Fatal(err)
		}
		if err := s.AddNewOrchestrationEvent(ctx, "later", event(t, `{"eventId":-1,"timestamp":"2026-01-01T00:00:00Z","executionSuspended":{}}`)); err != nil {
			t.Fatal(err)
		}
		if c.restart {
			s = reopen(t, s, c.path)
		}
		if early := fetch(t, s, 100*time.Millisecond); early != nil {
			t.Fatalf("before its start time the instance was given %v", kinds(early))
		}
		wi := fetch(t, s, 5*time.Second)
		if wi == nil {
			t.Fatal("the instance was not offered at its start time")
		}
		if time.Now().Before(at) {
			t.Fatalf("offered %v before its start time", time.Until(at))
		}
		if got := kinds(wi); len(got) != 3 || got[0] != "started" || got[1] != "raised" || got[2] != "other" {
			t.Fatalf("delivered %v, want the start, then the event and the suspend in the order they came", got)
		}
		checkRows(t, s)
	})
}

// The start of a sub-orchestration comes before an event raised for it
// that the scheduler accepted earlier (accepted before the parent's
// execution was saved, written after).
func TestStartIsDeliveredFirst(t *testing.T) {
	s := openStore(t, "")
	now := time.Now()
	err := s.write(context.Background(), func(ctx context.Context, tx *txn) (func(time.Time), error) {
		start, err := backend.MarshalHistoryEvent(event(t, `{"eventId":-1,"timestamp":"2026-01-01T00:00:00Z","executionStarted":{"name":"o","orchestrationInstance":{"instanceId":"child"}}}`))
		if err != nil {
			return nil, err
		}
		ev, err := backend.MarshalHistoryEvent(raised(t))
		if err != nil {
			return nil, err
		}
		sref, err := insertInbox(ctx, tx, "child", inboxRef{dueAt: now, isStart: true}, start)
		if err != nil {
			return nil, err
		}
		eref, err := insertInbox(ctx, tx, "child", inboxRef{dueAt: now.Add(-time.Second)}, ev)
		return func(now time.Time) { s.addEventLocked("child", sref, now); s.addEventLocked("child", eref, now) }, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(fetch(t, s, time.Second)); len(got) != 2 || got[0] != "started" || got[1] != "raised" {
		t.Fatalf("delivered %v, want [started raised]", got)
	}
}

// A terminate for an instance whose start is ahead ends it at once, also
// after a restart: Terminated with the reason as its output, a history
// that starts it and ends it, nothing left to run, and it can be purged.
func TestTerminateBeforeADelayedStart(t *testing.T) {
	acrossRestarts(t, func(t *testing.T, s *Store, c storeCase) {
		ctx := context.Background()
		startInstanceAt(t, s, "doomed", time.Now().Add(time.Hour))
		if err := s.AddNewOrchestrationEvent(ctx, "doomed", raised(t)); err != nil {
			t.Fatal(err)
		}
		if c.restart {
			s = reopen(t, s, c.path)
		}
		if err := s.AddNewOrchestrationEvent(ctx, "doomed", terminateEvent(t, "not wanted")); err != nil {
			t.Fatal(err)
		}
		in, err := s.reader.Instance(ctx, "doomed", true)
		if err != nil {
			t.Fatal(err)
		}
		if in.RuntimeStatus != api.RUNTIME_STATUS_TERMINATED || in.CompletedAt.IsZero() || in.SerializedOutput != "not wanted" || in.ExecutionID != "exec-doomed" {
			t.Fatalf("after terminate: %+v", in)
		}
		h, err := s.reader.history(ctx, "doomed")
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 4 || h[0].GetOrchestratorStarted() == nil || h[1].GetExecutionStarted() == nil || h[2].GetExecutionTerminated() == nil ||
			h[3].GetExecutionCompleted().GetOrchestrationStatus() != api.RUNTIME_STATUS_TERMINATED || h[3].GetExecutionCompleted().GetResult().GetValue() != "not wanted" {
			t.Fatalf("history after terminate: %v", h)
		}
		if n := inboxRows(t, s, "doomed"); n != 0 {
			t.Fatalf("%d events still wait for the terminated instance", n)
		}
		if wi := fetch(t, s, 100*time.Millisecond); wi != nil {
			t.Fatalf("a terminated instance was offered: %v", kinds(wi))
		}
		checkRows(t, s)
		if err := s.PurgeOrchestrationState(ctx, "doomed"); err != nil {
			t.Fatalf("purge: %v", err)
		}
		if c.file {
			s = reopen(t, s, c.path)
			if wi := fetch(t, s, 100*time.Millisecond); wi != nil {
				t.Fatalf("a purged instance was offered after a restart: %v", kinds(wi))
			}
		}
	})
}

// A terminate for an instance whose start is due goes to the worker with
// the start, as for any instance under way.
func TestTerminateAfterTheStartTimeIsDelivered(t *testing.T) {
	s := openStore(t, "")
	ctx := context.Background()
	startInstanceAt(t, s, "due", time.Now().Add(-time.Millisecond))
	if err := s.AddNewOrchestrationEvent(ctx, "due", terminateEvent(t, "x")); err != nil {
		t.Fatal(err)
	}
	if st, err := s.reader.status(ctx, "due"); err != nil || st != api.RUNTIME_STATUS_PENDING {
		t.Fatalf("status %v %v, want Pending until a worker runs it", st, err)
	}
	if got := kinds(fetch(t, s, time.Second)); len(got) != 2 || got[0] != "started" || got[1] != "other" {
		t.Fatalf("delivered %v, want the start and the terminate", got)
	}
}

// An execution whose history would lack ExecutionStarted is not saved: its
// row would say Pending beside a completion.
func TestHistoryWithoutStartIsRefused(t *testing.T) {
	s := openStore(t, "")
	startInstance(t, s, "i")
	wi := fetch(t, s, time.Second)
	wi.State = backend.NewOrchestrationRuntimeState(wi.InstanceID, nil)
	for _, e := range []*backend.HistoryEvent{orchestratorStarted(), terminateEvent(t, "x"), terminated(terminateEvent(t, "x"))} {
		if err := wi.State.AddEvent(e); err != nil {
			t.Fatal(err)
		}
	}
	err := s.CompleteOrchestrationWorkItem(context.Background(), wi)
	if err == nil || errors.Is(err, backend.ErrWorkItemLockLost) {
		t.Fatalf("completing a history without ExecutionStarted: %v, want refused", err)
	}
	checkRows(t, s)
	if err := s.AbandonOrchestrationWorkItem(context.Background(), wi); err != nil {
		t.Fatal(err)
	}
}

// applyAction applies an orchestrator action, given as protojson, to st.
// durabletask-go's action type is internal to it, so it is reached
// through ApplyActions' signature.
func applyAction(t *testing.T, st *backend.OrchestrationRuntimeState, js string) {
	t.Helper()
	apply := reflect.ValueOf(st.ApplyActions)
	actions := apply.Type().In(0)
	action := reflect.New(actions.Elem().Elem())
	if err := protojson.Unmarshal([]byte(js), action.Interface().(proto.Message)); err != nil {
		t.Fatal(err)
	}
	out := apply.Call([]reflect.Value{reflect.Append(reflect.MakeSlice(actions, 0, 1), action), reflect.Zero(apply.Type().In(1))})
	if err, _ := out[1].Interface().(error); err != nil {
		t.Fatal(err)
	}
}

// An orchestration that terminates an instance whose start is ahead (an
// SDK's TerminateOrchestration action) ends it at once too.
func TestOrchestrationTerminatesADelayedInstance(t *testing.T) {
	s := openStore(t, "")
	ctx := context.Background()
	startInstanceAt(t, s, "later", time.Now().Add(time.Hour))
	startInstance(t, s, "src")
	wi := fetch(t, s, time.Second)
	if wi == nil || wi.InstanceID != "src" {
		t.Fatalf("work item %v, want src", wi)
	}
	withState(wi)
	applyAction(t, wi.State, `{"id":0,"terminateOrchestration":{"instanceId":"later","reason":"by src"}}`)
	if err := s.CompleteOrchestrationWorkItem(ctx, wi); err != nil {
		t.Fatal(err)
	}
	in, err := s.reader.Instance(ctx, "later", true)
	if err != nil || in.RuntimeStatus != api.RUNTIME_STATUS_TERMINATED || in.SerializedOutput != "by src" {
		t.Fatalf("later after src terminated it: %+v %v", in, err)
	}
	if wi := fetch(t, s, 100*time.Millisecond); wi != nil {
		t.Fatalf("offered %s %v after the termination", wi.InstanceID, kinds(wi))
	}
	checkRows(t, s)
}
