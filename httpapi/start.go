package httpapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/approvals-go/approvals/approval"
)

// Starting an approval: the start route's fields, the request they make
// and the answer.

var startFields = map[string]kind{
	"request_id":     kindString,
	"requester":      kindString,
	"item":           kindString,
	"approver":       kindString,
	"approvers":      kindStrings,
	"timeout_hours":  kindNumber,
	"timeout":        kindString,
	"policy":         kindString,
	"required":       kindNumber,
	"remind_every":   kindString,
	"escalate_after": kindString,
	"escalate_to":    kindStrings,
	"callback_url":   kindString,
}

func (s *server) start(w http.ResponseWriter, r *http.Request) {
	f, p := readFields(w, r, startFields)
	if p != nil {
		writeProblem(w, r, *p)
		return
	}
	req, p := requestFrom(f)
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

// requestFrom validates the start fields and applies the defaults.
func requestFrom(f fields) (approval.Request, *problem) {
	req := approval.Request{}
	req.RequestID, _ = f.str("request_id")
	req.Requester, _ = f.str("requester")
	req.Item, _ = f.str("item")
	req.Approver, _ = f.str("approver")
	req.Approvers, _ = f.strs("approvers")
	policy, _ := f.str("policy")
	req.Policy = approval.Policy(strings.ToLower(policy))
	req.RemindEvery, _ = f.str("remind_every")
	req.EscalateAfter, _ = f.str("escalate_after")
	req.EscalateTo, _ = f.strs("escalate_to")
	req.CallbackURL, _ = f.str("callback_url")
	if n, ok := f.num("required"); ok {
		if n != math.Trunc(n) || n < 1 || n > approval.MaxApprovers {
			return req, &problem{Status: http.StatusBadRequest, Field: "required", Detail: "required must be a whole number of approvers"}
		}
		req.Required = int(n)
	}
	if req.RequestID == "" {
		req.RequestID = uuid.NewString()
	} else if err := approval.ValidateID(req.RequestID); err != nil {
		return req, startProblem(err, false)
	}
	hours, hasHours := f.num("timeout_hours")
	timeout, hasTimeout := f.str("timeout")
	switch {
	case hasHours && hasTimeout:
		return req, &problem{Status: http.StatusBadRequest, Field: "timeout",
			Detail: "give timeout_hours or timeout, not both"}
	case hasHours:
		req.TimeoutHours = &hours
	case hasTimeout:
		d, err := time.ParseDuration(timeout)
		if err != nil {
			return req, &problem{Status: http.StatusBadRequest, Field: "timeout",
				Detail: fmt.Sprintf("timeout %q is not a duration such as 90s, 30m or 48h", timeout)}
		}
		if err := approval.ValidateTimeout(d); err != nil {
			return req, startProblem(err, true)
		}
		h := d.Hours()
		req.TimeoutHours = &h
	}
	if err := req.Validate(); err != nil {
		return req, startProblem(err, hasTimeout)
	}
	return req, nil
}

// startProblem is the 400 for a start the domain refused, naming the
// field at fault. Its limits on timeout_hours are told against timeout
// when the start gave that instead.
func startProblem(err error, hasTimeout bool) *problem {
	p := &problem{Status: http.StatusBadRequest, Detail: err.Error()}
	if fe, ok := approval.AsFieldError(err); ok {
		p.Field = fe.Field
		if p.Field == "timeout_hours" && hasTimeout {
			p.Field, p.Detail = "timeout", "timeout "+fe.Reason
		}
	}
	return p
}
