package httpapi

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/approvals-go/approvals/approval"
)

// withdraw takes a pending approval back, for its requester only. It is
// answered like a decision: 200 once the approval has ended Withdrawn, 409
// when it had ended otherwise, 202 when delivered but not yet known.
func (s *server) withdraw(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	var body approval.WithdrawRequest
	p := readBody(w, r, &body)
	var who person
	if p == nil {
		who, p = s.verified(r, body.Requester, "requester")
	}
	if p != nil {
		writeProblem(w, r, *p)
		return
	}
	d := body.Decision(who.name, who.oid)
	links := s.links(r, id)
	s.answerDecision(w, r, s.judge(w, r, id, d), links.status, s.machineForm(r, links.decision))
}
