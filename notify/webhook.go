package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/internal/safehttp"
	"github.com/approvals-go/approvals/webhook"
)

// Webhook posts each notice as JSON to a system of yours (a ticketing
// tool, a chat bot, a Logic App), signed as package webhook describes.
// Its receiver is trusted to route the notice to its approver, so it gets
// the approver's signed link.
type Webhook struct {
	// URL is where notices are posted. It is treated as a secret, since
	// many receivers take a token in the URL.
	URL string
	// Secret signs each delivery; see webhook.MinSecretBytes.
	Secret []byte
	Client *safehttp.Client
	// Now is the clock of sent_at and the timestamp header; nil means
	// time.Now.
	Now func() time.Time
}

// Notification is the JSON body of a notice.
type Notification struct {
	// DeliveryID repeats the X-Approvals-Delivery header inside the
	// signed body, and SentAt the timestamp: a receiver that checks them
	// here knows they were not changed.
	DeliveryID string `json:"delivery_id"`
	SentAt     string `json:"sent_at"`
	// Kind is request, reminder, escalation, delegated (to a delegator)
	// or changes_requested (to the requester).
	Kind      approval.NoticeKind `json:"kind"`
	ID        string              `json:"id"`
	Requester string              `json:"requester"`
	Item      string              `json:"item"`
	Approver  string              `json:"approver,omitempty"`
	// Link is the approver's link, signed for them when LinkSigned:
	// whoever holds a signed link may decide as its approver.
	Link       string `json:"link"`
	LinkSigned bool   `json:"link_signed"`
	// ApprovalURL is the review page without a signature.
	ApprovalURL string `json:"approval_url"`
	// Deadline is when the approval times out, when known.
	Deadline string `json:"deadline,omitempty"`
	// ActingFor is the approver a delegate is asked to decide for, and
	// Delegates, on a delegated notice, who was asked in the approver's
	// place: what the e-mail and the log say too, so a receiver can tell a
	// delegate's notice from an approver's own.
	ActingFor string   `json:"acting_for,omitempty"`
	Delegates []string `json:"delegates,omitempty"`
}

// NotifyApprover implements approval.Notifier.
func (w *Webhook) NotifyApprover(ctx context.Context, n approval.Notice) error {
	m := messageOf(n)
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	sent := now().UTC()
	note := Notification{
		DeliveryID: m.DeliveryID, SentAt: approval.FormatTime(sent), Kind: m.Kind,
		ID: m.ID, Requester: m.Requester, Item: n.Request.Item, Approver: m.Approver,
		Link: m.Link, LinkSigned: m.Signed, ApprovalURL: m.Page, ActingFor: m.ActingFor, Delegates: m.Delegates,
	}
	if !m.Deadline.IsZero() {
		note.Deadline = approval.FormatTime(m.Deadline)
	}
	body, err := json.Marshal(note)
	if err != nil {
		return fmt.Errorf("webhook for %s: %w", m.ID, err)
	}
	if err := webhook.Post(ctx, w.Client, w.URL, w.Secret, body, m.DeliveryID, sent); err != nil {
		return fmt.Errorf("webhook for %s: %w", m.ID, err)
	}
	return nil
}
