package approval

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/microsoft/durabletask-go/task"
)

// Names of the follow-up work, registered beside the sample's.
const (
	NotifyActivityName       = "notify_approvers"
	CallbackOrchestratorName = "approval_callback"
	CallbackActivityName     = "deliver_callback"
)

// SlowActivities are the activities that wait on systems outside the task
// hub (approvers' mail and chat, callback receivers), each for up to its
// deadlines: a worker runs them apart from those that decide approvals.
func SlowActivities() []string { return []string{NotifyActivityName, CallbackActivityName} }

// NoticeKind says why a notice is sent.
type NoticeKind string

// The kinds of notice; NoticeChanges and NoticeDelegated are beside the
// features that send them (changes.go, delegation_notices.go).
const (
	NoticeRequest    NoticeKind = "request"
	NoticeReminder   NoticeKind = "reminder"
	NoticeEscalation NoticeKind = "escalation"
)

// NotifyInput is the input of the notify activity: who to tell what.
type NotifyInput struct {
	Request   Request    `json:"request"`
	Kind      NoticeKind `json:"kind"`
	Approvers []string   `json:"approvers"`
	ExpiresAt string     `json:"expires_at"`
	// Occasion counts the notices of this kind: the reminder's number.
	Occasion int `json:"occasion,omitempty"`
	// Groups are the groups that still need approvals, whose members a
	// request's notice and a reminder also go to (see groupNotices), and
	// Voted who has decided already, who is not reminded. Both are empty
	// for a request without groups. An activity's input is not compared
	// on replay, so approvals already waiting replay as they were.
	Groups []string `json:"groups,omitempty"`
	Voted  []string `json:"voted,omitempty"`
	// Stage is the stage (from 1) the notice is for, in a request with
	// stages: whose own approvers decide as themselves, not as delegates.
	Stage int `json:"stage,omitempty"`
}

// noticeConcurrency bounds the notices of one activity in flight at once:
// a long list of approvers is told in parallel, without a connection per
// approver opened all at once.
const noticeConcurrency = 8

// NotifyApprovers is the notify_approvers activity: reminders and
// escalations. It never fails; what it cannot deliver it logs.
func (a *Activities) NotifyApprovers(ctx task.ActivityContext) (any, error) {
	var in NotifyInput
	if err := ctx.GetInput(&in); err != nil {
		return nil, fmt.Errorf("read %s input: %w", NotifyActivityName, err)
	}
	expires, err := time.Parse(time.RFC3339Nano, in.ExpiresAt)
	if err != nil {
		return nil, fmt.Errorf("read %s input: expires_at: %w", NotifyActivityName, err)
	}
	notices := a.notices(in.Request, in.Kind, in.Approvers, expires)
	if members := a.groupNotices(in, expires); len(members) > 0 {
		if len(in.Approvers) == 0 {
			// The one notice to nobody stood for the members.
			notices = nil
		}
		notices = append(notices, members...)
	}
	notices = append(notices, a.delegateNotices(ctx.Context(), in, expires, a.now())...)
	for i := range notices {
		notices[i].Occasion = in.Occasion
	}
	return a.deliverAll(ctx.Context(), notices), nil
}

// notices builds one notice per approver, each with a link signed for them
// when a key is configured; with nobody named, one notice with the plain
// page link.
func (a *Activities) notices(req Request, kind NoticeKind, to []string, expires time.Time) []Notice {
	page := ReviewURL(a.BaseURL, req.RequestID)
	if len(to) == 0 {
		return []Notice{{Request: req, Kind: kind, URL: page, ExpiresAt: expires}}
	}
	out := make([]Notice, 0, len(to))
	for _, who := range to {
		n := Notice{Request: req, Kind: kind, Approver: who, URL: page, ExpiresAt: expires}
		if a.Links != nil {
			n.URL, n.Signed = a.Links.SignedReviewURL(a.BaseURL, req.RequestID, who, expires), true
		}
		out = append(out, n)
	}
	return out
}

// deliverAll sends notices, noticeConcurrency at a time, and returns how
// many went out.
func (a *Activities) deliverAll(ctx context.Context, notices []Notice) int {
	var (
		sent  atomic.Int64
		wg    sync.WaitGroup
		slots = make(chan struct{}, noticeConcurrency)
	)
	for _, n := range notices {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			if a.deliver(ctx, n) {
				sent.Add(1)
			}
		})
	}
	wg.Wait()
	return int(sent.Load())
}

