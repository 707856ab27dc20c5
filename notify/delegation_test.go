package notify

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/approvals-go/approvals/approval"
)

// A delegate's notice says whom they decide for, and the delegator's
// says who was asked in their place.
func TestDelegationNotices(t *testing.T) {
	req := approval.Request{RequestID: "r1", Requester: "ana", Item: "laptop"}
	delegate := messageOf(approval.Notice{Request: req, Kind: approval.NoticeReminder, Approver: "bob", ActingFor: "alice"})
	if !strings.Contains(delegate.Lead(), "for alice") || !strings.Contains(delegate.Title(), "for alice") {
		t.Errorf("the delegate's notice reads %q / %q; want it to name alice", delegate.Title(), delegate.Lead())
	}
	delegator := messageOf(approval.Notice{Request: req, Kind: approval.NoticeDelegated, Approver: "alice", Delegates: []string{"bob", "carol"}})
	if !strings.HasPrefix(delegator.Title(), "Your delegate was asked") || !strings.Contains(delegator.Lead(), "bob, carol were asked") {
		t.Errorf("the delegator's notice reads %q / %q", delegator.Title(), delegator.Lead())
	}
	one := messageOf(approval.Notice{Request: req, Kind: approval.NoticeDelegated, Approver: "alice", Delegates: []string{"Smith, Carol"}})
	if !strings.Contains(one.Lead(), "Smith, Carol was asked") {
		t.Errorf("one delegate whose name has a comma reads %q", one.Lead())
	}
	for _, m := range []message{delegate, delegator} {
		if m.DeliveryID == messageOf(approval.Notice{Request: req, Approver: m.Approver}).DeliveryID {
			t.Errorf("the notice to %s shares its delivery id with the request's", m.Approver)
		}
	}
}

// The webhook says what the e-mail says: whom a delegate decides for,
// and, to the delegator, who was asked in their place, as a list.
func TestWebhookNamesDelegations(t *testing.T) {
	r := newReceiver(t, http.StatusNoContent)
	n := &Webhook{URL: r.url(), Secret: []byte(secret), Client: loopbackClient(t, r)}
	req := approval.Request{RequestID: "r1", Requester: "ana", Item: "laptop"}
	for _, notice := range []approval.Notice{
		{Request: req, Kind: approval.NoticeRequest, Approver: "bob", ActingFor: "alice"},
		{Request: req, Kind: approval.NoticeDelegated, Approver: "alice", Delegates: []string{"bob", "Smith, Carol"}},
	} {
		if err := n.NotifyApprover(context.Background(), notice); err != nil {
			t.Fatal(err)
		}
	}
	got := r.received()
	if len(got) != 2 {
		t.Fatalf("%d deliveries, want 2", len(got))
	}
	var delegate, delegator Notification
	if err := json.Unmarshal(got[0].body, &delegate); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(got[1].body, &delegator); err != nil {
		t.Fatal(err)
	}
	if delegate.Approver != "bob" || delegate.ActingFor != "alice" || delegate.Delegates != nil {
		t.Errorf("the delegate's notice: %s", got[0].body)
	}
	if delegator.Kind != approval.NoticeDelegated || delegator.ActingFor != "" || !slices.Equal(delegator.Delegates, []string{"bob", "Smith, Carol"}) {
		t.Errorf("the delegator's notice: %s", got[1].body)
	}
}
