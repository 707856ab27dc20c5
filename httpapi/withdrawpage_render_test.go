package httpapi

import (
	"testing"
	"time"

	"github.com/approvals-go/approvals/approval"
)

// The offer follows the rules: the requester is offered the withdrawal
// while the approval waits on a workflow that says it supports it, and
// not after the deadline, on the sample's worker, or while a withdrawal
// is on its way, which the page calls a withdrawal, not a decision. A
// withdrawal without a reason says so.
func TestWithdrawOfferFollowsTheRules(t *testing.T) {
	now := time.Now()
	req := approval.Request{RequestID: "a-1", Requester: "ana", Item: "Laptop", Approvers: []string{"bob"}}
	ours := approval.Submission{RequestID: "a-1", Status: approval.StatusPending, SubmittedAt: approval.FormatTime(now), Features: []approval.Feature{approval.FeatureWithdraw}}
	seed := ours
	seed.Features = nil
	pending := approval.State{ID: "a-1", Status: approval.StatusPending, Request: req, Progress: ours, ExpiresAt: now.Add(time.Hour)}
	review := pageForm{action: approval.ReviewURL("", "a-1"), withdrawal: true, as: person{name: "ana"}}
	offered := func(st approval.State, form pageForm) *approvalModel {
		m := approvalModel{St: st}
		offerWithdrawal(&m, st, form, now)
		return &m
	}
	if m := offered(pending, review); m.Withdraw == nil || m.Withdraw.Link != "/api/review/a-1?withdraw=confirm" {
		t.Fatalf("the requester is offered %+v", m.Withdraw)
	}
	bob := review
	bob.as.name = "bob"
	late := pending
	late.ExpiresAt = now.Add(-time.Second)
	onSeed := pending
	onSeed.Progress = seed
	machine := review
	machine.withdrawal = false
	delivered := review
	delivered.notice = noticeWithdrawing
	for name, c := range map[string]struct {
		st   approval.State
		form pageForm
	}{
		"an approver":         {pending, bob},
		"after the deadline":  {late, review},
		"on the seed worker":  {onSeed, review},
		"on the machine page": {pending, machine},
	} {
		if m := offered(c.st, c.form); m.Withdraw != nil {
			t.Errorf("%s: offered %+v", name, m.Withdraw)
		}
	}
	m := approvalModel{St: pending, Delivered: true}
	offerWithdrawal(&m, pending, delivered, now)
	if m.Withdraw != nil || !m.Withdrawing {
		t.Fatalf("while a withdrawal is on its way: %+v", m)
	}
	if got := pageText(t, m, `<div class="alert alert-info"`, "</div>"); got != "Your withdrawal was delivered. This page updates as soon as it is recorded." {
		t.Errorf("the notice reads %q", got)
	}

	withdrawn := pending
	withdrawn.Status = approval.StatusWithdrawn
	withdrawn.Result = &approval.Outcome{RequestID: "a-1", Status: approval.StatusWithdrawn, Approver: "ana"}
	if got := pageText(t, approvalModel{St: withdrawn}, `<section class="outcome`, "</section>"); got != "Withdrawn by ana Its requester took it back, so it needs no decision. No reason was given." {
		t.Errorf("the outcome reads %q", got)
	}
}
