package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/approvals-go/approvals/approval"
)

// A decision, from the request to its answer. Whether this person may
// decide now is approval.State.Check's to say; this file only turns its
// answer into HTTP: refusalStatus below, and for the reasons whose answer
// depends on what became of the approval (it ended, its deadline passed,
// the person voted already), the outcome.

// decide takes a decision on the machine route. Its answer says what it
// did: 200 when it is the outcome, 409 when it is not (another decision
// won, or the approval had ended), and 202 while the outcome is not known
// yet: delivered but not processed (for example while no worker runs), or
// sent after the deadline while an earlier copy may still be on its way.
// Sending the same decision again is safe: once it is the outcome, it is
// answered 200. A browser's form post is answered 303 back to the
// approval's page instead, which shows the outcome.
func (s *server) decide(w http.ResponseWriter, r *http.Request) {
	var body approval.DecisionRequest
	p := readValid(w, r, &body)
	// A refused decision shows the page's form again as it was sent.
	s.take(w, r, p, "approver", body.Approver, body.Decision, pageForm{name: body.Approver, comments: body.Comments})
}

// withdraw takes a pending approval back, for its requester only. It is
// answered like a decision: 200 once the approval has ended Withdrawn, 409
// when it had ended otherwise, 202 when delivered but not yet known.
func (s *server) withdraw(w http.ResponseWriter, r *http.Request) {
	var body approval.WithdrawRequest
	p := readBody(w, r, &body)
	s.take(w, r, p, "requester", body.Requester, body.Decision, pageForm{})
}

// take delivers a decision or withdrawal on the machine route, unless its
// body was refused (p), and answers what became of it. It is from the
// person the body names in field, or in appservice mode the signed-in
// principal, with whom that name must agree. sent is what a refused
// browser post shows in the page's form again.
func (s *server) take(w http.ResponseWriter, r *http.Request, p *problem, field, named string,
	decision func(who, oid string) approval.Decision, sent pageForm) {
	who, ok := s.sender(w, r, p, named, field)
	if !ok {
		return
	}
	id := mux.Vars(r)["id"]
	links := s.links(r, id)
	form := s.machineForm(r, links.decision)
	form.name, form.comments = sent.name, sent.comments
	d := decision(who.name, who.oid)
	d.Channel, d.Auth = s.machineChannel(r)
	s.answerDecision(w, r, s.judge(w, r, id, s.withGroups(d, who)), links.status, form)
}

// decided is what became of a decision.
type decided struct {
	// code is 200 (the decision is the outcome), 202 (outcome not known
	// yet) or the status of problem.
	code    int
	problem *problem
	// st is the approval as last read, when it was read.
	st       *approval.State
	decision approval.Decision
	// late says the decision came after the deadline and was not
	// delivered: a 202 then means an earlier copy may be the outcome.
	late bool
}

// refusalStatus is the answer to each refusal that does not depend on
// what became of the approval.
var refusalStatus = map[approval.Reason]int{
	approval.ReasonInvalidName:  http.StatusBadRequest,
	approval.ReasonUnsupported:  http.StatusConflict,
	approval.ReasonUnsubmitted:  http.StatusServiceUnavailable,
	approval.ReasonNotRequester: http.StatusForbidden,
	approval.ReasonSelfDecision: http.StatusForbidden,
	approval.ReasonNotApprover:  http.StatusForbidden,
	// Nothing is left for this member to decide: the state of the
	// approval, not who they are, refuses them.
	approval.ReasonGroupComplete: http.StatusConflict,
	approval.ReasonNotDelegated:  http.StatusForbidden,
	// A round or stage the approval is not at: a conflict with its state.
	approval.ReasonChangesRequested: http.StatusConflict,
	approval.ReasonNotSentBack:      http.StatusConflict,
	approval.ReasonStale:            http.StatusConflict,
	approval.ReasonRoundsExhausted:  http.StatusConflict,
}

