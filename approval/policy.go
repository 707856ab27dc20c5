package approval

import (
	"fmt"
	"time"
)

// Policy says how the decisions of several approvers make an outcome.
type Policy string

// The policies. Any is the default and the sample's behaviour: the first
// decision decides.
const (
	PolicyAny    Policy = "any"
	PolicyAll    Policy = "all"
	PolicyQuorum Policy = "quorum"
)

// Vote is one person's recorded decision.
type Vote struct {
	Approver string `json:"approver"`
	// Identity is the canonical form the name was compared by, when it
	// differs from the name as given; ObjectID the signed-in principal's
	// object id, when known.
	Identity string `json:"identity,omitempty"`
	ObjectID string `json:"oid,omitempty"`
	Approved bool   `json:"approved"`
	Comments string `json:"comments"`
	At       string `json:"at"`
	// ActingFor, Group, Stage, Round, Channel and Auth are the decision's,
	// as Decision says.
	ActingFor string  `json:"acting_for,omitempty"`
	Group     string  `json:"group,omitempty"`
	Stage     int     `json:"stage,omitempty"`
	Round     int     `json:"round,omitempty"`
	Channel   Channel `json:"channel,omitempty"`
	Auth      Auth    `json:"auth,omitempty"`
}

// Tally is where the votes of an approval stand under its policy.
type Tally struct {
	Policy Policy
	// Required is how many approvals approve: the quorum, or under all the
	// number of approvers named at the start (people escalated to may
	// stand in for any of them).
	Required int
	// Deciders are the people who may decide now, escalation included.
	Deciders []string
	// Reserve counts the people an escalation still to come will add.
	Reserve int
	Votes   []Vote
	// Groups are the request's groups with their counts; a vote counts
	// for the group its Group names (see groups.go for the rule).
	Groups []GroupRule
}

// VoteOf returns who's recorded vote, if any: cast by them, or for them
// by a delegate.
func (t Tally) VoteOf(who string) (Vote, bool) {
	for _, v := range t.Votes {
		if SamePerson(v.Approver, who) || v.ActingFor != "" && SamePerson(v.ActingFor, who) {
			return v, true
		}
	}
	return Vote{}, false
}

// Holds reports whether d is recorded: its approver voted this way, with
// these comments; themselves, not a delegate for them.
func (t Tally) Holds(d Decision) bool {
	in := d.processInput("")
	v, ok := t.VoteOf(in.Approver)
	return ok && SamePerson(v.Approver, in.Approver) && v.Approved == in.IsApproved && v.Comments == in.Comments
}

// Add records v unless its approver has voted already (the first vote of a
// person stands), and reports whether it was recorded.
func (t *Tally) Add(v Vote) bool {
	if _, voted := t.VoteOf(v.Approver); voted {
		return false
	}
	if _, voted := t.VoteOf(v.ActingFor); v.ActingFor != "" && voted {
		return false
	}
	t.Votes = append(t.Votes, v)
	return true
}

// Result reports whether the votes decide the request, and how. Under any
// the first vote decides; under all the first rejection rejects and
// Required approvals approve; under quorum Required approvals approve, and
// the request is rejected once so many have rejected that the quorum can no
// longer be reached, counting the people an escalation will add.
func (t Tally) Result() (decided, approved bool) {
	if len(t.Groups) > 0 {
		return t.groupResult()
	}
	yes, no := 0, 0
	for _, v := range t.Votes {
		if v.Approved {
			yes++
		} else {
			no++
		}
	}
	switch t.Policy {
	case PolicyAll:
		if no > 0 {
			return true, false
		}
		return yes >= max(t.Required, 1), true
	case PolicyQuorum:
		if yes >= max(t.Required, 1) {
			return true, true
		}
		return len(t.Deciders)+t.Reserve-no < t.Required, false
	}
	if len(t.Votes) == 0 {
		return false, false
	}
	return true, t.Votes[0].Approved
}

