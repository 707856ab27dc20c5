package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/approvals-go/approvals/approval"
)

// The review page is the approval link that people follow, plain or
// signed. It is anonymous to the Functions host: with sign-in
// (appservice), people are sent to App Service Authentication's sign-in
// before it (server.people); without, a signed link vouches for its
// approver on its own. Opening it (a GET) never decides, because mail
// scanners and link previews fetch every link in an e-mail: only posting
// its form does.

// reviewRequest is the review page's form: a decision, and the signed
// link's token that says who may make it.
type reviewRequest struct {
	approval.DecisionRequest
	Token string `json:"token"`
	// Action is empty for a decision; approval.ActionWithdraw is the
	// requester's withdrawal, with its WithdrawRequest fields;
	// ActionRequestChanges sends the request back, and ActionResubmit is
	// its requester sending it again with the edited Item.
	Action string `json:"action"`
	Item   string `json:"item"`
	approval.WithdrawRequest
}

// review shows an approval's page, or its JSON to a client that is not a
// browser.
func (s *server) review(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	query := r.URL.Query()
	form, p := s.reviewForm(r, id, query.Get("token"), false)
	if p != nil {
		writeProblem(w, r, *p)
		return
	}
	st, ok := s.lookup(w, r, id)
	if !ok {
		return
	}
	if !wantsHTML(r) {
		s.writeView(w, s.view(r, st))
		return
	}
	form.notice = query.Get("notice")
	form.confirmWithdraw = query.Get(withdrawParam) == withdrawConfirm
	s.approvalPage(w, r, http.StatusOK, st, form)
}

// reviewDecide takes the review page's form: a decision as the approver
// its signed link names, the signed-in principal, or (for development
// only: body identity and no link key) the name typed in.
func (s *server) reviewDecide(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	var body reviewRequest
	p := readBody(w, r, &body)
	if p == nil && (body.Action == approval.ActionWithdraw || body.WithdrawRequest != (approval.WithdrawRequest{})) {
		s.reviewAction(w, r, id, body)
		return
	}
	if p == nil {
		p = body.valid()
	}
	var form pageForm
	var who person
	if p == nil {
		form, who, p = s.poster(r, id, body.Token, "approver", body.Approver)
	}
	if p != nil {
		writeProblem(w, r, *p)
		return
	}
	form.name, form.comments = body.Approver, body.Comments
	base, _ := s.base(r)
	// Back to the page without the token: a signed link is not kept in
	// the browser's history longer than it must be.
	d := body.decision(who.name, who.oid)
	d.Channel, d.Auth = approval.ChannelPage, s.pageAuth(form)
	s.answerDecision(w, r, s.judge(w, r, id, s.withGroups(d, who)), approval.ReviewURL(base, id), form)
}

// poster is who posts the review page's form, and the form as it stands:
// the person its signed link or sign-in vouches for, with whom the body's
// field (named) must agree, or, for development only, the name typed
// into field.
func (s *server) poster(r *http.Request, id, token, field, named string) (pageForm, person, *problem) {
	form, p := s.reviewForm(r, id, token, true)
	if p != nil {
		return form, person{}, p
	}
	if form.as.name != "" {
		return form, form.as, agrees(field, named, form.as)
	}
	who, p := typed(field, named)
	return form, who, p
}

// reviewForm works out who may decide from this review page, and how.
// posting says the form is being posted: then not knowing who decides is
// a refusal, where a GET only shows the page without buttons.
func (s *server) reviewForm(r *http.Request, id, token string, posting bool) (pageForm, *problem) {
	form := pageForm{action: approval.ReviewURL("", id), withdrawal: true}
	switch {
	case token != "":
		claims, p := s.checkLink(token, id)
		if p != nil {
			return form, p
		}
		if s.appService() {
			who, p := s.principal(r)
			if p != nil {
				return form, p
			}
			if !approval.SamePerson(who.name, claims.Approver) {
				return form, &problem{Status: http.StatusForbidden, ID: id, Reason: "link_for_someone_else",
					Detail: fmt.Sprintf("this link was sent to %s, but you are signed in as %s", claims.Approver, who.name)}
			}
			form.as = who
		}
		form.as.name, form.token = claims.Approver, token
	case s.appService():
		if posting {
			who, p := s.principal(r)
			if p != nil {
				return form, p
			}
			form.as = who
		} else {
			form.as = s.pagePerson(r)
		}
	case s.opts.Links != nil:
		// Approvers are sent signed links; with no sign-in in front, a
		// typed name would let anyone decide as anyone.
		if posting {
			return form, &problem{Status: http.StatusForbidden, ID: id, Reason: "link_required",
				Detail: "decide from the link you were sent: this page cannot tell who you are without it"}
		}
		form.why = "To decide, open the link you were sent for this request."
	default:
		form.askName = true
	}
	return form, nil
}

// checkLink checks a signed link's token for approval id.
func (s *server) checkLink(token, id string) (approval.LinkClaims, *problem) {
	if s.opts.Links == nil {
		return approval.LinkClaims{}, &problem{Status: http.StatusForbidden, ID: id, Reason: "link_invalid",
			Detail: "this link is signed, but signed links are not enabled here (no APPROVALS_LINK_KEY); open the approval without the token instead"}
	}
	claims, err := s.opts.Links.Check(token, id, time.Now())
	switch {
	case errors.Is(err, approval.ErrLinkExpired):
		return claims, &problem{Status: http.StatusForbidden, ID: id, Reason: "link_expired", Detail: err.Error()}
	case err != nil:
		return claims, &problem{Status: http.StatusForbidden, ID: id, Reason: "link_invalid", Detail: err.Error()}
	}
	return claims, nil
}

// machineForm is how the approval page on the machine route lets its
// viewer decide: through the decision route, as the signed-in principal
// or, in body identity mode, as the name typed in, as a script would.
func (s *server) machineForm(r *http.Request, action string) pageForm {
	if s.appService() {
		return pageForm{action: action, as: s.pagePerson(r)}
	}
	return pageForm{action: action, askName: true}
}