// deliver sends a notice and reports whether it went out everywhere. A
// notifier with several channels (a Deliverer) retries each on its own;
// any other is retried whole. A failure is logged without the link, which
// may be signed.
func (a *Activities) deliver(ctx context.Context, n Notice) bool {
	var err error
	if d, ok := a.Notifier.(Deliverer); ok {
		err = d.Deliver(ctx, n, a.Delivery)
	} else {
		err = a.Delivery.Send(ctx, a.Notifier, n)
	}
	if err == nil {
		return true
	}
	a.logger().ErrorContext(ctx, "notification not delivered; the approval goes on without it",
		"request_id", n.Request.RequestID, "kind", n.Kind, "approver", n.Approver, "err", err)
	return false
}

func (a *Activities) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}

// CallbackInput is what the callback orchestration delivers.
type CallbackInput struct {
	URL     string  `json:"url"`
	Request Request `json:"request"`
	Outcome Outcome `json:"outcome"`
}

// CallbackInstanceID names the callback orchestration of an approval, so
// that it is started once however often the parent step is replayed.
func CallbackInstanceID(requestID string) string { return requestID + callbackSuffix }

// CallbackRetry keeps delivering a callback with backoff for up to a day,
// as Logic Apps' HTTP Webhook action waits that long by default.
var CallbackRetry = &task.RetryPolicy{
	MaxAttempts:          1000,
	InitialRetryInterval: 5 * time.Second,
	BackoffCoefficient:   2,
	MaxRetryInterval:     time.Hour,
	RetryTimeout:         24 * time.Hour,
}

// Callback is the approval_callback orchestrator: deliver the final status
// to the request's callback_url, retrying durably.
func Callback(ctx *task.OrchestrationContext) (any, error) {
	var in CallbackInput
	if err := ctx.GetInput(&in); err != nil {
		return nil, fmt.Errorf("read callback input: %w", err)
	}
	if err := ctx.CallActivity(CallbackActivityName, task.WithActivityInput(in), task.WithActivityRetryPolicy(CallbackRetry)).Await(nil); err != nil {
		return nil, fmt.Errorf("deliver the outcome of %s to its callback_url: %w", in.Request.RequestID, err)
	}
	return nil, nil
}

// CallbackSender posts a signed body to a callback URL. Delivery is at
// least once: the idempotency key is the same on every attempt.
type CallbackSender interface {
	SendCallback(ctx context.Context, url string, body []byte, idempotencyKey string) error
}

// CallbackBody is what a callback receives: the approval's final status,
// as the status route shows it.
type CallbackBody struct {
	ID        string   `json:"id"`
	Status    Status   `json:"status"`
	RequestID string   `json:"request_id"`
	Requester string   `json:"requester"`
	Item      string   `json:"item"`
	Result    *Outcome `json:"result"`
	StatusURI string   `json:"status_uri"`
}

// DeliverCallback is the deliver_callback activity.
func (a *Activities) DeliverCallback(ctx task.ActivityContext) (any, error) {
	var in CallbackInput
	if err := ctx.GetInput(&in); err != nil {
		return nil, fmt.Errorf("read %s input: %w", CallbackActivityName, err)
	}
	if a.Callbacks == nil {
		return nil, fmt.Errorf("no callback sender is configured for %s", in.Request.RequestID)
	}
	out := in.Outcome
	body, err := json.Marshal(CallbackBody{ID: in.Request.RequestID, Status: out.Status, RequestID: in.Request.RequestID,
		Requester: in.Request.Requester, Item: in.Request.Item, Result: &out, StatusURI: StatusURL(a.BaseURL, in.Request.RequestID)})
	if err != nil {
		return nil, fmt.Errorf("encode callback of %s: %w", in.Request.RequestID, err)
	}
	if err := a.Callbacks.SendCallback(ctx.Context(), in.URL, body, "approval-"+in.Request.RequestID); err != nil {
		// A callback URL often carries its own credential (Logic Apps
		// signs them in the query), so it is never logged or returned.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		a.logger().WarnContext(ctx.Context(), "callback not delivered; it will be retried", "request_id", in.Request.RequestID, "err", err)
		return nil, fmt.Errorf("deliver callback of %s: %w", in.Request.RequestID, err)
	}
	return nil, nil
}
