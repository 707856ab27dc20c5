package approval_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"

	"github.com/approvals-go/approvals/approval"
)

// On the real scheduler and worker: stage 1 ends early, leaving its
// reminder's timer behind, which fires while stage 2 waits. Stage 2 must
// neither end nor go deaf then: a decision after it decides at once, not
// at stage 2's deadline.
func TestStageTwoOutlivesStageOnesTimers(t *testing.T) {
	e := start(t)
	req := approval.Request{RequestID: "stray", Requester: "ana", Item: "car", Stages: []approval.Stage{
		{Name: "manager", Approvers: []string{"bob"}, TimeoutHours: hours(3 * time.Second), RemindEvery: "1s"},
		{Name: "finance", Approvers: []string{"carol"}, TimeoutHours: hours(30 * time.Second)},
	}}
	began := time.Now()
	e.startApproval(t, "stray", req)
	e.waitPending(t, "stray")
	e.raise(t, "stray", approval.Decision{IsApproved: ptr(true), Approver: ptr("bob"), Stage: 1})
	// Past stage 1's reminder and deadline, both before stage 2's.
	time.Sleep(time.Until(began.Add(3500 * time.Millisecond)))
	md, err := e.client.FetchOrchestrationMetadata(context.Background(), "stray")
	if err != nil {
		t.Fatal(err)
	}
	var sub approval.Submission
	if err := json.Unmarshal([]byte(md.SerializedCustomStatus), &sub); err != nil {
		t.Fatal(err)
	}
	if md.RuntimeStatus != api.RUNTIME_STATUS_RUNNING || sub.Stage != 2 {
		t.Fatalf("after stage 1's timers: %v, %+v", md.RuntimeStatus, sub)
	}
	sent := time.Now()
	e.raise(t, "stray", approval.Decision{IsApproved: ptr(true), Approver: ptr("carol"), Stage: 2})
	_, out := e.outcome(t, "stray")
	if out.Status != approval.StatusApproved || len(out.Stages) != 2 {
		t.Fatalf("outcome = %+v", out)
	}
	if took := time.Since(sent); took > 5*time.Second {
		t.Fatalf("stage 2's decision took %s to count: its wait was deaf", took)
	}
}
