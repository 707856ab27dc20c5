package approval

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/microsoft/durabletask-go/task"
)

// Notifier tells an approver that a request is waiting for them. It is where
// an e-mail, a Teams card or a ticket would be sent.
type Notifier interface {
	NotifyApprover(ctx context.Context, req Request, approvalURL string) error
}

// Recorder keeps the final outcome of an approval, for example in a ledger or
// an audit log.
type Recorder interface {
	RecordOutcome(ctx context.Context, out Outcome) error
}

// LogNotifier is the default Notifier: it logs the link an approver would
// follow.
type LogNotifier struct{ Logger *slog.Logger }

// NotifyApprover implements Notifier.
func (n LogNotifier) NotifyApprover(ctx context.Context, req Request, approvalURL string) error {
	n.Logger.InfoContext(ctx, "approval requested",
		"request_id", req.RequestID, "requester", req.Requester, "item", req.Item,
		"approver", req.Approver, "approval_url", approvalURL)
	return nil
}

// LogRecorder is the default Recorder: it logs the outcome.
type LogRecorder struct{ Logger *slog.Logger }

// RecordOutcome implements Recorder.
func (r LogRecorder) RecordOutcome(ctx context.Context, out Outcome) error {
	r.Logger.InfoContext(ctx, "approval processed",
		"request_id", out.RequestID, "status", out.Status, "approver", out.Approver, "comments", out.Comments)
	return nil
}

// Activities holds what the two activities need from the outside world.
type Activities struct {
	// BaseURL is where the HTTP API is reached; approval links point at
	// BaseURL/api/approvals/{id}.
	BaseURL  string
	Notifier Notifier
	Recorder Recorder
	// Now is the clock; nil means time.Now. Activities, unlike the
	// orchestrator, may read the wall clock.
	Now func() time.Time
}

// NewActivities returns activities that log notifications and outcomes.
func NewActivities(baseURL string, logger *slog.Logger) *Activities {
	return &Activities{BaseURL: baseURL, Notifier: LogNotifier{logger}, Recorder: LogRecorder{logger}}
}

func (a *Activities) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// ApprovalURL is the link an approver follows to see and decide a request.
func (a *Activities) ApprovalURL(requestID string) string {
	return a.BaseURL + "/api/approvals/" + url.PathEscape(requestID)
}

// SubmitApprovalRequest is the submit_approval_request activity.
func (a *Activities) SubmitApprovalRequest(ctx task.ActivityContext) (any, error) {
	var req Request
	if err := ctx.GetInput(&req); err != nil {
		return nil, fmt.Errorf("read %s input: %w", SubmitActivityName, err)
	}
	link := a.ApprovalURL(req.RequestID)
	if err := a.Notifier.NotifyApprover(ctx.Context(), req, link); err != nil {
		return nil, fmt.Errorf("notify approver of %s: %w", req.RequestID, err)
	}
	return Submission{RequestID: req.RequestID, Status: StatusPending, SubmittedAt: FormatTime(a.now()), ApprovalURL: link}, nil
}

// ProcessApproval is the process_approval activity.
func (a *Activities) ProcessApproval(ctx task.ActivityContext) (any, error) {
	var in ProcessInput
	if err := ctx.GetInput(&in); err != nil {
		return nil, fmt.Errorf("read %s input: %w", ProcessActivityName, err)
	}
	out := Outcome{RequestID: in.RequestID, Status: StatusRejected, ProcessedAt: FormatTime(a.now()), Approver: in.Approver, Comments: in.Comments}
	if in.IsApproved {
		out.Status = StatusApproved
	}
	if err := a.Recorder.RecordOutcome(ctx.Context(), out); err != nil {
		return nil, fmt.Errorf("record outcome of %s: %w", in.RequestID, err)
	}
	return out, nil
}