// Rule says in a sentence how the decisions of an approval under a policy
// make its outcome, as Tally.Result decides it; "" for the sample's rule
// (the first decision decides), which needs no saying.
func (s State) Rule() string {
	if rules := s.GroupRules(); len(rules) > 0 {
		return s.groupRule(rules)
	}
	switch s.Progress.Policy {
	case PolicyAll:
		return "Every approver must approve; one rejection rejects the request."
	case PolicyQuorum:
		n := s.Progress.Required
		return fmt.Sprintf("%d %s needed; the request is rejected once so many approvers have rejected that %d can no longer approve.",
			n, plural(n, "approval is", "approvals are"), n)
	}
	return ""
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Pending lists the deciders who have not voted yet: who a reminder goes to.
func (t Tally) Pending() []string {
	var out []string
	for _, d := range t.Deciders {
		if _, voted := t.VoteOf(d); !voted {
			out = append(out, d)
		}
	}
	return out
}

// validatePolicy checks the policy fields of a request.
func (r Request) validatePolicy() error {
	deciders := r.Deciders()
	switch r.Policy {
	case "", PolicyAny:
		if r.Required != 0 {
			return &FieldError{Field: "required", Reason: "applies only to policy quorum"}
		}
	case PolicyAll:
		if len(deciders) == 0 {
			return &FieldError{Field: "policy", Reason: "all needs the approvers named"}
		}
		if r.Required != 0 {
			return &FieldError{Field: "required", Reason: "applies only to policy quorum"}
		}
	case PolicyQuorum:
		n := len(deciders) + len(r.escalationOnly())
		if r.Required < 1 || r.Required > n {
			return &FieldError{Field: "required", Reason: fmt.Sprintf("must be between 1 and the %d approvers named", n)}
		}
	default:
		return &FieldError{Field: "policy", Reason: "must be any, all or quorum"}
	}
	return nil
}

// Durations bound for reminders and escalation, like timeouts.
const minInterval = time.Second

// parseInterval reads an optional Go duration field of a request.
func parseInterval(field, value string, limit time.Duration) (time.Duration, error) {
	if value == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(value)
	if err != nil {
		return 0, &FieldError{Field: field, Reason: "must be a duration such as 30m or 4h"}
	}
	if d < minInterval || d >= limit {
		return 0, &FieldError{Field: field, Reason: fmt.Sprintf("must be at least %s and less than the timeout", minInterval)}
	}
	return d, nil
}

// RemindInterval is how often pending approvers are reminded; zero means
// never. Validate has checked it.
func (r Request) RemindInterval() time.Duration {
	d, _ := parseInterval("remind_every", r.RemindEvery, r.Timeout())
	return d
}

// EscalationDelay is how long after the submission the request escalates;
// zero means never. Validate has checked it.
func (r Request) EscalationDelay() time.Duration {
	d, _ := parseInterval("escalate_after", r.EscalateAfter, r.Timeout())
	return d
}

// escalationOnly are the escalate_to people not already deciders.
func (r Request) escalationOnly() []string {
	seen := map[string]bool{}
	addPeople(nil, seen, r.Deciders())
	return addPeople(nil, seen, r.EscalateTo)
}

// MaxReminders bounds the reminders one approval sends, and with them its
// history, which grows by about six events a reminder and is replayed
// whole at every step: a year-long approval may still remind daily, but
// not every second. A floor on remind_every rather than continuing as a
// new execution keeps one history per approval for the dashboard and the
// audit, and leaves approvals already waiting replaying as they were.
const MaxReminders = 400

// validateFollowUp checks reminders, escalation and the callback.
func (r Request) validateFollowUp() error {
	every, err := parseInterval("remind_every", r.RemindEvery, r.Timeout())
	if err != nil {
		return err
	}
	if every > 0 && r.Timeout()/every > MaxReminders {
		floor := (r.Timeout() + MaxReminders - 1) / MaxReminders
		if whole := floor.Truncate(time.Second); whole < floor {
			floor = whole + time.Second
		}
		return &FieldError{Field: "remind_every", Reason: fmt.Sprintf("must be at least %s with this timeout, so that at most %d reminders are sent",
			floor, MaxReminders)}
	}
	if _, err := parseInterval("escalate_after", r.EscalateAfter, r.Timeout()); err != nil {
		return err
	}
	if r.CallbackURL != "" && len(CallbackInstanceID(r.RequestID)) > MaxIDLength {
		return &FieldError{Field: "request_id", Reason: fmt.Sprintf("may be at most %d characters with a callback_url, so that the ID of its callback orchestration (%q added) stays within the scheduler's %d",
			MaxIDLength-len(callbackSuffix), callbackSuffix, MaxIDLength)}
	}
	switch {
	case r.EscalateAfter != "" && len(r.EscalateTo) == 0:
		return &FieldError{Field: "escalate_to", Reason: "is required with escalate_after"}
	case r.EscalateAfter == "" && len(r.EscalateTo) > 0:
		return &FieldError{Field: "escalate_after", Reason: "is required with escalate_to"}
	case len(r.EscalateTo) > MaxApprovers:
		return &FieldError{Field: "escalate_to", Reason: fmt.Sprintf("may name at most %d people", MaxApprovers)}
	}
	for _, name := range r.EscalateTo {
		if SamePerson(name, r.Requester) {
			return &FieldError{Field: "escalate_to", Reason: "must not name the requester, who may not decide their own request"}
		}
	}
	return nil
}
