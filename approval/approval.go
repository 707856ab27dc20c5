// Package approval is the domain of the human-approval workflow: the request
// a person must decide on, the decision they send, the outcome, and the
// orchestrator and activities that wait for it.
//
// The names and JSON shapes here are the wire contract shared with the Python
// sample this project ports: a client written for that sample can drive this
// worker, and the other way round.
package approval

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"
)

// Names registered with the scheduler. They are part of the wire contract.
const (
	OrchestratorName    = "human_interaction_orchestrator"
	SubmitActivityName  = "submit_approval_request"
	ProcessActivityName = "process_approval"
	DecisionEventName   = "approval_response"
)

// DefaultTimeoutHours applies when a request does not say how long to wait.
const DefaultTimeoutHours = 24.0

// MaxTimeout bounds how long an approval may wait, so a typo cannot park an
// orchestration for centuries; MinTimeout keeps a slip such as "1ns" from
// timing an approval out before anyone could see it.
const (
	MaxTimeout = 366 * 24 * time.Hour
	MinTimeout = time.Second
)

// UnknownApprover is recorded when a decision does not name who made it.
const UnknownApprover = "Unknown"

// Status is where an approval stands.
type Status string

// The statuses an approval moves through. Pending is the only one that is
// not final. Terminated and Failed end an approval without a decision:
// Terminated when someone terminated its orchestration (with a reason),
// Failed when its workflow failed or finished without a readable outcome.
const (
	StatusPending    Status = "Pending"
	StatusApproved   Status = "Approved"
	StatusRejected   Status = "Rejected"
	StatusTimeout    Status = "Timeout"
	StatusFailed     Status = "Failed"
	StatusWithdrawn  Status = "Withdrawn"
	StatusTerminated Status = "Terminated"
)

// Request is the orchestration input. Approver and Approvers are optional
// extras over the sample's contract: when either names someone, only the
// people named may decide.
type Request struct {
	RequestID    string   `json:"request_id"`
	Requester    string   `json:"requester"`
	Item         string   `json:"item"`
	TimeoutHours *float64 `json:"timeout_hours,omitempty"`
	Approver     string   `json:"approver,omitempty"`
	Approvers    []string `json:"approvers,omitempty"`
	// Policy, with Required for a quorum, says how several approvers'
	// decisions make the outcome; none means the first decides.
	Policy   Policy `json:"policy,omitempty"`
	Required int    `json:"required,omitempty"`
	// RemindEvery re-notifies the approvers who have not decided, and
	// EscalateAfter brings EscalateTo in, both Go durations.
	RemindEvery   string   `json:"remind_every,omitempty"`
	EscalateAfter string   `json:"escalate_after,omitempty"`
	EscalateTo    []string `json:"escalate_to,omitempty"`
	// CallbackURL is told the final status when the approval ends.
	CallbackURL string `json:"callback_url,omitempty"`
	// Groups are approver groups with how many of each must approve
	// (2 from finance and 1 from security), beside or instead of the
	// people named.
	Groups []GroupRule `json:"groups,omitempty"`
	// Stages, when given, are the request's steps in order, each with its
	// own approvers, policy and deadline, in place of the fields above
	// that say who decides and by when: a stage starts when the one before
	// approves, and a rejection ends the request.
	Stages []Stage `json:"stages,omitempty"`
	// AllowChanges lets an approver send the request back for changes
	// (ActionRequestChanges) and its requester resubmit it; Stages allow
	// it always.
	AllowChanges bool `json:"allow_changes,omitempty"`
}

// GroupRule asks for Required approvals from members of Group.
type GroupRule struct {
	Group    string `json:"group"`
	Required int    `json:"required,omitempty"`
}

// Stage is one step of a request with stages: who decides it, how their
// decisions make its outcome, and by when, as the same fields of Request
// say for a request without stages.
type Stage struct {
	Name          string      `json:"name,omitempty"`
	Approvers     []string    `json:"approvers,omitempty"`
	Groups        []GroupRule `json:"groups,omitempty"`
	Policy        Policy      `json:"policy,omitempty"`
	Required      int         `json:"required,omitempty"`
	TimeoutHours  *float64    `json:"timeout_hours,omitempty"`
	RemindEvery   string      `json:"remind_every,omitempty"`
	EscalateAfter string      `json:"escalate_after,omitempty"`
	EscalateTo    []string    `json:"escalate_to,omitempty"`
}

// MaxApprovers bounds the people one request may name.
const MaxApprovers = 50

