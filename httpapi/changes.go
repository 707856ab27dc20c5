package httpapi

import (
	"net/http"

	"github.com/approvals-go/approvals/approval"
)

// Stages and rounds of changes: an approver sends a request back with
// what to change, its requester resubmits it. Who may do either is
// approval.State.Check's to say, as for a decision; these handlers only
// turn its answer, and what became of the event, into HTTP.

// Paths of the rounds of changes.
const (
	ChangesPath  = ApprovalPath + "/changes"
	ResubmitPath = ApprovalPath + "/resubmit"
)

// requestChanges sends a pending approval back to its requester, for one
// of the people who may decide it. It is answered like a decision: 200
// once the round shows the request, 409 when the rules refuse it by the
// state of the approval (ended, changes already requested, moved on),
// 403 when the person may not decide it, 202 when delivered but not yet
// recorded.
func (s *server) requestChanges(w http.ResponseWriter, r *http.Request) {
	var body approval.ChangesRequest
	p := readValid(w, r, &body)
	s.take(w, r, p, "approver", body.Approver, body.Decision, pageForm{name: body.Approver, comments: body.Comments})
}

// resubmit sends a request back to its approvers, edited, for its
// requester only; answered as requestChanges is.
func (s *server) resubmit(w http.ResponseWriter, r *http.Request) {
	var body approval.ResubmitRequest
	p := readValid(w, r, &body)
	s.take(w, r, p, "requester", body.Requester, body.Decision, pageForm{})
}

// readValid reads a request body into v, as readBody does, and then
// checks it by its own rules: the problem with either, or nil.
func readValid(w http.ResponseWriter, r *http.Request, v interface{ Validate() error }) *problem {
	if p := readBody(w, r, v); p != nil {
		return p
	}
	return validRequest(v)
}

// validRequest is the problem Validate finds in a request body, naming
// its field, or nil.
func validRequest(v interface{ Validate() error }) *problem {
	if err := v.Validate(); err != nil {
		return fieldProblem(err)
	}
	return nil
}

// inPhase gives d the stage and round the approval st is at, unless its
// sender said which they saw: the orchestrator refuses it if the
// approval has moved on by the time it arrives, rather than count it in
// a stage or round its sender never saw.
func inPhase(st approval.State, d approval.Decision) approval.Decision {
	if d.Action == approval.ActionWithdraw {
		return d
	}
	if d.Stage == 0 {
		d.Stage = st.Progress.Stage
	}
	if d.Round == 0 {
		d.Round = st.Progress.Round
	}
	return d
}

// repeated answers a request for changes or a resubmission that the rules
// refuse because it already took effect: sent again after a lost answer,
// it is answered as the first was. Only the latest round can be it: the
// one sent back now, or the one resubmitted last.
func repeated(st approval.State, d approval.Decision, reason approval.Reason) (decided, bool) {
	switch {
	case d.Action == approval.ActionRequestChanges && reason == approval.ReasonChangesRequested:
		d.Round = st.Progress.Round
	case d.Action == approval.ActionResubmit && (reason == approval.ReasonNotSentBack || reason == approval.ReasonStale):
		d.Round = st.Progress.Round - 1
	default:
		return decided{}, false
	}
	if d.Round > 0 && st.RoundRecorded(d) {
		return decided{code: http.StatusOK, st: &st, decision: d}, true
	}
	return decided{}, false
}

// awaitRound waits a bounded time for the orchestration to record d, a
// request for changes or a resubmission, in its rounds, or to end.
func (s *server) awaitRound(r *http.Request, st approval.State, d approval.Decision) decided {
	return s.await(r, st, d, func(now approval.State) (decided, bool) {
		if now.RoundRecorded(d) {
			return decided{code: http.StatusOK, st: &now, decision: d}, true
		}
		if !now.Pending() {
			return s.ended(now, d), true
		}
		return decided{}, false
	})
}

// stagesView is the part of an approval's JSON that says where its stages
// and rounds of changes stand.
type stagesView struct {
	Stage            int                      `json:"stage,omitempty"`
	Stages           []approval.StageProgress `json:"stages,omitempty"`
	Round            int                      `json:"round,omitempty"`
	ChangesRequested bool                     `json:"changes_requested,omitempty"`
	Rounds           []approval.ChangeRound   `json:"rounds,omitempty"`
	ChangesURI       string                   `json:"changes_uri,omitempty"`
	ResubmitURI      string                   `json:"resubmit_uri,omitempty"`
}

// stagesOf is st's stages and rounds as the API shows them: as the
// outcome recorded them once there is one, and with the routes that
// take changes while the workflow honours them.
func (s *server) stagesOf(r *http.Request, st approval.State) stagesView {
	p := st.Progress
	v := stagesView{Stage: p.Stage, Round: p.Round, ChangesRequested: p.ChangesRequested}
	v.Stages, v.Rounds = roundsOf(st)
	if st.Pending() && st.Supports(approval.FeatureRequestChanges) {
		links := s.links(r, st.ID)
		v.ChangesURI, v.ResubmitURI = links.changes, links.resubmit
	}
	return v
}

// roundsOf are st's stages and rounds: as the outcome recorded them once
// there is one, as last published while it waits.
func roundsOf(st approval.State) ([]approval.StageProgress, []approval.ChangeRound) {
	if res := st.Result; res != nil && (len(res.Stages) > 0 || len(res.Rounds) > 0) {
		return res.Stages, res.Rounds
	}
	return st.Progress.Stages, st.Progress.Rounds
}

// currentItem is the item as its requester last resubmitted it.
func currentItem(st approval.State) string {
	switch {
	case st.Result != nil && st.Result.Item != "":
		return st.Result.Item
	case st.Progress.Item != "":
		return st.Progress.Item
	}
	return st.Request.Item
}
