package httpapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/approvals-go/approvals/approval"
)

// An approval's status: reading it, and the JSON view every successful
// answer carries.

// approvalView is the body of every successful response.
type approvalView struct {
	ID            string            `json:"id"`
	Status        approval.Status   `json:"status"`
	RequestID     string            `json:"request_id,omitempty"`
	Requester     string            `json:"requester,omitempty"`
	Item          string            `json:"item,omitempty"`
	Approver      string            `json:"approver,omitempty"`
	Approvers     []string          `json:"approvers,omitempty"`
	TimeoutHours  *float64          `json:"timeout_hours,omitempty"`
	CreatedAt     string            `json:"created_at,omitempty"`
	LastUpdatedAt string            `json:"last_updated_at,omitempty"`
	SubmittedAt   string            `json:"submitted_at,omitempty"`
	ExpiresAt     string            `json:"expires_at,omitempty"`
	ApprovalURL   string            `json:"approval_url,omitempty"`
	Result        *approval.Outcome `json:"result,omitempty"`
	Error         string            `json:"error,omitempty"`
	StatusURI     string            `json:"status_uri"`
	DecisionURI   string            `json:"decision_uri,omitempty"`
	// The progress of a request with a policy, reminders or escalation.
	// The callback URL is never shown: it often carries its own secret.
	Policy         approval.Policy `json:"policy,omitempty"`
	Required       int             `json:"required,omitempty"`
	Deciders       []string        `json:"deciders,omitempty"`
	Decisions      []approval.Vote `json:"decisions,omitempty"`
	RemindEvery    string          `json:"remind_every,omitempty"`
	RemindersSent  int             `json:"reminders_sent,omitempty"`
	NextReminderAt string          `json:"next_reminder_at,omitempty"`
	EscalateAfter  string          `json:"escalate_after,omitempty"`
	EscalateTo     []string        `json:"escalate_to,omitempty"`
	EscalatesAt    string          `json:"escalates_at,omitempty"`
	EscalatedAt    string          `json:"escalated_at,omitempty"`
	Callback       bool            `json:"callback,omitempty"`
	WithdrawURI    string          `json:"withdraw_uri,omitempty"`
	// Groups are the request's approver groups with their progress.
	Groups []groupView `json:"groups,omitempty"`
	// Features are what the approval's workflow supports beyond the
	// sample's contract; ExpiresAtDerived says expires_at is worked out,
	// not published by the workflow.
	Features         []approval.Feature `json:"features,omitempty"`
	ExpiresAtDerived bool               `json:"expires_at_derived,omitempty"`
	// Refused are the latest events the orchestrator did not count (who,
	// when, why), RefusedTotal all of them.
	Refused      []approval.RefusedEvent `json:"refused,omitempty"`
	RefusedTotal int                     `json:"refused_total,omitempty"`
	stagesView
}

// get answers an approval: its page to a browser, which decides through
// the decision route with the same function key, and the JSON view to
// everyone else.
func (s *server) get(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	st, ok := s.lookup(w, r, id)
	if !ok {
		return
	}
	if wantsHTML(r) {
		links := s.links(r, id)
		s.approvalPage(w, r, http.StatusOK, st, s.machineForm(r, links.decision))
		return
	}
	s.writeView(w, s.view(r, st))
}

// writeView answers with an approval: 202 with polling headers while it is
// pending, 200 once its outcome is known.
func (s *server) writeView(w http.ResponseWriter, v approvalView) {
	if v.Status == approval.StatusPending {
		s.pending(w, v.StatusURI)
		writeJSON(w, http.StatusAccepted, v)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// lookup reads an approval, answering 404 or 503 itself when it cannot.
func (s *server) lookup(w http.ResponseWriter, r *http.Request, id string) (approval.State, bool) {
	st, p := s.read(w, r, id)
	if p != nil {
		writeProblem(w, r, *p)
		return approval.State{}, false
	}
	return st, true
}

// read reads an approval, or says why it cannot: 404 or 503.
func (s *server) read(w http.ResponseWriter, r *http.Request, id string) (approval.State, *problem) {
	if approval.ValidateID(id) != nil {
		return approval.State{}, notFound(id)
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.CallTimeout)
	defer cancel()
	md, err := s.orch.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return approval.State{}, notFound(id)
	}
	if err != nil {
		return approval.State{}, s.schedulerFailed(w, r, "read approval", err)
	}
	st, ok := approval.StateOf(md)
	if !ok {
		return approval.State{}, notFound(id)
	}
	return st, nil
}

func notFound(id string) *problem {
	return &problem{Status: http.StatusNotFound, ID: id, Detail: fmt.Sprintf("no approval has id %q", id)}
}

// view renders an approval as the API's JSON.
func (s *server) view(r *http.Request, st approval.State) approvalView {
	links := s.links(r, st.ID)
	req := st.Request
	v := approvalView{ID: st.ID, Status: st.Status, StatusURI: links.status,
		RequestID: req.RequestID, Requester: req.Requester, Item: currentItem(st), Approver: req.Approver,
		Approvers: req.Approvers, TimeoutHours: req.TimeoutHours, ApprovalURL: st.ApprovalURL, Result: st.Result, Error: st.Error,
		CreatedAt: formatTime(st.CreatedAt), LastUpdatedAt: formatTime(st.LastUpdatedAt),
		SubmittedAt: formatTime(st.SubmittedAt), ExpiresAt: formatTime(st.ExpiresAt)}
	if st.Pending() {
		v.DecisionURI = links.decision
		if st.Supports(approval.FeatureWithdraw) {
			v.WithdrawURI = links.withdraw
		}
	}
	v.Features, v.ExpiresAtDerived = st.Progress.Features, st.DeadlineDerived
	v.Policy, v.Required = req.Policy, req.Required
	if v.Policy == approval.PolicyAll {
		v.Required = len(req.Deciders())
	}
	v.RemindEvery, v.EscalateAfter, v.EscalateTo, v.Callback = req.RemindEvery, req.EscalateAfter, req.EscalateTo, req.CallbackURL != ""
	p := st.Progress
	v.Decisions, v.RemindersSent, v.NextReminderAt, v.EscalatesAt, v.EscalatedAt = p.Decisions, p.RemindersSent, p.NextReminderAt, p.EscalatesAt, p.EscalatedAt
	v.Refused, v.RefusedTotal = p.Refused, p.RefusedTotal
	if st.Result != nil && len(st.Result.Decisions) > 0 {
		v.Decisions = st.Result.Decisions
	}
	if len(p.Approvers) > 0 {
		v.Deciders = p.Approvers
	}
	v.Groups = groupsView(st)
	v.stagesView = s.stagesOf(r, st)
	return v
}

// formatTime renders a known time; a zero one is left out.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return approval.FormatTime(t)
}

// pending sets the headers of the Durable Functions async pattern.
func (s *server) pending(w http.ResponseWriter, statusURI string) {
	w.Header().Set("Location", statusURI)
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(s.opts.RetryAfter.Seconds()))))
}
