package approval

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/microsoft/durabletask-go/api"
)

// State is an approval as it stands, read from its orchestration: the one
// read model that the JSON API and every page render, so that nothing else
// decodes the scheduler's strings.
type State struct {
	ID     string
	Status Status
	// Request is the orchestration input with the defaults applied.
	Request       Request
	CreatedAt     time.Time
	LastUpdatedAt time.Time
	// SubmittedAt, ExpiresAt and ApprovalURL are zero until the request
	// has been submitted to its approver.
	SubmittedAt time.Time
	ExpiresAt   time.Time
	ApprovalURL string
	// DeadlineDerived says ExpiresAt is worked out from the submission and
	// the timeout, because the workflow did not publish it (a worker
	// keeping the sample's contract): a moment early, never late.
	DeadlineDerived bool
	// Progress is what the orchestrator published while waiting:
	// decisions recorded so far, the approvers as escalation has left them,
	// reminders sent. Empty for requests of the sample's shape.
	Progress Submission
	// Result is the outcome once there is one.
	Result *Outcome
	// Error says why an approval ended without an outcome: what failed
	// when it Failed, the reason given (if any) when it was Terminated.
	Error string
}

// StateOf reads an approval from its orchestration's metadata. ok is false
// when the instance is not an approval.
func StateOf(md *api.OrchestrationMetadata) (st State, ok bool) {
	if md == nil || md.Name != OrchestratorName {
		return State{}, false
	}
	st = State{ID: string(md.InstanceID), Status: StatusPending, CreatedAt: md.CreatedAt, LastUpdatedAt: md.LastUpdatedAt}
	if json.Unmarshal([]byte(md.SerializedInput), &st.Request) == nil && st.Request.TimeoutHours == nil {
		h := DefaultTimeoutHours
		st.Request.TimeoutHours = &h
	}
	var sub Submission
	if json.Unmarshal([]byte(md.SerializedCustomStatus), &sub) == nil && sub.SubmittedAt != "" {
		st.Progress = sub
		st.ApprovalURL = sub.ApprovalURL
		st.SubmittedAt, _ = time.Parse(time.RFC3339Nano, sub.SubmittedAt)
		if at, err := time.Parse(time.RFC3339Nano, sub.ExpiresAt); err == nil {
			st.ExpiresAt = at
		} else {
			// Not published (a worker keeping the sample's contract): its
			// timer started a moment after the submission, or after the
			// creation when the submission's time does not read as RFC
			// 3339, so this errs early, on the side of refusing.
			from := st.SubmittedAt
			if from.IsZero() {
				from = st.CreatedAt
			}
			st.ExpiresAt, st.DeadlineDerived = from.Add(st.Request.Timeout()), true
		}
	}
	switch md.RuntimeStatus {
	case api.RUNTIME_STATUS_COMPLETED:
		var out Outcome
		if err := json.Unmarshal([]byte(md.SerializedOutput), &out); err != nil || out.Status == "" {
			st.Status, st.Error = StatusFailed, "the approval finished without a readable outcome"
			break
		}
		st.Status, st.Result = out.Status, &out
	case api.RUNTIME_STATUS_TERMINATED:
		st.Status, st.Error = StatusTerminated, terminationReason(md.SerializedOutput)
	case api.RUNTIME_STATUS_FAILED, api.RUNTIME_STATUS_CANCELED:
		st.Status = StatusFailed
		st.Error = "the workflow failed without details"
		if msg := md.FailureDetails.GetErrorMessage(); msg != "" {
			st.Error = msg
		}
	}
	return st, true
}

// terminationReason is the reason a terminated orchestration was given,
// which the scheduler records as its output: a JSON string as the SDKs
// and the dashboard send it, or any other value as it is. Empty when none
// was given.
func terminationReason(output string) string {
	var reason string
	if json.Unmarshal([]byte(output), &reason) == nil {
		return strings.TrimSpace(reason)
	}
	return strings.TrimSpace(output)
}

// Deciders are the people who may decide now: the request's approvers,
// and those an escalation has brought in.
func (s State) Deciders() []string {
	if len(s.Progress.Approvers) > 0 {
		return s.Progress.Approvers
	}
	return s.Request.Deciders()
}