// Deciders are the people who may decide: Approver and Approvers, groups
// ("group:finance") left out, each person once (names compare by
// CanonicalName), as first written. None, and no groups, means anyone but
// the requester may.
func (r Request) Deciders() []string {
	return addPeople(nil, map[string]bool{}, append([]string{r.Approver}, people(r.Approvers)...))
}

// Counting reports whether the request asks for several decisions to be
// counted (policy all or quorum, or groups) rather than the first one
// deciding.
func (r Request) Counting() bool {
	return r.Policy == PolicyAll || r.Policy == PolicyQuorum || len(r.GroupRules()) > 0
}

// Timeout is how long the orchestrator waits for a decision.
func (r Request) Timeout() time.Duration {
	hours := DefaultTimeoutHours
	if r.TimeoutHours != nil {
		hours = *r.TimeoutHours
	}
	return hoursDuration(hours)
}

// hoursDuration is h hours to the nearest nanosecond, or the longest
// duration when h is longer. Rounding rather than truncating keeps a
// whole number of seconds given in hours (1/3600 is not exact in binary)
// from coming out a nanosecond short.
func hoursDuration(h float64) time.Duration {
	ns := math.Round(h * float64(time.Hour))
	if ns >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(ns)
}

// ValidateTimeout reports whether an approval may wait d: from MinTimeout
// to MaxTimeout, compared as durations, exactly. A timeout given as a
// duration is checked here before it becomes hours, where 8784h1ns would
// round to the limit itself.
func ValidateTimeout(d time.Duration) error {
	switch {
	case d < MinTimeout:
		return &FieldError{Field: "timeout_hours", Reason: fmt.Sprintf("must be at least %s", MinTimeout)}
	case d > MaxTimeout:
		return &FieldError{Field: "timeout_hours", Reason: fmt.Sprintf("must be at most %g hours (%d days)", MaxTimeout.Hours(), MaxTimeout/(24*time.Hour))}
	}
	return nil
}

// Validate reports the first field that makes the request unusable.
func (r Request) Validate() error {
	switch {
	case strings.TrimSpace(r.Requester) == "":
		return &FieldError{Field: "requester", Reason: "is required"}
	case strings.TrimSpace(r.Item) == "":
		return &FieldError{Field: "item", Reason: "is required"}
	}
	if err := r.validateStages(); err != nil {
		return err
	}
	return r.validateDeciding()
}

// validateDeciding checks who decides and by when: a request's own
// fields, or one stage's through stageRequest.
func (r Request) validateDeciding() error {
	if len(r.Approvers) > MaxApprovers {
		return &FieldError{Field: "approvers", Reason: fmt.Sprintf("may name at most %d people", MaxApprovers)}
	}
	if err := r.validateNames(); err != nil {
		return err
	}
	if err := r.validateGroups(); err != nil {
		return err
	}
	if d := r.Deciders(); len(d) == 1 && SamePerson(d[0], r.Requester) {
		field := "approver"
		if strings.TrimSpace(r.Approver) == "" {
			field = "approvers"
		}
		return &FieldError{Field: field, Reason: "names only the requester, who may not decide their own request"}
	}
	if r.TimeoutHours != nil {
		h := *r.TimeoutHours
		if math.IsNaN(h) || math.IsInf(h, 0) || h <= 0 {
			return &FieldError{Field: "timeout_hours", Reason: "must be a positive number of hours"}
		}
		if err := ValidateTimeout(hoursDuration(h)); err != nil {
			return err
		}
	}
	if err := r.validatePolicy(); err != nil {
		return err
	}
	return r.validateFollowUp()
}

// validateNames checks that every person the request names is usable as
// an identity.
func (r Request) validateNames() error {
	if err := checkName("requester", r.Requester); err != nil {
		return err
	}
	if strings.TrimSpace(r.Approver) != "" {
		if err := checkName("approver", r.Approver); err != nil {
			return err
		}
	}
	for _, list := range []struct {
		field string
		names []string
	}{{"approvers", r.Approvers}, {"escalate_to", r.EscalateTo}} {
		field := list.field
		for _, name := range list.names {
			if strings.TrimSpace(name) == "" {
				return &FieldError{Field: field, Reason: "must not hold an empty name"}
			}
			if err := checkName(field, name); err != nil {
				return err
			}
		}
	}
	return nil
}

