package chaos

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/approvals-go/approvals/approval"
)

// Plan is what a run does with one approval after starting it.
type Plan string

// The plans of the mix. Only PlanSingle and PlanConflict decide before the
// deadline; PlanLate decides only after the published expires_at.
const (
	PlanSingle   Plan = "single"
	PlanConflict Plan = "conflict"
	PlanNone     Plan = "none"
	PlanLate     Plan = "late"
)

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
	// Err is the last transport error or status when Code is 0.
	Err string `json:"err,omitempty"`
}

// Outcome is a final state as the API reports it.
type Outcome struct {
	Status approval.Status `json:"status"`
	// Result says whether Approver and Comments are known: a 409 names
	// only the status.
	Result   bool   `json:"result"`
	Approver string `json:"approver,omitempty"`
	Comments string `json:"comments,omitempty"`
}

func (o Outcome) String() string {
	if o.Result && (o.Status == approval.StatusApproved || o.Status == approval.StatusRejected) {
		return fmt.Sprintf("%s by %q (%q)", o.Status, o.Approver, o.Comments)
	}
	return string(o.Status)
}

// same reports whether two reports of a final state agree, as far as both
// say.
func (o Outcome) same(p Outcome) bool {
	if o.Status != p.Status {
		return false
	}
	if !o.Result || !p.Result || (o.Status != approval.StatusApproved && o.Status != approval.StatusRejected) {
		return true
	}
	return strings.EqualFold(o.Approver, p.Approver) && o.Comments == p.Comments
}

// Decision is one decision request and its answer.
type Decision struct {
	Approved bool   `json:"approved"`
	Approver string `json:"approver"`
	Comments string `json:"comments"`
	// Late is set on decisions deliberately sent after expires_at.
	Late bool `json:"late,omitempty"`
	Answer
	// Reported is the outcome in the body of a 200.
	Reported *Outcome `json:"reported,omitempty"`
}

func (d Decision) String() string {
	verb := "reject"
	if d.Approved {
		verb = "approve"
	}
	return fmt.Sprintf("%s by %q (%q)", verb, d.Approver, d.Comments)
}

// is reports whether o is this decision's outcome.
func (d Decision) is(o Outcome) bool {
	want := approval.StatusRejected
	if d.Approved {
		want = approval.StatusApproved
	}
	return o.Status == want && o.Result && strings.EqualFold(o.Approver, d.Approver) && o.Comments == d.Comments
}

