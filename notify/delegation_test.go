package notify

import (
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
	delegator := messageOf(approval.Notice{Request: req, Kind: approval.NoticeDelegated, Approver: "alice", Delegates: "bob, carol"})
	if !strings.HasPrefix(delegator.Title(), "Your delegate was asked") || !strings.Contains(delegator.Lead(), "bob, carol were asked") {
		t.Errorf("the delegator's notice reads %q / %q", delegator.Title(), delegator.Lead())
	}
	for _, m := range []message{delegate, delegator} {
		if m.DeliveryID == messageOf(approval.Notice{Request: req, Approver: m.Approver}).DeliveryID {
			t.Errorf("the notice to %s shares its delivery id with the request's", m.Approver)
		}
	}
}
