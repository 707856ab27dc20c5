package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/approvals-go/approvals/approval"
)

// Starting an approval: the start request (approval.StartRequest, which
// holds its own rules), the request it makes and the answer.

func (s *server) start(w http.ResponseWriter, r *http.Request) {
	var body approval.StartRequest
	p := readBody(w, r, &body)
	var req approval.Request
	if p == nil {
		var err error
		if req, err = body.Validate(); err != nil {
			p = fieldProblem(err)
		}
	}
	if p == nil && req.CallbackURL != "" {
		if err := s.opts.CheckCallback(req.CallbackURL); err != nil {
			p = &problem{Status: http.StatusBadRequest, Field: "callback_url", Detail: "callback_url " + err.Error()}
		}
	}
	if p != nil {
		writeProblem(w, r, *p)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.CallTimeout)
	defer cancel()
	err := s.orch.Start(ctx, req)
	if errors.Is(err, ErrExists) {
		s.restart(w, r, req)
		return
	}
	if errors.Is(err, ErrBusy) {
		writeProblem(w, r, s.busy(w, r, err))
		return
	}
	if err != nil {
		writeProblem(w, r, *s.schedulerFailed(w, r, "start approval", err))
		return
	}
	s.log.Info("approval started", "id", req.RequestID, "requester", req.Requester, "item", req.Item)
	v := s.view(r, approval.State{ID: req.RequestID, Status: approval.StatusPending, Request: req})
	s.pending(w, v.StatusURI)
	writeJSON(w, http.StatusAccepted, v)
}

// restart answers a start whose id exists. The same request again (a
// retry after a lost answer) is not a conflict: it gets the approval as it
// stands now, like a GET. Other details under that id are.
func (s *server) restart(w http.ResponseWriter, r *http.Request, req approval.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.CallTimeout)
	defer cancel()
	md, err := s.orch.Get(ctx, req.RequestID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		writeProblem(w, r, *s.schedulerFailed(w, r, "read existing approval", err))
		return
	}
	st, isApproval := approval.StateOf(md)
	if err != nil || !isApproval || !st.Request.Same(req) {
		writeProblem(w, r, problem{Status: http.StatusConflict, ID: req.RequestID, Field: "request_id",
			Detail: fmt.Sprintf("an approval with id %q already exists with other details", req.RequestID)})
		return
	}
	s.writeView(w, s.view(r, st))
}