// judge reads approval id, asks the rules whether d may be taken now, and
// delivers it if so. Nothing reaches the scheduler unless they allow it.
// The decision carries the instant it was accepted, which the
// orchestrator checks against the deadline again.
func (s *server) judge(w http.ResponseWriter, r *http.Request, id string, d approval.Decision) decided {
	st, p := s.read(w, r, id)
	if p != nil {
		return failed(p)
	}
	now := time.Now()
	d.ResponseTime = approval.FormatTime(now)
	d.Groups = st.GroupsHeld(d.Groups)
	sent := d
	d = inPhase(st, d)
	d, p = s.actingFor(w, r, st, d, now)
	if p != nil {
		return failed(p)
	}
	err := st.Check(d.Attempt(now))
	if err == nil {
		return s.deliver(w, r, st, d)
	}
	refusal, ok := approval.RefusalOf(err)
	if !ok {
		return failed(s.schedulerFailed(w, r, "check decision", err))
	}
	switch refusal.Reason {
	case approval.ReasonEnded:
		// Judged as sent: a retry of a vote of an earlier stage is in
		// the outcome with that stage's, not the last stage's.
		return s.ended(st, sent)
	case approval.ReasonDeadline:
		// Not delivered, but a copy sent before the deadline may be on
		// its way (a retry after a lost answer), so the answer is the
		// outcome's, as for a delivered decision.
		return s.awaitOutcome(r, st, d, false)
	case approval.ReasonAlreadyVoted:
		return s.recorded(st, d)
	}
	if d.Action == "" && st.HeldInPassedStage(sent) {
		// Sent again after a lost answer: answered as the first was.
		return decided{code: http.StatusOK, st: &st, decision: d}
	}
	if res, ok := repeated(st, d, refusal.Reason); ok {
		return res
	}
	field := ""
	switch refusal.Reason {
	case approval.ReasonInvalidName:
		field = "approver"
	case approval.ReasonUnsubmitted:
		w.Header().Set("Retry-After", "1")
	}
	res := failed(&problem{Status: refusalStatus[refusal.Reason], ID: st.ID, Field: field, Reason: string(refusal.Reason),
		Detail: fmt.Sprintf("%s may not %s approval %q: %s", shown(*d.Approver), verb(d), st.ID, refusal.Detail)})
	res.st = &st
	return res
}

func verb(d approval.Decision) string {
	switch d.Action {
	case approval.ActionWithdraw:
		return "withdraw"
	case approval.ActionRequestChanges:
		return "request changes to"
	case approval.ActionResubmit:
		return "resubmit"
	}
	return "decide"
}

// deliver raises d, a decision or a withdrawal, on a pending approval st
// and answers what became of it.
func (s *server) deliver(w http.ResponseWriter, r *http.Request, st approval.State, d approval.Decision) decided {
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.CallTimeout)
	defer cancel()
	if err := s.orch.Decide(ctx, st.ID, d); err != nil {
		if errors.Is(err, ErrNotFound) {
			return failed(notFound(st.ID))
		}
		return failed(s.schedulerFailed(w, r, "send "+d.Action+" decision", err))
	}
	s.log.Info("decision delivered", "id", st.ID, "action", d.Action, "approved", d.IsApproved != nil && *d.IsApproved, "approver", *d.Approver)
	switch {
	case d.Action == approval.ActionRequestChanges || d.Action == approval.ActionResubmit:
		return s.awaitRound(r, st, d)
	case (st.Request.Counting() || st.Request.Staged()) && d.Action == "":
		return s.awaitVote(r, st, d)
	}
	return s.awaitOutcome(r, st, d, true)
}

// awaitVote waits a bounded time for the orchestration to record d as a
// vote, or to end, and says what became of it.
func (s *server) awaitVote(r *http.Request, st approval.State, d approval.Decision) decided {
	return s.await(r, st, d, func(now approval.State) (decided, bool) {
		if !now.Pending() {
			return s.ended(now, d), true
		}
		if _, voted := now.VoteRecorded(d); voted {
			return s.recorded(now, d), true
		}
		return decided{}, false
	})
}

// await reads the approval, backing off, until seen says what became of
// d: after DecisionWait, 202 with st, delivered but not yet recorded.
func (s *server) await(r *http.Request, st approval.State, d approval.Decision, seen func(now approval.State) (decided, bool)) decided {
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.DecisionWait)
	defer cancel()
	for delay := 5 * time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		select {
		case <-ctx.Done():
			return decided{code: http.StatusAccepted, st: &st, decision: d}
		case <-time.After(delay):
		}
		md, err := s.orch.Get(ctx, st.ID)
		if err != nil {
			continue
		}
		now, ok := approval.StateOf(md)
		if !ok {
			continue
		}
		if res, ok := seen(now); ok {
			return res
		}
	}
}

// recorded answers a vote on an approval still pending: 200 when the
// person's recorded vote is d, 409 when they decided otherwise before.
func (s *server) recorded(st approval.State, d approval.Decision) decided {
	if held, _ := st.VoteRecorded(d); held {
		return decided{code: http.StatusOK, st: &st, decision: d}
	}
	res := failed(&problem{Status: http.StatusConflict, ID: st.ID, ApprovalStatus: string(st.Status), Reason: string(approval.ReasonAlreadyVoted),
		Detail: fmt.Sprintf("%s has already decided approval %q otherwise; a person decides once", shown(*d.Approver), st.ID)})
	res.st = &st
	return res
}

