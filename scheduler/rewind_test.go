package scheduler

import (
	"context"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/approvals-go/approvals/dts"
	"github.com/approvals-go/approvals/dts/dtstest"
	"github.com/approvals-go/approvals/dts/mgmt"
)

// A rewind whose work item is abandoned after its state was loaded, before
// the worker ran it, leaves nothing of it behind in the store.
func TestAbandonedRewindLeavesNothing(t *testing.T) {
	bothStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		failedInstance(t, s, "f")
		if err := s.Rewind(ctx, "f", "again"); err != nil {
			t.Fatal(err)
		}
		wi := fetch(t, s, time.Second)
		if wi == nil || wi.InstanceID != "f" {
			t.Fatalf("the rewind's work item: %v", wi)
		}
		if _, err := s.GetOrchestrationRuntimeState(ctx, wi); err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		loaded := s.newer["f"] != nil
		s.mu.Unlock()
		if !loaded {
			t.Fatal("loading the rewind's state kept no history for the worker")
		}
		if err := s.AbandonOrchestrationWorkItem(ctx, wi); err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		left := len(s.newer)
		s.mu.Unlock()
		if left != 0 {
			t.Fatalf("an abandoned rewind left %d entries in s.newer", left)
		}
	})
}

// cannotRewind is a worker whose SDK cannot rewind: asked to, it fails the
// orchestration again with an error of its own, as durabletask-go v0.6.0's
// worker does on the events it does not know.
type cannotRewind struct {
	backend.Executor
	t     *testing.T
	mu    sync.Mutex
	calls int
	// rewindAsked is set when the worker was given the whole history with
	// an ExecutionRewound.
	rewindAsked bool
}

func (x *cannotRewind) ExecuteOrchestrator(_ context.Context, _ api.InstanceID, old, new []*backend.HistoryEvent) (*backend.ExecutionResults, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.calls++
	x.rewindAsked = slices.ContainsFunc(old, func(e *backend.HistoryEvent) bool { return e.GetExecutionCompleted() != nil }) &&
		slices.ContainsFunc(new, mgmt.IsExecutionRewound)
	res := dtstest.NewMessage(x.t, "OrchestratorResponse")
	if err := protojson.Unmarshal([]byte(`{"instanceId":"f","actions":[{"id":1,"completeOrchestration":{
		"orchestrationStatus":"ORCHESTRATION_STATUS_FAILED","failureDetails":{"errorType":"Error","errorMessage":"cannot rewind"}}}]}`), res.Interface()); err != nil {
		x.t.Error(err)
		return nil, err
	}
	out := &backend.ExecutionResults{}
	reflect.ValueOf(out).Elem().FieldByName("Response").Set(reflect.ValueOf(res.Interface()))
	return out, nil
}

func (x *cannotRewind) seen() (int, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.calls, x.rewindAsked
}

// A worker that cannot rewind, asked to by newerExecutor, fails the
// orchestration again: the instance ends Failed with the worker's error,
// its history holds one ExecutionCompleted, and it is not offered again.
func TestRewindByWorkerThatCannotRewind(t *testing.T) {
	bothStores(t, func(t *testing.T, s *Store) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		failedInstance(t, s, "f")
		if err := s.Rewind(ctx, "f", "again"); err != nil {
			t.Fatal(err)
		}
		worker := &cannotRewind{t: t}
		w := backend.NewOrchestrationWorker(s, newerExecutor{worker, s}, dts.Logger(s.log))
		w.Start(ctx)
		defer w.StopAndDrain()

		deadline := time.Now().Add(5 * time.Second)
		var in *mgmt.Instance
		for {
			var err error
			in, err = s.reader.Instance(ctx, "f", false)
			if err != nil {
				t.Fatal(err)
			}
			if in.RuntimeStatus == api.RUNTIME_STATUS_FAILED || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond) // time to offer it again, were it offered
		in, err := s.reader.Instance(ctx, "f", true)
		if err != nil || in.RuntimeStatus != api.RUNTIME_STATUS_FAILED || in.FailureDetails.GetErrorMessage() != "cannot rewind" {
			t.Fatalf("after the worker did not rewind: %+v %v", in, err)
		}
		if calls, asked := worker.seen(); calls != 1 || !asked {
			t.Fatalf("the worker ran %d times (asked to rewind: %v), want once, asked", calls, asked)
		}
		history, err := s.reader.History(ctx, "f", "")
		if err != nil {
			t.Fatal(err)
		}
		completions := 0
		for _, e := range history {
			if e.GetExecutionCompleted() != nil {
				completions++
			}
		}
		if completions != 1 || history[len(history)-1].GetExecutionCompleted() == nil {
			t.Fatalf("history after the failed rewind has %d ExecutionCompleted: %v", completions, history)
		}
	})
}
