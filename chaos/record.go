package chaos

import (
	"fmt"
	"slices"
	"time"

	"github.com/approvals-go/approvals/approval"
)

// What a run records of each approval: the plan, every request and its
// answer, and the final state, with what the checker reads from them.

// Plan is what a run does with one approval after starting it.
type Plan string

// The plans of the mix. PlanLate decides only after the published
// expires_at; every other plan sends what it sends within the first half
// of the timeout.
const (
	// PlanSingle: one decision.
	PlanSingle Plan = "single"
	// PlanConflict: an approval and a rejection by two people at once.
	PlanConflict Plan = "conflict"
	PlanNone     Plan = "none"
	PlanLate     Plan = "late"
	// PlanVariants: one person sends one decision in two or three
	// spellings of their name, and sometimes the other decision in
	// another.
	PlanVariants Plan = "variants"
	// PlanWithdraw: the requester withdraws, sometimes racing a decision.
	PlanWithdraw Plan = "withdraw"
	// PlanAll and PlanQuorum: policies all and quorum over named
	// approvers, who vote, some twice in other spellings.
	PlanAll    Plan = "all"
	PlanQuorum Plan = "quorum"
)

// Plans are all the plans, in the order the report lists them.
var Plans = []Plan{PlanSingle, PlanConflict, PlanNone, PlanLate, PlanVariants, PlanWithdraw, PlanAll, PlanQuorum}

// Answer is the definitive answer to one request, after retries on
// transport errors and 503.
type Answer struct {
	// Code is the HTTP status; 0 means no definitive answer came before
	// the give-up bound, so the request may or may not have taken effect.
	Code     int `json:"code"`
	Attempts int `json:"attempts"`
	// FirstSent is when the first attempt went out, Sent when the attempt
	// that got Code did, and Answered when that answer arrived.
	FirstSent time.Time `json:"first_sent"`
	Sent      time.Time `json:"sent"`
	Answered  time.Time `json:"answered"`
	// Reason is the problem's reason code (self_decision,
	// not_an_approver, already_decided...), when the answer gave one.
	Reason string `json:"reason,omitempty"`
	// Err is the last transport error or status when Code is 0.
	Err string `json:"err,omitempty"`
}

// Vote is one person's decision as an approval under a policy recorded
// it.
type Vote struct {
	Approver string `json:"approver"`
	Approved bool   `json:"approved"`
	Comments string `json:"comments"`
}

// Outcome is a final state as the API reports it.
type Outcome struct {
	Status approval.Status `json:"status"`
	// Result says whether Approver and Comments are known: a 409 names
	// only the status.
	Result   bool   `json:"result"`
	Approver string `json:"approver,omitempty"`
	Comments string `json:"comments,omitempty"`
	// Votes are the decisions a policy recorded, in the order it did.
	Votes []Vote `json:"votes,omitempty"`
}

func (o Outcome) String() string {
	if o.Result && decisive(o.Status) {
		return fmt.Sprintf("%s by %q (%q)", o.Status, o.Approver, o.Comments)
	}
	return string(o.Status)
}

// decisive reports whether a status names the person whose request ended
// it.
func decisive(s approval.Status) bool {
	return s == approval.StatusApproved || s == approval.StatusRejected || s == approval.StatusWithdrawn
}

// same reports whether two reports of a final state agree, as far as both
// say.
func (o Outcome) same(p Outcome) bool {
	if o.Status != p.Status {
		return false
	}
	if !o.Result || !p.Result || !decisive(o.Status) {
		return true
	}
	return approval.SamePerson(o.Approver, p.Approver) && o.Comments == p.Comments
}

// Decision is one decision or withdrawal request and its answer.
type Decision struct {
	Approved bool   `json:"approved"`
	Approver string `json:"approver"`
	Comments string `json:"comments"`
	// Withdraw marks a withdrawal: Approver is who asks (the requester,
	// in some spelling) and Comments the reason.
	Withdraw bool `json:"withdraw,omitempty"`
	// Forbidden marks a decision by someone who may not decide: the
	// requester, or someone the request does not name.
	Forbidden bool `json:"forbidden,omitempty"`
	// Late is set on decisions deliberately sent after expires_at.
	Late bool `json:"late,omitempty"`
	Answer
	// Reported is the outcome in the body of a 200.
	Reported *Outcome `json:"reported,omitempty"`
}

func (d Decision) String() string {
	verb := "reject"
	switch {
	case d.Withdraw:
		verb = "withdraw"
	case d.Approved:
		verb = "approve"
	}
	return fmt.Sprintf("%s by %q (%q)", verb, d.Approver, d.Comments)
}

