package chaos

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/approvals-go/approvals/approval"
)

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
	// Decisions counts every decision and withdrawal request.
	Decisions int `json:"decisions"`
	// Answers counts decision answers by status code; "unknown" is a
	// decision that got none.
	Answers map[string]int `json:"answers"`
	// Accepted are decisions answered 200 or 202.
	Accepted int `json:"accepted"`
	// Conflicts are approvals without a policy that got decisions of
	// different content; Settled those of them where every answer was 200
	// or 409 and every 200 the same decision.
	Conflicts int `json:"conflicts"`
	Settled   int `json:"conflicts_settled"`
	// Withdrawals are the withdrawal requests sent; Forbidden the
	// decisions sent by someone who may not decide, and Refused403 those
	// of them answered 403.
	Withdrawals int `json:"withdrawals"`
	Forbidden   int `json:"forbidden"`
	Refused403  int `json:"forbidden_403"`
	// Respelt are decisions by a person who sent another decision in
	// another spelling of their name.
	Respelt int `json:"respelt"`
	// Votes are the votes policies recorded.
	Votes    int                     `json:"votes"`
	Outcomes map[approval.Status]int `json:"outcomes"`
	// ByPlan breaks the outcomes down by plan.
	ByPlan   map[Plan]map[approval.Status]int `json:"outcomes_by_plan"`
	Timeouts int                              `json:"timeouts"`
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
// system it finds nothing however the processes were killed. A decision
// is delivered when it was answered 200, or 202 before expires_at (the
// handler raised it; after the deadline a 202 says only that an earlier
// copy may be on its way). It is taken when it ended the approval (a
// withdrawal, or a decision without a policy) or is among the votes the
// policy recorded. People compare as approval.SamePerson says.
//   - lost: missing (an accepted start, 404 at the end); never-final (an
//     approval that exists but is not final within the bound).
//   - wrong, about answers: start-refused (a start answered other than
//     200/202; every repeat carries the same details); unexpected-answer;
//     200-not-outcome (answered 200, not taken); 200-body-not-this-decision;
//     409-is-outcome (answered 409, yet taken: a repeat of a decision
//     that stands is answered 200); 409-before-deadline (refused before
//     expires_at, it timed out, and the person had no other vote
//     recorded); late-accepted (sent after expires_at, answered 200);
//     forbidden-accepted (by the requester or someone not named, answered
//     200 or delivered); forbidden-reason (answered 403 with a reason
//     other than self_decision or not_an_approver as the case is);
//     forbidden-taken.
//   - wrong, about outcomes: accepted-lost (without a policy: decisions
//     were delivered and the outcome is none of them nor one that may
//     have been; under a policy: a vote delivered, its person's not
//     recorded, and it timed out); overtaken (a delivered decision not
//     taken, while what was taken instead was first sent only after it
//     had been answered); outcome-not-sent (Approved, Rejected or
//     Withdrawn by a request nobody sent); vote-not-sent;
//     vote-counted-twice (one person's vote recorded twice, in any
//     spelling); vote-not-entitled (a vote by the requester or someone not
//     named); policy-miscounted (the outcome is not what the policy makes
//     of the recorded votes, or it was reached before the last of them,
//     or does not name the vote that settled it); failed;
//     final-without-result; reported-other-outcome (an answer during the
//     run named another final state); expires-at-moved.
func Check(recs []Record) Verdict {
	v := Verdict{Counts: Counts{
		Approvals: len(recs),
		Plans:     map[Plan]int{},
		Answers:   map[string]int{},
		Outcomes:  map[approval.Status]int{},
		ByPlan:    map[Plan]map[approval.Status]int{},
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
	beforeDeadline := func(t time.Time) bool { return !deadline.IsZero() && t.Before(deadline) }
	// delivered were raised; maybe may have been (no answer, or 202
	// after the deadline, when an earlier attempt may have raised it).
	var delivered, maybe []Decision
	contents := 0
	late := false
	for i, d := range r.Decisions {
		c.Decisions++
		c.Retries += max(d.Attempts-1, 0)
		if d.Code == 0 {
			c.Answers["unknown"]++
			c.Unknown++
		} else {
			c.Answers[fmt.Sprint(d.Code)]++
		}
		if started(d.Code) {
			c.Accepted++
		}
		if d.Withdraw {
			c.Withdrawals++
		}
		if slices.ContainsFunc(r.Decisions, func(e Decision) bool {
			return e.Withdraw == d.Withdraw && e.Approver != d.Approver && approval.SamePerson(e.Approver, d.Approver)
		}) {
			c.Respelt++
		}
		late = late || d.Late
		if !d.Forbidden && !slices.ContainsFunc(r.Decisions[:i], func(e Decision) bool { return !e.Forbidden && d.sameContent(e) }) {
			contents++
		}
		switch {
		case d.Forbidden:
			c.Forbidden++
			want := string(approval.ReasonNotApprover)
			if approval.SamePerson(d.Approver, r.Requester) {
				want = string(approval.ReasonSelfDecision)
			}
			switch {
			case d.Code == http.StatusForbidden:
				c.Refused403++
				if d.Reason != want {
					add("wrong", "forbidden-reason", "%s was answered 403 %q, want %q", d, d.Reason, want)
				}
			case d.Code == http.StatusOK || d.Code == http.StatusAccepted && beforeDeadline(d.Answered):
				add("wrong", "forbidden-accepted", "%s, by someone who may not decide, was answered %d", d, d.Code)
			}
		case d.Late && started(d.Code) && !deadline.IsZero() && d.Sent.After(deadline):
			// A 202 after the deadline says the decision was not
			// delivered and an earlier copy might be; there was none.
			if d.Code == http.StatusOK {
				add("wrong", "late-accepted", "%s sent %s after expires_at %s was answered 200",
					d, d.Sent.Sub(deadline).Round(time.Millisecond), deadline.Format(time.RFC3339Nano))
			}
		case d.Code == http.StatusOK || d.Code == http.StatusAccepted && beforeDeadline(d.Answered):
			delivered = append(delivered, d)
		case d.Code == 0 || d.Code == http.StatusAccepted:
			maybe = append(maybe, d)
		}
	}
	if r.Plan == PlanLate && !late && started(r.Start.Code) {
		c.Unknown++
	}
	if contents > 1 && !r.voting() {
		c.Conflicts++
		if settled(r.Decisions) {
			c.Settled++
		}
	}

	switch r.Final.Code {
	case http.StatusOK:
	case http.StatusNotFound:
		if started(r.Start.Code) || len(delivered) > 0 {
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
	if c.ByPlan[r.Plan] == nil {
		c.ByPlan[r.Plan] = map[approval.Status]int{}
	}
	c.ByPlan[r.Plan][out.Status]++
	c.Votes += len(out.Votes)
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
	switch {
	case out.Status == approval.StatusTimeout:
		c.Timeouts++
	case out.Status == approval.StatusFailed, out.Status == approval.StatusTerminated:
		// The run terminates nothing: an approval that ended without an
		// outcome, however, is wrong either way.
		add("wrong", "failed", "the approval ended %s", out.Status)
		return fs
	case decisive(out.Status):
		if !out.Result {
			add("wrong", "final-without-result", "ended %s without a result naming who ended it", out.Status)
			return fs
		}
	default:
		add("wrong", "final-without-result", "GET answered 200 with status %q", out.Status)
		return fs
	}

	for _, d := range r.Decisions {
		taken := r.taken(d, out)
		if d.Forbidden {
			if taken {
				add("wrong", "forbidden-taken", "%s, by someone who may not decide, took effect: the approval ended %s", d, out)
			}
			continue
		}
		switch d.Code {
		case http.StatusOK:
			if !taken {
				add("wrong", "200-not-outcome", "%s was answered 200, the approval ended %s", d, r.describeOutcome(out))
			}
			if d.Reported != nil && !r.taken(d, *d.Reported) {
				add("wrong", "200-body-not-this-decision", "%s was answered 200 with a body saying %s", d, *d.Reported)
			}
		case http.StatusConflict:
			if taken {
				add("wrong", "409-is-outcome", "%s was answered 409, yet it took effect: %s", d, r.describeOutcome(out))
			}
			if _, voted := voteOf(out, d.Approver); out.Status == approval.StatusTimeout && beforeDeadline(d.Answered) &&
				!(r.voting() && !d.Withdraw && voted) {
				add("wrong", "409-before-deadline", "%s was answered 409 %s before expires_at, yet nothing won and it timed out",
					d, deadline.Sub(d.Answered).Round(time.Millisecond))
			}
		case http.StatusAccepted, 0:
		default:
			add("wrong", "unexpected-answer", "%s was answered %d %s", d, d.Code, d.Reason)
		}
	}

	// What took effect, and the requests that may have made it so.
	var effects [][]Decision
	sent := func(match func(Decision) bool) []Decision {
		var ds []Decision
		for _, d := range r.Decisions {
			if !d.Forbidden && match(d) {
				ds = append(ds, d)
			}
		}
		return ds
	}
	if r.voting() {
		fs = append(fs, r.checkVotes(out, sent)...)
		for _, v := range out.Votes {
			effects = append(effects, sent(func(d Decision) bool { return d.isVote(v) }))
		}
	}
	if decisive(out.Status) && (out.Status == approval.StatusWithdrawn || !r.voting()) {
		ends := sent(func(d Decision) bool { return d.ends(out) })
		if len(ends) == 0 {
			add("wrong", "outcome-not-sent", "ended %s, which nobody sent", out)
		}
		effects = append(effects, ends)
	}
	// firstSentAfter reports whether every request of an effect went out
	// only after t.
	firstSentAfter := func(ds []Decision, t time.Time) bool {
		return len(ds) > 0 && !slices.ContainsFunc(ds, func(d Decision) bool { return !d.FirstSent.After(t) })
	}
	for _, d := range delivered {
		if r.taken(d, out) {
			continue
		}
		if v, voted := voteOf(out, d.Approver); r.voting() && !d.Withdraw && voted {
			// Refused as a second vote: fine if the first was first.
			if mine := sent(func(e Decision) bool { return e.isVote(v) }); firstSentAfter(mine, d.Answered) {
				add("wrong", "overtaken", "%s was answered %d, yet %q's vote %s, first sent only after that, was counted instead",
					d, d.Code, v.Approver, describeVote(v))
			}
			continue
		}
		if r.voting() && out.Status == approval.StatusTimeout {
			add("wrong", "accepted-lost", "ended %s although %s", r.describeOutcome(out), describe([]Decision{d}, deadline))
			continue
		}
		for _, e := range effects {
			if firstSentAfter(e, d.Answered) {
				add("wrong", "overtaken", "%s was answered %d, yet %s, first sent only after that, took effect instead; the approval ended %s",
					d, d.Code, e[0], r.describeOutcome(out))
				break
			}
		}
	}
	if !r.voting() && len(delivered) > 0 {
		won := func(d Decision) bool { return d.ends(out) }
		if !slices.ContainsFunc(delivered, won) && !slices.ContainsFunc(maybe, won) {
			add("wrong", "accepted-lost", "ended %s although %s", out, describe(delivered, deadline))
		}
	}
	return fs
}

// checkVotes holds a policy's recorded votes against what was sent and
// the outcome against the policy.
func (r Record) checkVotes(out Outcome, sent func(func(Decision) bool) []Decision) []Finding {
	var fs []Finding
	add := func(rule, format string, args ...any) {
		fs = append(fs, Finding{ID: r.ID, Kind: "wrong", Rule: rule, Detail: fmt.Sprintf(format, args...)})
	}
	for i, v := range out.Votes {
		// The vote records the name as one of its requests spelt it.
		if !slices.ContainsFunc(sent(func(d Decision) bool { return d.isVote(v) }), func(d Decision) bool { return d.Approver == v.Approver }) {
			add("vote-not-sent", "a vote %s was recorded that nobody sent in that spelling", describeVote(v))
		}
		for _, w := range out.Votes[:i] {
			if approval.SamePerson(v.Approver, w.Approver) {
				add("vote-counted-twice", "%q voted once, yet votes %s and %s were both recorded", v.Approver, describeVote(w), describeVote(v))
			}
		}
		if approval.SamePerson(v.Approver, r.Requester) ||
			!slices.ContainsFunc(r.Approvers, func(a string) bool { return approval.SamePerson(a, v.Approver) }) {
			add("vote-not-entitled", "a vote %s by someone who may not decide was recorded", describeVote(v))
		}
	}
	decided, approved := r.decides(out.Votes)
	switch out.Status {
	case approval.StatusApproved, approval.StatusRejected:
		want := approval.StatusRejected
		if approved {
			want = approval.StatusApproved
		}
		n := len(out.Votes)
		switch {
		case !decided || want != out.Status:
			add("policy-miscounted", "ended %s, but the votes make it %s", r.describeOutcome(out), r.verdict(out.Votes))
		case n > 0 && func() bool { d, _ := r.decides(out.Votes[:n-1]); return d }():
			add("policy-miscounted", "ended %s after the votes had already decided it before the last", r.describeOutcome(out))
		case n > 0 && (out.Approver != out.Votes[n-1].Approver || out.Comments != out.Votes[n-1].Comments):
			add("policy-miscounted", "ended %s, but the vote that settled it was %s", r.describeOutcome(out), describeVote(out.Votes[n-1]))
		}
	case approval.StatusTimeout, approval.StatusWithdrawn:
		if decided {
			add("policy-miscounted", "ended %s, though the votes had decided it: %s", r.describeOutcome(out), r.verdict(out.Votes))
		}
	}
	return fs
}

func (r Record) verdict(votes []Vote) string {
	switch decided, approved := r.decides(votes); {
	case !decided:
		return "undecided"
	case approved:
		return string(approval.StatusApproved)
	}
	return string(approval.StatusRejected)
}

func describeVote(v Vote) string {
	verb := "reject"
	if v.Approved {
		verb = "approve"
	}
	return fmt.Sprintf("%s by %q (%q)", verb, v.Approver, v.Comments)
}

// describeOutcome is the outcome, with the policy and its votes when there
// is one.
func (r Record) describeOutcome(o Outcome) string {
	if !r.voting() {
		return o.String()
	}
	votes := make([]string, len(o.Votes))
	for i, v := range o.Votes {
		votes[i] = describeVote(v)
	}
	policy := string(r.Policy)
	if r.Policy == approval.PolicyQuorum {
		policy = fmt.Sprintf("quorum of %d", r.Required)
	}
	return fmt.Sprintf("%s (%s of %q, votes: %s)", o, policy, r.Approvers, strings.Join(votes, "; "))
}

// settled reports whether every decision was answered 200 or 409 and
// every 200 was the same decision.
func settled(ds []Decision) bool {
	var ok []Decision
	for _, d := range ds {
		if d.Forbidden {
			continue
		}
		switch d.Code {
		case http.StatusOK:
			if len(ok) > 0 && !ok[0].sameContent(d) {
				return false
			}
			ok = append(ok, d)
		case http.StatusConflict:
		default:
			return false
		}
	}
	return len(ok) > 0
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