func failed(p *problem) decided { return decided{code: p.Status, problem: p} }

// awaitOutcome waits a bounded time for the approval to end and says
// whether d is its outcome. delivered says whether d was raised; one that
// was not (it came after the deadline) may still be the outcome through
// an earlier copy, so while the outcome is unknown the answer is 202 for
// both, never a 409 that might turn out false.
func (s *server) awaitOutcome(r *http.Request, st approval.State, d approval.Decision, delivered bool) decided {
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.DecisionWait)
	defer cancel()
	md, err := s.orch.Wait(ctx, st.ID)
	if err == nil {
		if done, ok := approval.StateOf(md); ok && !done.Pending() {
			return s.ended(done, d)
		}
	}
	if err != nil && ctx.Err() == nil {
		s.log.Warn("the outcome of a decision could not be read", "id", st.ID, "err", err)
	}
	return decided{code: http.StatusAccepted, st: &st, decision: d, late: !delivered}
}

// ended says what became of d on an approval that has ended: it is the
// outcome (200), or another one stands (409).
func (s *server) ended(st approval.State, d approval.Decision) decided {
	if st.Result != nil && st.Result.Decided(d) {
		return decided{code: http.StatusOK, st: &st, decision: d}
	}
	detail := fmt.Sprintf("approval %q is no longer pending: it is %s", st.ID, st.Status)
	if st.Result != nil && st.Result.Approver != "" {
		detail += " by " + st.Result.Approver
	}
	res := failed(&problem{Status: http.StatusConflict, ID: st.ID, ApprovalStatus: string(st.Status), Result: st.Result, Detail: detail})
	res.st = &st
	return res
}

// answerDecision answers what became of a decision. A browser is sent
// back to page (Post/Redirect/Get) once the decision took effect, or shown
// the approval with the reason when it did not; everyone else gets JSON.
func (s *server) answerDecision(w http.ResponseWriter, r *http.Request, res decided, page string, form pageForm) {
	if wantsHTML(r) {
		switch {
		case res.code == http.StatusOK && res.st.Pending():
			// A vote recorded while the approval waits for others.
			http.Redirect(w, r, withQuery(page, "notice", noticeRecorded), http.StatusSeeOther)
		case res.code == http.StatusOK:
			http.Redirect(w, r, page, http.StatusSeeOther)
		case res.code == http.StatusAccepted && res.decision.Action == approval.ActionWithdraw:
			http.Redirect(w, r, withQuery(page, "notice", noticeWithdrawing), http.StatusSeeOther)
		case res.code == http.StatusAccepted:
			http.Redirect(w, r, withQuery(page, "notice", noticeDelivered), http.StatusSeeOther)
		case res.st != nil:
			form.refused = res.problem
			s.approvalPage(w, r, res.code, *res.st, form)
		default:
			writeProblem(w, r, *res.problem)
		}
		return
	}
	switch res.code {
	case http.StatusOK:
		// 200 also while a policy waits for more votes: this decision is
		// recorded, which is all it can do.
		writeJSON(w, http.StatusOK, s.view(r, *res.st))
	case http.StatusAccepted:
		s.pending(w, s.links(r, res.st.ID).status)
		writeJSON(w, http.StatusAccepted, s.acceptedView(r, res))
	default:
		writeProblem(w, r, *res.problem)
	}
}

// acceptedView is the body of a 202: the decision, and why its outcome is
// not known.
func (s *server) acceptedView(r *http.Request, res decided) any {
	st, d := res.st, res.decision
	detail := "the decision was delivered before the deadline, but its outcome is not known yet: it is the outcome unless another decision was delivered first; poll status_uri"
	if d.Action == approval.ActionRequestChanges || d.Action == approval.ActionResubmit {
		detail = "delivered before the deadline, but the approval has not recorded it in its rounds yet; poll status_uri"
	}
	if res.late {
		detail = "the deadline has passed, so this decision was not delivered, but the approval has not recorded its outcome yet: a copy of it delivered before the deadline may still be the outcome; poll status_uri"
	}
	approved := d.IsApproved != nil && *d.IsApproved
	return struct {
		ID        string          `json:"id"`
		Status    approval.Status `json:"status"`
		Approved  bool            `json:"approved"`
		Approver  string          `json:"approver"`
		Comments  string          `json:"comments"`
		ExpiresAt string          `json:"expires_at,omitempty"`
		Detail    string          `json:"detail"`
		StatusURI string          `json:"status_uri"`
	}{st.ID, approval.StatusPending, approved, *d.Approver, d.Comments, formatTime(st.ExpiresAt), detail, s.links(r, st.ID).status}
}