// sameContent reports whether two requests are the same decision, as the
// API's idempotency sees them: the same person, however spelt.
func (d Decision) sameContent(e Decision) bool {
	return d.Withdraw == e.Withdraw && (d.Withdraw || d.Approved == e.Approved) &&
		approval.SamePerson(d.Approver, e.Approver) && d.Comments == e.Comments
}

// isVote reports whether v records d.
func (d Decision) isVote(v Vote) bool {
	return !d.Withdraw && d.Approved == v.Approved && approval.SamePerson(d.Approver, v.Approver) && d.Comments == v.Comments
}

// ends reports whether o is d's own outcome: d withdrew it, or under the
// first-decision rule d decided it.
func (d Decision) ends(o Outcome) bool {
	want := approval.StatusRejected
	switch {
	case d.Withdraw:
		want = approval.StatusWithdrawn
	case d.Approved:
		want = approval.StatusApproved
	}
	return o.Status == want && o.Result && approval.SamePerson(o.Approver, d.Approver) && o.Comments == d.Comments
}

// Final is the state an approval was left in once the run settled.
type Final struct {
	// Code is the last answer of GET: 200 final, 202 still pending at the
	// bound, 404 missing, 0 no answer.
	Code      int       `json:"code"`
	Outcome   Outcome   `json:"outcome"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Record is everything a run sent and was told about one approval.
type Record struct {
	ID        string        `json:"id"`
	Plan      Plan          `json:"plan"`
	Timeout   time.Duration `json:"timeout"`
	Requester string        `json:"requester"`
	// Approvers are the people the request named; none means anyone but
	// the requester may decide. Policy and Required are the request's.
	Approvers []string        `json:"approvers,omitempty"`
	Policy    approval.Policy `json:"policy,omitempty"`
	Required  int             `json:"required,omitempty"`
	Start     Answer          `json:"start"`
	Decisions []Decision      `json:"decisions,omitempty"`
	// Published are the distinct expires_at values answers carried while
	// the run went on.
	Published []time.Time `json:"published,omitempty"`
	// Reported are the final states answers reported while the run went
	// on (repeated starts, GETs, the bodies of 200 and 409).
	Reported []Outcome `json:"reported,omitempty"`
	Final    Final     `json:"final"`
}

// deadline is the published expires_at, or zero when none was seen.
func (r Record) deadline() time.Time {
	if !r.Final.ExpiresAt.IsZero() {
		return r.Final.ExpiresAt
	}
	if len(r.Published) > 0 {
		return r.Published[0]
	}
	return time.Time{}
}

// voting reports whether decisions are votes a policy counts, rather
// than the first one deciding.
func (r Record) voting() bool {
	return r.Policy == approval.PolicyAll || r.Policy == approval.PolicyQuorum
}

// taken reports whether d took effect in o: it ended the approval
// (withdrawn, or decided under the first-decision rule), or a policy
// recorded it as its person's vote.
func (r Record) taken(d Decision, o Outcome) bool {
	if d.Withdraw || !r.voting() {
		return d.ends(o)
	}
	return slices.ContainsFunc(o.Votes, d.isVote)
}

// voteOf is who's recorded vote in o, if any.
func voteOf(o Outcome, who string) (Vote, bool) {
	for _, v := range o.Votes {
		if approval.SamePerson(v.Approver, who) {
			return v, true
		}
	}
	return Vote{}, false
}

// decides is the policy applied to votes, written out here rather than
// taken from approval.Tally, so that the product's count is checked
// against an independent one: under all, the first rejection rejects and
// every named approver's approval approves; under quorum, Required
// approvals approve and it is rejected once so many have rejected that
// they no longer can. Each person counts once, however spelt.
func (r Record) decides(votes []Vote) (decided, approved bool) {
	var people []string
	yes, no := 0, 0
	for _, v := range votes {
		if slices.ContainsFunc(people, func(p string) bool { return approval.SamePerson(p, v.Approver) }) {
			continue
		}
		people = append(people, v.Approver)
		if v.Approved {
			yes++
		} else {
			no++
		}
	}
	n := len(r.Approvers)
	switch r.Policy {
	case approval.PolicyAll:
		if no > 0 {
			return true, false
		}
		return yes >= n, true
	case approval.PolicyQuorum:
		if yes >= r.Required {
			return true, true
		}
		return n-no < r.Required, false
	}
	return false, false
}