// StillToDecide are the deciders who have not decided yet, under a policy
// that counts several decisions: who the approval waits for.
func (s State) StillToDecide() []string {
	return Tally{Deciders: s.Deciders(), Votes: s.Progress.Decisions}.Pending()
}

// Submitted reports whether the workflow has published its submission,
// whether or not its time reads as RFC 3339: the sample's is the worker's
// local time without a zone, so SubmittedAt stays zero while the request
// has been sent all the same.
func (s State) Submitted() bool { return s.Progress.SubmittedAt != "" }

// Supports reports whether the approval's workflow said it supports f.
func (s State) Supports(f Feature) bool { return slices.Contains(s.Progress.Features, f) }

// Pending reports whether the approval still waits for a decision.
func (s State) Pending() bool { return s.Status == StatusPending }

// Expired reports whether the deadline has passed at now. Until the request
// is submitted the deadline is not known, and it has not passed: it lies a
// whole timeout after the submission.
func (s State) Expired(now time.Time) bool {
	return !s.ExpiresAt.IsZero() && !now.Before(s.ExpiresAt)
}

// Decided reports whether the outcome is the decision d: the same verdict,
// by the same person, with the same comments when the worker that recorded
// it echoes comments (the sample's own process_approval does not, and then
// who and which verdict are all there is to compare); under a policy,
// whether d is among the decisions the outcome recorded. It is how a
// decision sent twice is told from a different one.
func (o Outcome) Decided(d Decision) bool {
	sameComments := o.commentsUnknown || o.Comments == d.Comments
	if d.Action == ActionRequestChanges || d.Action == ActionResubmit {
		return false // a round, never an outcome
	}
	if d.Action == ActionWithdraw {
		return o.Status == StatusWithdrawn && d.Approver != nil && SamePerson(o.Approver, *d.Approver) && sameComments
	}
	if len(o.Decisions) > 0 {
		return Tally{Votes: votesFor(o.Decisions, d)}.Holds(d)
	}
	in := d.processInput(o.RequestID)
	want := StatusRejected
	if in.IsApproved {
		want = StatusApproved
	}
	return o.Status == want && SamePerson(o.Approver, in.Approver) && sameComments
}

// UnmarshalJSON reads an outcome as any worker of the contract records it,
// noting whether it says what the comments were.
func (o *Outcome) UnmarshalJSON(b []byte) error {
	type plain Outcome
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return err
	}
	_, echoed := fields["comments"]
	*o = Outcome(p)
	o.commentsUnknown = !echoed
	return nil
}

// Statuses are all the statuses, in the order an approval moves through
// them.
var Statuses = []Status{StatusPending, StatusApproved, StatusRejected, StatusTimeout, StatusWithdrawn, StatusTerminated, StatusFailed}

// ParseStatus reads a status by name, in any case.
func ParseStatus(name string) (Status, bool) {
	for _, s := range Statuses {
		if strings.EqualFold(name, string(s)) {
			return s, true
		}
	}
	return "", false
}

// RuntimeStatuses are the orchestration statuses in which StateOf reads an
// approval as s: what to ask the scheduler for when looking for approvals
// in s. A completed orchestration is read as any final status, since its
// output says which, so the caller still checks each State's Status.
func (s Status) RuntimeStatuses() []api.OrchestrationStatus {
	switch s {
	case StatusPending:
		return []api.OrchestrationStatus{api.RUNTIME_STATUS_PENDING, api.RUNTIME_STATUS_RUNNING,
			api.RUNTIME_STATUS_SUSPENDED, api.RUNTIME_STATUS_CONTINUED_AS_NEW}
	case StatusTerminated:
		return []api.OrchestrationStatus{api.RUNTIME_STATUS_TERMINATED}
	case StatusFailed:
		return []api.OrchestrationStatus{api.RUNTIME_STATUS_COMPLETED, api.RUNTIME_STATUS_FAILED,
			api.RUNTIME_STATUS_CANCELED}
	case StatusApproved, StatusRejected, StatusTimeout, StatusWithdrawn:
		return []api.OrchestrationStatus{api.RUNTIME_STATUS_COMPLETED}
	}
	return nil
}
