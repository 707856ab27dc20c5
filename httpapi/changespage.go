package httpapi

import (
	"fmt"
	"net/http"

	"github.com/approvals-go/approvals/approval"
)

// The review page's part in stages and rounds of changes: an approver
// may send the request back (a form of its own, whose comment is
// required), and the requester resubmits it with the item editable.
// Both post to the page's own route, told apart by action.

// valid reports what makes the posted form unusable, by the rules of the
// request it stands for.
func (b reviewRequest) valid() *problem {
	switch b.Action {
	case approval.ActionRequestChanges:
		return validRequest(b.changes())
	case approval.ActionResubmit:
		return validRequest(b.resubmission())
	case "":
		return validRequest(b.DecisionRequest)
	}
	return &problem{Status: http.StatusBadRequest, Field: "action", Detail: "action must be empty, " + approval.ActionWithdraw + ", " + approval.ActionRequestChanges + " or " + approval.ActionResubmit}
}

func (b reviewRequest) changes() approval.ChangesRequest {
	return approval.ChangesRequest{Approver: b.Approver, Comments: b.Comments, Stage: b.Stage, Round: b.Round}
}

func (b reviewRequest) resubmission() approval.ResubmitRequest {
	return approval.ResubmitRequest{Requester: b.Approver, Item: b.Item, Comments: b.Comments, Round: b.Round}
}

// decision is the event the posted form stands for, from who (with the
// principal's object id oid, when signed in). The form must be valid.
func (b reviewRequest) decision(who, oid string) approval.Decision {
	switch b.Action {
	case approval.ActionRequestChanges:
		return b.changes().Decision(who, oid)
	case approval.ActionResubmit:
		return b.resubmission().Decision(who, oid)
	}
	return b.DecisionRequest.Decision(who, oid)
}

// roundsPage adds stages and rounds of changes to the page m of st: the
// item as last resubmitted, every stage and round, and their forms. While
// changes are requested nobody decides and the requester (or, with names
// typed, whoever gives theirs) may resubmit; otherwise whoever may decide
// may also send the request back. The forms are the review page's: the
// approval page on the machine route posts to the decision route, which
// takes decisions only.
func roundsPage(m *approvalModel, st approval.State, form pageForm) {
	m.St.Request.Item = currentItem(st)
	stages, rounds := roundsOf(st)
	m.Rounds = rounds
	for i, s := range stages {
		if s.Name == "" {
			s.Name = fmt.Sprintf("Stage %d", i+1)
		}
		m.Stages = append(m.Stages, s)
	}
	if !st.Pending() || !st.Supports(approval.FeatureRequestChanges) || form.action != approval.ReviewURL("", st.ID) {
		return
	}
	p := st.Progress
	if !p.ChangesRequested {
		if m.Form != nil {
			m.Form.Changes, m.Form.Stage, m.Form.Round = true, p.Stage, p.Round
		}
		return
	}
	m.Form = nil
	if n := len(rounds); n > 0 {
		m.SentBack = &rounds[n-1]
	}
	requester := form.as.name != "" && approval.SamePerson(form.as.name, st.Request.Requester)
	if requester || form.askName && form.as.name == "" {
		m.Info = ""
		m.Resubmit = &formModel{Action: form.action, Token: form.token, As: form.as.name, AskName: form.askName && form.as.name == "",
			Name: form.name, Item: currentItem(st), Round: p.Round}
	}
}
