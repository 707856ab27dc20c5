package approval

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"
)

// The requests people and programs send: to start an approval, to decide
// it, to withdraw it. The HTTP API decodes a body (JSON or a form, by the
// json names below, which are the contract) into one of these and asks
// its methods whether it may be used; it knows no field by name. A field
// added to Request is therefore taken by the start route as it is.

// StartRequest is a start as a client sends it: a Request, whose deadline
// may be given as a duration instead of in hours.
type StartRequest struct {
	Request
	// Required is read as any number, in place of Request.Required, so
	// that 0 or 1.5 is refused by name rather than taken as "not given"
	// or cut to a whole number.
	Required *float64 `json:"required"`
	// Timeout is the deadline as a Go duration such as 48h, instead of
	// TimeoutHours.
	Timeout *string `json:"timeout"`
}

// Validate checks a start and makes it the Request the approval starts
// with: the deadline in hours, the policy's name in lower case, and a new
// UUID as its id when the client gave none. A fault in the deadline is
// told against the field the client used.
func (s StartRequest) Validate() (Request, error) {
	req := s.Request
	req.Policy = Policy(strings.ToLower(string(req.Policy)))
	req.Stages = append([]Stage(nil), req.Stages...)
	for i := range req.Stages {
		req.Stages[i].Policy = Policy(strings.ToLower(string(req.Stages[i].Policy)))
	}
	if s.Required != nil {
		n := *s.Required
		if n != math.Trunc(n) || n < 1 || n > MaxApprovers {
			return req, &FieldError{Field: "required", Reason: "must be a whole number of approvers"}
		}
		req.Required = int(n)
	}
	if req.RequestID == "" {
		req.RequestID = uuid.NewString()
	} else if err := ValidateID(req.RequestID); err != nil {
		return req, err
	}
	if s.Timeout != nil {
		if req.TimeoutHours != nil {
			return req, &FieldError{Field: "timeout", Message: "give timeout_hours or timeout, not both"}
		}
		d, err := time.ParseDuration(*s.Timeout)
		if err != nil {
			return req, &FieldError{Field: "timeout", Reason: fmt.Sprintf("%q is not a duration such as 90s, 30m or 48h", *s.Timeout)}
		}
		if err := ValidateTimeout(d); err != nil {
			return req, s.asGiven(err)
		}
		h := d.Hours()
		req.TimeoutHours = &h
	}
	if err := req.Validate(); err != nil {
		return req, s.asGiven(err)
	}
	return req, nil
}

// asGiven tells a fault in timeout_hours against timeout when the start
// gave that instead.
func (s StartRequest) asGiven(err error) error {
	if fe, ok := AsFieldError(err); ok && fe.Field == "timeout_hours" && s.Timeout != nil {
		return &FieldError{Field: "timeout", Reason: fe.Reason}
	}
	return err
}

// DecisionRequest is a decision as a person sends it: on the decision
// route, or by the review page's form. Who the approver is, is the HTTP
// API's to verify: Approver is only the name the body gives.
type DecisionRequest struct {
	Approved *bool  `json:"approved"`
	Approver string `json:"approver"`
	Comments string `json:"comments"`
	// Group is the approver group the person decides for, when they are
	// a member of several the request names; optional.
	Group string `json:"group,omitempty"`
	// Stage and Round, when given, are the stage and round of changes
	// the approver saw: the request must still be there.
	Stage int `json:"stage"`
	Round int `json:"round"`
}

// Validate reports what makes a decision unusable: it must say approved
// or not.
func (d DecisionRequest) Validate() error {
	if d.Approved == nil {
		return &FieldError{Field: "approved", Reason: "is required: true or false"}
	}
	if d.Group != "" {
		if _, err := CanonicalGroup(d.Group); err != nil {
			return &FieldError{Field: "group", Reason: err.Error()}
		}
	}
	return nil
}

// Decision is the event that carries d, from the person who (with the
// principal's object id oid, when signed in). d must be valid.
func (d DecisionRequest) Decision(who, oid string) Decision {
	approved := *d.Approved
	return Decision{IsApproved: &approved, Approver: &who, ApproverOID: oid, Comments: d.Comments, Group: d.Group, Stage: d.Stage, Round: d.Round}
}

// WithdrawRequest is a requester taking their request back, and why.
type WithdrawRequest struct {
	Requester string `json:"requester"`
	Reason    string `json:"reason"`
}

// Decision is the event that withdraws the approval, from the person who
// (with the principal's object id oid, when signed in).
func (w WithdrawRequest) Decision(who, oid string) Decision {
	return Decision{Action: ActionWithdraw, Approver: &who, ApproverOID: oid, Comments: w.Reason}
}
