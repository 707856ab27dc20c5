package httpapi

import (
	"fmt"
	"net/http"
	"time"

	"github.com/approvals-go/approvals/approval"
)

// The requester's withdrawal from the review page. The page offers it only
// to a viewer from whom approval.State.Check would take it now, and asks
// them to confirm on a page of its own: a withdrawal cannot be undone,
// and a single tap on a phone must not make one. It is posted to the
// review route, like a decision, so it is as protected as one: refused
// from another site, and from whoever the signed link, the sign-in or,
// in development, the typed name says.

// The query that opens the confirm step.
const (
	withdrawParam   = "withdraw"
	withdrawConfirm = "confirm"
)

// withdrawModel is the review page's offer to withdraw.
type withdrawModel struct {
	// Confirm shows the confirm step's form; otherwise the page links to
	// it (Link). Back returns to the page without withdrawing.
	Confirm    bool
	Link, Back string
	// Action is where the form posts, with the signed link's Token.
	Action, Token string
	// As is the verified requester. AskName asks for a name instead
	// (development identity mode), of which the rules take Requester's.
	As        string
	AskName   bool
	Requester string
	// Name and Reason are what was posted, shown again after a refusal.
	Name, Reason string
}

// offerWithdrawal adds to m the review page's offer to withdraw st, when
// the rules would take a withdrawal from its viewer now. A page that
// cannot tell who is looking (names typed, in development) offers it when
// they would take one from the requester, and says that it cannot tell;
// the name typed is checked when the form is posted.
func offerWithdrawal(m *approvalModel, st approval.State, form pageForm, now time.Time) {
	m.Withdrawing = form.confirmWithdraw || form.notice == noticeWithdrawing
	if !form.withdrawal || m.Delivered {
		return
	}
	who := form.as.name
	if form.askName {
		who = st.Request.Requester
	}
	if who == "" || st.Check(approval.Attempt{Who: who, Withdraw: true, At: now}) != nil {
		return
	}
	back := form.action
	if form.token != "" {
		back = withQuery(back, "token", form.token)
	}
	m.Withdraw = &withdrawModel{Confirm: form.confirmWithdraw, Link: withQuery(back, withdrawParam, withdrawConfirm), Back: back,
		Action: form.action, Token: form.token, As: form.as.name, AskName: form.askName, Requester: st.Request.Requester,
		Name: form.name, Reason: form.reason}
	if form.confirmWithdraw {
		// The confirm step is about the withdrawal alone.
		m.Form, m.Info, m.SignIn = nil, "", ""
	}
}

// reviewAction takes a post of the review page's form that is a
// withdrawal, by its action or its fields (requester, reason): the
// requester's withdrawal. Other actions are reviewDecide's.
func (s *server) reviewAction(w http.ResponseWriter, r *http.Request, id string, body reviewRequest) {
	if body.Action != approval.ActionWithdraw {
		writeProblem(w, r, *badRequest("action", fmt.Sprintf("action %q does not take requester or reason: send %q with them to withdraw, or leave them out to decide, request changes or resubmit",
			shown(body.Action), approval.ActionWithdraw)))
		return
	}
	form, who, p := s.poster(r, id, body.Token, "requester", body.Requester)
	if p != nil {
		writeProblem(w, r, *p)
		return
	}
	// A refusal shows the confirm step again, as it was posted.
	form.confirmWithdraw, form.name, form.reason = true, body.Requester, body.Reason
	base, _ := s.base(r)
	d := body.WithdrawRequest.Decision(who.name, who.oid)
	d.Channel, d.Auth = approval.ChannelPage, s.pageAuth(form)
	s.answerDecision(w, r, s.judge(w, r, id, d), approval.ReviewURL(base, id), form)
}
