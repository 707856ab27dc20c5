package approval

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/microsoft/durabletask-go/task"
)

// Register adds the orchestrator and both activities to r under their wire
// names. Explicit names keep the contract independent of Go identifiers.
func Register(r *task.TaskRegistry, acts *Activities) error {
	if err := r.AddOrchestratorN(OrchestratorName, Orchestrate); err != nil {
		return fmt.Errorf("register %s: %w", OrchestratorName, err)
	}
	if err := r.AddActivityN(SubmitActivityName, acts.SubmitApprovalRequest); err != nil {
		return fmt.Errorf("register %s: %w", SubmitActivityName, err)
	}
	if err := r.AddActivityN(ProcessActivityName, acts.ProcessApproval); err != nil {
		return fmt.Errorf("register %s: %w", ProcessActivityName, err)
	}
	return nil
}

// Orchestrate is the human_interaction_orchestrator: submit the request, wait
// for a decision or the timeout, whichever comes first, then process it.
//
// It is replayed from history, so it reads time only from the orchestration
// context and performs no I/O of its own.
func Orchestrate(ctx *task.OrchestrationContext) (any, error) {
	var req Request
	if err := ctx.GetInput(&req); err != nil {
		return nil, fmt.Errorf("read approval request: %w", err)
	}
	if req.RequestID == "" {
		req.RequestID = string(ctx.ID)
	}

	var sub Submission
	// The submit input is the request itself: approvers to tell, and the
	// timeout their links expire with.
	if err := ctx.CallActivity(SubmitActivityName, task.WithActivityInput(req)).Await(&sub); err != nil {
		return nil, fmt.Errorf("submit approval request: %w", err)
	}
	// WaitForSingleEvent sets its timer to the orchestration's current time
	// plus the timeout, read in this same step, so this is the very instant
	// the timer fires: the API refuses decisions from then on. The history
	// is unchanged by publishing it, so approvals already waiting replay.
	sub.ExpiresAt = FormatTime(ctx.CurrentTimeUtc.Add(req.Timeout()))
	status, err := json.Marshal(sub)
	if err != nil {
		return nil, fmt.Errorf("encode custom status: %w", err)
	}
	ctx.SetCustomStatus(string(status))

	// WaitForSingleEvent's timer is never cancelled, so await it at once:
	// the first of event and timer decides the outcome.
	var decision Decision
	err = ctx.WaitForSingleEvent(DecisionEventName, req.Timeout()).Await(&decision)
	if errors.Is(err, task.ErrTaskCanceled) {
		return Outcome{RequestID: req.RequestID, Status: StatusTimeout, TimedOutAt: FormatTime(ctx.CurrentTimeUtc)}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("wait for %s: %w", DecisionEventName, err)
	}

	var out Outcome
	if err := ctx.CallActivity(ProcessActivityName, task.WithActivityInput(decision.processInput(req.RequestID))).Await(&out); err != nil {
		return nil, fmt.Errorf("process approval: %w", err)
	}
	return out, nil
}

// processInput applies the sample's defaults: a decision that does not say
// it approves is a rejection, and an unnamed approver is "Unknown".
func (d Decision) processInput(requestID string) ProcessInput {
	in := ProcessInput{RequestID: requestID, Approver: UnknownApprover, Comments: d.Comments}
	if d.IsApproved != nil {
		in.IsApproved = *d.IsApproved
	}
	if d.Approver != nil {
		in.Approver = *d.Approver
	}
	return in
}