// sameContent reports whether two decisions are the same decision, as the
// API's idempotency sees them.
func (d Decision) sameContent(e Decision) bool {
	return d.Approved == e.Approved && strings.EqualFold(d.Approver, e.Approver) && d.Comments == e.Comments
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
	Start     Answer        `json:"start"`
	Decisions []Decision    `json:"decisions,omitempty"`
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

// Finding is one loss or contradiction.
type Finding struct {
	ID string `json:"id"`
	// Kind is "lost" or "wrong".
	Kind   string `json:"kind"`
	Rule   string `json:"rule"`
	Detail string `json:"detail"`
}

// Counts are the figures of a run. Lost and Wrong count approvals, each
// with one finding or more.
type Counts struct {
	Approvals    int          `json:"approvals"`
	Plans        map[Plan]int `json:"plans"`
	Started      int          `json:"started"`
	StartUnknown int          `json:"start_unknown"`
	Decisions    int          `json:"decisions"`
	// Answers counts decision answers by status code; "unknown" is a
	// decision that got none.
	Answers map[string]int `json:"answers"`
	// Accepted are decisions answered 200 or 202.
	Accepted int `json:"accepted"`
	// Conflicts are approvals that got conflicting decisions; Settled
	// those of them where exactly one was answered 200 and every other 409.
	Conflicts int                     `json:"conflicts"`
	Settled   int                     `json:"conflicts_settled"`
	Outcomes  map[approval.Status]int `json:"outcomes"`
	Timeouts  int                     `json:"timeouts"`
	// Retries are attempts beyond the first, over starts and decisions.
	Retries int `json:"retries"`
	Lost    int `json:"lost"`
	Wrong   int `json:"wrong"`
	// Unknown are requests that got no definitive answer, and late plans
	// whose deadline was never learnt.
	Unknown int `json:"unknown"`
}

// Verdict is what Check finds.
type Verdict struct {
	Counts   Counts    `json:"counts"`
	Findings []Finding `json:"findings"`
}

func started(code int) bool { return code == http.StatusOK || code == http.StatusAccepted }

// Check holds every answer of a run against the final states.
//
// A rule flags only what the API contract rules out, so on a correct
// system it finds nothing however the processes were killed:
//   - lost: missing (an accepted start, 404 at the end); never-final (an
//     approval that exists but is not final within the bound).
//   - wrong: start-refused (a start answered other than 200/202; every
//     repeat carries the same details); unexpected-answer (a decision
//     answered outside 200/202/409 for an approval that exists);
//     200-not-outcome; 200-body-not-this-decision; 409-is-outcome (a
//     refused decision that is the outcome, when no accepted decision has
//     its content); 409-before-deadline (refused before expires_at, yet no
//     decision won and it timed out); late-accepted (sent after expires_at,
//     answered 200/202); accepted-lost (decisions answered 200/202 and the
//     outcome is none of them nor one left unanswered, for example
//     Timeout); outcome-not-sent (Approved/Rejected by a decision nobody
//     sent); failed; final-without-result; reported-other-outcome (an
//     answer during the run named another final state); expires-at-moved.
func Check(recs []Record) Verdict {
	v := Verdict{Counts: Counts{
		Approvals: len(recs),
		Plans:     map[Plan]int{},
		Answers:   map[string]int{},
		Outcomes:  map[approval.Status]int{},
	}, Findings: []Finding{}}
	for _, r := range recs {
		fs := check(r, &v.Counts)
		var lost, wrong bool
		for _, f := range fs {
			lost = lost || f.Kind == "lost"
			wrong = wrong || f.Kind == "wrong"
		}
		if lost {
			v.Counts.Lost++
		}
		if wrong {
			v.Counts.Wrong++
		}
		v.Findings = append(v.Findings, fs...)
	}
	return v
}

// check checks one record, adding its figures to c.
func check(r Record, c *Counts) []Finding {
	var fs []Finding
	add := func(kind, rule, format string, args ...any) {
		fs = append(fs, Finding{ID: r.ID, Kind: kind, Rule: rule, Detail: fmt.Sprintf(format, args...)})
	}
	c.Plans[r.Plan]++
	c.Retries += max(r.Start.Attempts-1, 0)
	switch {
	case r.Start.Code == 0:
		c.StartUnknown++
		c.Unknown++
	case started(r.Start.Code):
		c.Started++
	default:
		add("wrong", "start-refused", "start answered %d, though every attempt carried the same details", r.Start.Code)
	}
	deadline := r.deadline()
	var accepted, unanswered []Decision
	contents := 0
	late := false
	for i, d := range r.Decisions {
		c.Decisions++
		c.Retries += max(d.Attempts-1, 0)
		if d.Code == 0 {
			c.Answers["unknown"]++
			c.Unknown++
			unanswered = append(unanswered, d)
		} else {
			c.Answers[fmt.Sprint(d.Code)]++
		}
		if started(d.Code) {
			c.Accepted++
		}
		late = late || d.Late
		if !slices.ContainsFunc(r.Decisions[:i], d.sameContent) {
			contents++
		}
		if d.Late && started(d.Code) && !deadline.IsZero() && d.Sent.After(deadline) {
			add("wrong", "late-accepted", "%s sent %s after expires_at %s was answered %d",
				d, d.Sent.Sub(deadline).Round(time.Millisecond), deadline.Format(time.RFC3339Nano), d.Code)
			continue
		}
		if started(d.Code) {
			accepted = append(accepted, d)
		}
	}
	if r.Plan == PlanLate && !late && started(r.Start.Code) {
		c.Unknown++
	}
	if contents > 1 {
		c.Conflicts++
		if settled(r.Decisions) {
			c.Settled++
		}
	}

	switch r.Final.Code {
	case http.StatusOK:
	case http.StatusNotFound:
		if started(r.Start.Code) || len(accepted) > 0 {
			add("lost", "missing", "start answered %d, but the approval is unknown (404) at the end", r.Start.Code)
		}
		return fs
	default:
		if started(r.Start.Code) || r.Final.Code == http.StatusAccepted {
			add("lost", "never-final", "not final within the bound after the last restart (last GET %d)", r.Final.Code)
		}
		return fs
	}

	out := r.Final.Outcome
	c.Outcomes[out.Status]++
	for _, rep := range r.Reported {
		if !rep.same(out) {
			add("wrong", "reported-other-outcome", "an answer during the run reported %s, the approval ended %s", rep, out)
			break
		}
	}
	for _, p := range append(slices.Clone(r.Published), r.Final.ExpiresAt) {
		if !p.IsZero() && !p.Equal(deadline) {
			add("wrong", "expires-at-moved", "expires_at was published as %s and as %s",
				p.Format(time.RFC3339Nano), deadline.Format(time.RFC3339Nano))
			break
		}
	}
	switch out.Status {
	case approval.StatusTimeout:
		c.Timeouts++
	case approval.StatusFailed:
		add("wrong", "failed", "the approval ended Failed")
		return fs
	case approval.StatusApproved, approval.StatusRejected:
		if !out.Result {
			add("wrong", "final-without-result", "ended %s without a result naming the approver", out.Status)
			return fs
		}
	default:
		add("wrong", "final-without-result", "GET answered 200 with status %q", out.Status)
		return fs
	}

	for _, d := range r.Decisions {
		switch {
		case d.Code == http.StatusOK:
			if !d.is(out) {
				add("wrong", "200-not-outcome", "%s was answered 200, the approval ended %s", d, out)
			}
			if d.Reported != nil && !d.is(*d.Reported) {
				add("wrong", "200-body-not-this-decision", "%s was answered 200 with a body saying %s", d, *d.Reported)
			}
		case d.Code == http.StatusConflict:
			if d.is(out) && !slices.ContainsFunc(accepted, d.sameContent) {
				add("wrong", "409-is-outcome", "%s was answered 409, yet it is the outcome", d)
			}
			if out.Status == approval.StatusTimeout && !deadline.IsZero() && d.Answered.Before(deadline) {
				add("wrong", "409-before-deadline", "%s was answered 409 %s before expires_at, yet nothing won and it timed out",
					d, deadline.Sub(d.Answered).Round(time.Millisecond))
			}
		case d.Code == http.StatusAccepted || d.Code == 0:
		default:
			add("wrong", "unexpected-answer", "%s was answered %d", d, d.Code)
		}
	}
	if len(accepted) > 0 && !slices.ContainsFunc(accepted, func(d Decision) bool { return d.is(out) }) &&
		!slices.ContainsFunc(unanswered, func(d Decision) bool { return d.is(out) }) {
		add("wrong", "accepted-lost", "ended %s although %s", out, describe(accepted, deadline))
	}
	if (out.Status == approval.StatusApproved || out.Status == approval.StatusRejected) &&
		!slices.ContainsFunc(r.Decisions, func(d Decision) bool { return d.is(out) }) {
		add("wrong", "outcome-not-sent", "ended %s, a decision nobody sent", out)
	}
	return fs
}

// settled reports whether exactly one decision was answered 200 and every
// other one 409.
func settled(ds []Decision) bool {
	ok := 0
	for _, d := range ds {
		switch d.Code {
		case http.StatusOK:
			ok++
		case http.StatusConflict:
		default:
			return false
		}
	}
	return ok == 1
}

// describe says which decisions were accepted and how long before the
// deadline the accepted attempt was sent, which tells an ordering bug at
// the deadline from one well before it.
func describe(ds []Decision, deadline time.Time) string {
	parts := make([]string, 0, len(ds))
	for _, d := range ds {
		when := ""
		if !deadline.IsZero() {
			when = fmt.Sprintf(", sent %s before expires_at", deadline.Sub(d.Sent).Round(time.Millisecond))
		}
		parts = append(parts, fmt.Sprintf("%s was answered %d%s", d, d.Code, when))
	}
	return strings.Join(parts, "; ")
}
