package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"time"

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
	var who string
	if p == nil {
		who, p = s.withdrawer(r, f)
	}
	if p != nil {
		writeProblem(w, r, *p)
		return
	}
	reason, _ := f.str("reason")
	d := approval.Decision{Action: approval.ActionWithdraw, Approver: &who, Comments: reason, ResponseTime: approval.FormatTime(time.Now())}
	links := s.links(r, id)
	s.answerDecision(w, r, s.settleWithdrawal(w, r, id, d), links.status, s.machineForm(r, links.decision))
}

// withdrawer is who asks to withdraw: the body's requester, or with a
// verified identity the signed-in person, whom the body may not contradict.
func (s *server) withdrawer(r *http.Request, f fields) (string, *problem) {
	named, _ := f.str("requester")
	if !s.appService() {
		if strings.TrimSpace(named) == "" {
			return "", &problem{Status: http.StatusBadRequest, Field: "requester", Detail: "requester is required: who withdraws the request"}
		}
		return named, nil
	}
	who, p := s.principal(r)
	if p != nil {
		return "", p
	}
	if strings.TrimSpace(named) != "" && !strings.EqualFold(strings.TrimSpace(named), who) {
		return "", &problem{Status: http.StatusForbidden, Field: "requester", Reason: "requester_mismatch",
			Detail: fmt.Sprintf("requester %q is not who you are: you are signed in as %s", shown(named), who)}
	}
	return who, nil
}

func (s *server) settleWithdrawal(w http.ResponseWriter, r *http.Request, id string, d approval.Decision) decided {
	st, p := s.read(w, r, id)
	if p != nil {
		return failed(p)
	}
	if !st.Pending() {
		return s.ended(st, d)
	}
	who := *d.Approver
	if !strings.EqualFold(strings.TrimSpace(who), strings.TrimSpace(st.Request.Requester)) {
		res := failed(&problem{Status: http.StatusForbidden, ID: id, Reason: "not_the_requester",
			Detail: fmt.Sprintf("%s may not withdraw approval %q: only its requester may", who, id)})
		res.st = &st
		return res
	}
	return s.deliver(w, r, st, d)
}