// Submission is what the submit activity reports; the orchestrator also
// publishes it as its custom status while it waits, with ExpiresAt added.
type Submission struct {
	RequestID   string `json:"request_id"`
	Status      Status `json:"status"`
	SubmittedAt string `json:"submitted_at"`
	ApprovalURL string `json:"approval_url"`
	// ExpiresAt is the deadline: exactly when the orchestrator's timer
	// fires. Only the orchestrator knows it, so the activity leaves it out.
	ExpiresAt string `json:"expires_at,omitempty"`

	// The progress of a request with a policy, reminders or escalation,
	// published by the orchestrator as it goes; left out otherwise, so the
	// sample's requests keep the sample's custom status.
	Policy         Policy   `json:"policy,omitempty"`
	Required       int      `json:"required,omitempty"`
	Approvers      []string `json:"approvers,omitempty"`
	Decisions      []Vote   `json:"decisions,omitempty"`
	RemindersSent  int      `json:"reminders_sent,omitempty"`
	NextReminderAt string   `json:"next_reminder_at,omitempty"`
	EscalatesAt    string   `json:"escalates_at,omitempty"`
	EscalatedAt    string   `json:"escalated_at,omitempty"`

	// Refused are the latest events the orchestrator refused (at most
	// 20), and RefusedTotal counts them all: who sent them is told, and an
	// operator sees who tried what.
	Refused      []RefusedEvent `json:"refused,omitempty"`
	RefusedTotal int            `json:"refused_total,omitempty"`

	// Features are what this approval's workflow supports beyond the
	// sample's contract, so that the API offers only what it will honour:
	// a worker keeping the sample's contract publishes none.
	Features []Feature `json:"features,omitempty"`

	// Stage is the current stage (from 1) of a request with stages, and
	// Stages where each stands. Round is the current round of a request
	// that may be sent back for changes (from 1), ChangesRequested says it
	// waits for its requester to resubmit, and Rounds are the times it was
	// sent back. Item is the item as last resubmitted, when it changed.
	Stage            int             `json:"stage,omitempty"`
	Stages           []StageProgress `json:"stages,omitempty"`
	Round            int             `json:"round,omitempty"`
	ChangesRequested bool            `json:"changes_requested,omitempty"`
	Rounds           []ChangeRound   `json:"rounds,omitempty"`
	Item             string          `json:"item,omitempty"`

	// NoticesDeferred is the submit activity telling the orchestrator that
	// it sent no notices, because it was asked to leave them to it. The
	// orchestrator clears it before it publishes the status.
	NoticesDeferred bool `json:"notices_deferred,omitempty"`
}

// trail is the request's Trail as published so far. Submission holds its
// fields one by one, not embedded, because the custom status has always
// written stage before stages and round before rounds.
func (s Submission) trail() Trail {
	return Trail{Stages: s.Stages, Rounds: s.Rounds, Item: s.Item}
}

// Feature is something a workflow supports beyond the sample's contract.
type Feature string

// FeatureWithdraw: the requester may withdraw the request.
const FeatureWithdraw Feature = "withdraw"

// RefusedEvent is an event the orchestrator did not count, and why.
type RefusedEvent struct {
	Approver string `json:"approver,omitempty"`
	Reason   Reason `json:"reason"`
	Detail   string `json:"detail"`
	At       string `json:"at"`
}

// SubmitInput is the submit activity's input: the request, and whether the
// orchestrator sends the notices itself once the request is waiting.
type SubmitInput struct {
	Request
	DeferNotices bool `json:"defer_notices,omitempty"`
}

// FieldError names a field of a request or decision and what is wrong with
// it: the field and Reason make a sentence, unless Message is the whole
// sentence.
type FieldError struct {
	Field   string
	Reason  string
	Message string
}

func (e *FieldError) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return e.Field + " " + e.Reason
}

// AsFieldError reports whether err is, or wraps, a FieldError.
func AsFieldError(err error) (*FieldError, bool) {
	var fe *FieldError
	ok := errors.As(err, &fe)
	return fe, ok
}

// FormatTime renders a timestamp the way the wire contract expects: RFC 3339
// in UTC.
func FormatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

// Same reports whether o asks for the same approval as r: a start repeated
// after a lost answer, rather than another request under the same id.
// Every field counts, so a field added to Request counts without a change
// here; only the deadline is compared as the wait it makes (24 given or
// left to the default is one wait), and an empty list as none.
func (r Request) Same(o Request) bool {
	return reflect.DeepEqual(r.compared(), o.compared())
}

// comparedRequest is a Request as Same compares it.
type comparedRequest struct {
	Request
	timeout time.Duration
}

func (r Request) compared() comparedRequest {
	c := comparedRequest{Request: r, timeout: r.Timeout()}
	c.TimeoutHours = nil
	if len(r.Approvers) == 0 {
		c.Approvers = nil
	}
	if len(r.EscalateTo) == 0 {
		c.EscalateTo = nil
	}
	return c
}
