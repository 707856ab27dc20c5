package httpapi

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/approvals-go/approvals/approval"
)

var withdrawFields = map[string]kind{
	"requester": kindString,
	"reason":    kindString,
}

// withdraw takes a pending approval back, for its requester only. It is
// answered like a decision: 200 once the approval has ended Withdrawn, 409
// when it had ended otherwise, 202 when delivered but not yet known.
func (s *server) withdraw(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	f, p := readFields(w, r, withdrawFields)
	var who person
	if p == nil {
		who, p = s.withdrawer(r, f)
	}
	if p != nil {
		writeProblem(w, r, *p)
		return
	}
	reason, _ := f.str("reason")
	d := approval.Decision{Action: approval.ActionWithdraw, Approver: &who.name, ApproverOID: who.oid, Comments: reason}
	links := s.links(r, id)
	s.answerDecision(w, r, s.judge(w, r, id, d), links.status, s.machineForm(r, links.decision))
}

// withdrawer is who asks to withdraw: the body's requester, or with a
// verified identity the signed-in person, whom the body may not contradict.
func (s *server) withdrawer(r *http.Request, f fields) (person, *problem) {
	return s.verified(r, f, "requester")
}
