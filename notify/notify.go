// Package notify tells approvers about requests where they are: by e-mail
// over SMTP, in Microsoft Teams (a Workflows webhook posting an Adaptive
// Card), in Slack (an incoming webhook posting Block Kit), or to any system
// through a signed JSON webhook. Each is an approval.Notifier; Multi sends
// through several at once.
//
// A channel returns delivery errors and does not retry: approval.Delivery
// does, for each channel on its own (Multi.Deliver), each attempt within a
// deadline. Errors never hold a secret: not the SMTP password, not a
// webhook URL's path or query (they carry the token), not the review link
// (a signed one is a credential).
//
// Shared channels get the plain review page: a link signed for one
// approver lets whoever holds it decide as them, and everyone in a Teams
// or Slack channel, or on an e-mail fallback list, would hold it. Only an
// e-mail to the approver's own address and the generic webhook, whose
// receiver routes it to the person, carry the signed link.
package notify

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/approvals-go/approvals/approval"
)

// maxItemRunes bounds the request text a notice shows: chat cards have
// size limits, and a link to the page shows the rest.
const maxItemRunes = 2000

// message is what every channel renders: the facts of one notice.
type message struct {
	// Kind is request (also when the notice says none), reminder,
	// escalation, delegated (to a delegator) or changes_requested (to
	// the requester).
	Kind      approval.NoticeKind
	ID        string
	Requester string
	Item      string
	Approver  string
	// Link opens the review page for Approver: the signed link when
	// Signed. Page is the same page without a signature, for places many
	// people read.
	Link   string
	Signed bool
	Page   string
	// Deadline is when the approval times out; zero when unknown.
	Deadline time.Time
	// Occasion tells two reminders to one approver apart.
	Occasion int
	// DeliveryID is the same on every retry of this notice, so that
	// receivers can drop duplicates, and differs between occasions.
	DeliveryID string
	// ActingFor is the approver whose delegate Approver is; Delegates,
	// on a notice to a delegator, who was asked in their place.
	ActingFor string
	Delegates []string
}

// deliveryNamespace scopes the delivery ids derived from notices.
var deliveryNamespace = uuid.MustParse("6f1c2b0e-8a53-4c1e-9a43-2d1f0e6b7c55")

func messageOf(n approval.Notice) message {
	m := message{
		Kind:      n.Kind,
		ID:        n.Request.RequestID,
		Requester: n.Request.Requester,
		Item:      truncate(n.Request.Item, maxItemRunes),
		Approver:  n.Approver,
		Link:      n.URL,
		Signed:    n.Signed,
		Page:      n.URL,
		Deadline:  n.ExpiresAt,
		Occasion:  n.Occasion,
		ActingFor: n.ActingFor,
		Delegates: n.Delegates,
	}
	if m.Kind == "" {
		m.Kind = approval.NoticeRequest
	}
	if n.Signed {
		m.Page = unsigned(n.URL)
	}
	// The id must not change when a delivery is retried, so it is
	// derived from the notice rather than drawn at random.
	m.DeliveryID = uuid.NewSHA1(deliveryNamespace, []byte(strings.Join([]string{m.ID, m.Approver, string(m.Kind), strconv.Itoa(m.Occasion), approval.FormatTime(m.Deadline)}, "\x00"))).String()
	return m
}

// Title is the one-line summary of a notice: the e-mail subject, the card
// heading.
func (m message) Title() string {
	head := "Approval requested"
	switch m.Kind {
	case approval.NoticeReminder:
		head = "Reminder: approval still waiting"
	case approval.NoticeEscalation:
		head = "Escalated to you: approval waiting"
	case approval.NoticeDelegated:
		head = "Your delegate was asked"
	case approval.NoticeChanges:
		head = "Changes requested"
	}
	if m.ActingFor != "" {
		head += ", for " + m.ActingFor
	}
	return head + ": " + oneLine(m.Item, 80)
}

// Lead is the sentence that opens a notice.
func (m message) Lead() string {
	if m.Kind == approval.NoticeDelegated {
		verb := "was"
		if len(m.Delegates) > 1 {
			verb = "were"
		}
		return "You delegated your approvals: " + strings.Join(m.Delegates, ", ") + " " + verb + " asked to decide this request from " + m.Requester + " for you. You may still decide it yourself."
	}
	if m.ActingFor != "" {
		return m.ActingFor + " delegated their approvals to you: " + m.Requester + " asks for a decision, which you make for " + m.ActingFor + "."
	}
	switch m.Kind {
	case approval.NoticeReminder:
		return m.Requester + " is still waiting for a decision on this request."
	case approval.NoticeEscalation:
		return "This request from " + m.Requester + " has waited too long and was escalated to you."
	case approval.NoticeChanges:
		return "An approver asked for changes to your request: open it to see what, edit it and resubmit it."
	}
	return m.Requester + " asks for your approval."
}

// DeadlineText is the deadline for people to read, or "" when unknown.
func (m message) DeadlineText() string {
	if m.Deadline.IsZero() {
		return ""
	}
	return m.Deadline.UTC().Format("Mon 2 Jan 2006 15:04 MST")
}

// unsigned is a review link without its signature (the query): the page
// itself.
func unsigned(link string) string {
	page, _, _ := strings.Cut(link, "#")
	page, _, _ = strings.Cut(page, "?")
	return page
}

// button is a link opening the review page at the control of one
// decision: where the page gives its approve and reject controls these
// ids, the browser scrolls to the one chosen; elsewhere the fragment is
// ignored. A fragment is never sent to the server and decides nothing: the
// person still confirms on the page.
func button(link, decision string) string {
	return link + "#" + decision
}

func truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}

// oneLine is s with line breaks and other control characters as spaces,
// cut to max characters: for a subject or a heading.
func oneLine(s string, max int) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return r < ' ' || r == 0x7f || r == '\u2028' || r == '\u2029' || r == ' '
	}), " ")
	return truncate(s, max)
}

// Channel is a notifier with the name configuration knows it by.
type Channel struct {
	Name string
	approval.Notifier
}

// Multi sends each notice through every channel at once. One failing does
// not keep the others from delivering; the error joins the failures, each
// named by its channel.
type Multi []Channel

// NotifyApprover implements approval.Notifier: one attempt on each
// channel.
func (m Multi) NotifyApprover(ctx context.Context, n approval.Notice) error {
	return m.each(func(ch Channel) error { return ch.NotifyApprover(ctx, n) })
}

// Deliver implements approval.Deliverer: each channel is tried on its own
// as d says, so a channel that delivered is not sent the notice again
// while another is retried, and one that hangs delays only itself.
func (m Multi) Deliver(ctx context.Context, n approval.Notice, d approval.Delivery) error {
	return m.each(func(ch Channel) error { return d.Send(ctx, ch.Notifier, n) })
}

// each runs send for every channel at once and joins the failures.
func (m Multi) each(send func(Channel) error) error {
	errs := make([]error, len(m))
	var wg sync.WaitGroup
	for i, ch := range m {
		wg.Go(func() {
			if err := send(ch); err != nil {
				errs[i] = &ChannelError{Channel: ch.Name, Err: err}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Names are the channels' names, for a log line.
func (m Multi) Names() []string {
	out := make([]string, len(m))
	for i, ch := range m {
		out[i] = ch.Name
	}
	return out
}

// ChannelError is a delivery that failed on one channel.
type ChannelError struct {
	Channel string
	Err     error
}

func (e *ChannelError) Error() string { return e.Channel + ": " + e.Err.Error() }
func (e *ChannelError) Unwrap() error { return e.Err }
