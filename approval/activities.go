package approval

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/microsoft/durabletask-go/task"
)

// Notifier tells an approver that a request is waiting for them. It is where
// an e-mail, a Teams card or a ticket would be sent.
type Notifier interface {
	NotifyApprover(ctx context.Context, n Notice) error
}

// Notice is one notification: a request, the person told about it, and the
// link they follow to decide.
type Notice struct {
	Request Request
	Kind    NoticeKind
	// Approver is who is told; empty when the request names nobody and
	// anyone but the requester may decide.
	Approver string
	// ExpiresAt is when the link, and the approval, expire.
	ExpiresAt time.Time
	// Occasion tells apart notices of the same kind to the same person,
	// such as the second reminder from the first.
	Occasion int
	// URL opens the review page. When Signed, it is a link signed for
	// Approver: whoever holds it may decide as them, so it is a secret.
	URL    string
	Signed bool
	// ActingFor is the approver a delegate is asked to decide for;
	// Delegates, on a NoticeDelegated, who was asked for Approver.
	ActingFor string
	Delegates []string
}

// Recorder keeps the final outcome of an approval, for example in a ledger or
// an audit log.
type Recorder interface {
	RecordOutcome(ctx context.Context, out Outcome) error
}

// LogNotifier is the default Notifier: it logs the link an approver would
// follow.
type LogNotifier struct{ Logger *slog.Logger }

// NotifyApprover implements Notifier. A signed link is not logged: it is a
// credential for its approver, and logs are read by many.
func (n LogNotifier) NotifyApprover(ctx context.Context, note Notice) error {
	req := note.Request
	link := note.URL
	if note.Signed {
		link = ReviewURL("", req.RequestID) + " (signed link withheld from the log)"
	}
	kind := note.Kind
	if kind == "" {
		kind = NoticeRequest
	}
	attrs := []any{"request_id", req.RequestID, "kind", kind, "occasion", note.Occasion, "requester", req.Requester, "item", req.Item,
		"approver", note.Approver, "approval_url", link}
	if note.ActingFor != "" {
		attrs = append(attrs, "acting_for", note.ActingFor)
	}
	if len(note.Delegates) > 0 {
		attrs = append(attrs, "delegates", strings.Join(note.Delegates, ", "))
	}
	n.Logger.InfoContext(ctx, "approval requested", attrs...)
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
	// its review page, BaseURL/api/review/{id}.
	BaseURL  string
	Notifier Notifier
	// Delivery is how hard each notice is tried on each channel; zero
	// fields take DefaultDelivery's.
	Delivery Delivery
	Recorder Recorder
	// Links signs each approver's link; nil sends the plain page link.
	Links *LinkSigner
	// Callbacks delivers outcomes to callback URLs.
	Callbacks CallbackSender
	// Delegations, when set, sends approvers' delegates their notices
	// too (see delegateNotices).
	Delegations DelegationReader
	Logger      *slog.Logger
	// Now is the clock; nil means time.Now. Activities, unlike the
	// orchestrator, may read the wall clock.
	Now func() time.Time
	// Groups says who is in which group, so that groups' members are
	// told too (see groupNotices); nil tells nobody for a group.
	Groups *Directory
}

// NewActivities returns activities that log notifications and outcomes.
func NewActivities(baseURL string, logger *slog.Logger) *Activities {
	return &Activities{BaseURL: baseURL, Notifier: LogNotifier{logger}, Recorder: LogRecorder{logger}, Logger: logger}
}

func (a *Activities) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// SubmitApprovalRequest is the submit_approval_request activity: it tells
// each approver, with a link signed for them when a key is configured. The
// published approval_url is always the plain page link, since anyone who
// can read the status can read it. A notice that cannot be delivered is
// logged, never a reason to fail the approval.
func (a *Activities) SubmitApprovalRequest(ctx task.ActivityContext) (any, error) {
	var in SubmitInput
	if err := ctx.GetInput(&in); err != nil {
		return nil, fmt.Errorf("read %s input: %w", SubmitActivityName, err)
	}
	req := in.Request
	now := a.now()
	sub := Submission{RequestID: req.RequestID, Status: StatusPending, SubmittedAt: FormatTime(now), ApprovalURL: ReviewURL(a.BaseURL, req.RequestID)}
	if in.DeferNotices {
		// The orchestrator sends them once the request is waiting.
		sub.NoticesDeferred = true
		return sub, nil
	}
	// Asked by an orchestrator from before notices were its own step. The
	// orchestrator's timer starts a moment after this, so a link expiring
	// at now+timeout lapses just before the approval does.
	a.deliverAll(ctx.Context(), a.notices(req, NoticeRequest, req.Deciders(), now.Add(req.Timeout())))
	return sub, nil
}

// ProcessApproval is the process_approval activity.
func (a *Activities) ProcessApproval(ctx task.ActivityContext) (any, error) {
	var in ProcessInput
	if err := ctx.GetInput(&in); err != nil {
		return nil, fmt.Errorf("read %s input: %w", ProcessActivityName, err)
	}
	out := Outcome{RequestID: in.RequestID, Status: StatusRejected, ProcessedAt: FormatTime(a.now()), Approver: in.Approver,
		Comments: in.Comments, Decisions: in.Decisions, ApproverIdentity: in.identity(), ApproverOID: in.ApproverOID,
		Channel: in.Channel, Auth: in.Auth, ActingFor: in.ActingFor, Trail: in.Trail}
	switch {
	case in.Withdrawn:
		out.Status = StatusWithdrawn
	case in.IsApproved:
		out.Status = StatusApproved
	}
	if err := a.Recorder.RecordOutcome(ctx.Context(), out); err != nil {
		return nil, fmt.Errorf("record outcome of %s: %w", in.RequestID, err)
	}
	return out, nil
}
