package chaos

import (
	"net/http"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/approvals-go/approvals/approval"
)

// t0 is the start of every synthetic record; deadlines lie 10 s later.
var (
	t0       = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	deadline = t0.Add(10 * time.Second)
)

func at(d time.Duration) time.Time { return t0.Add(d) }

func answer(code int, sent time.Duration) Answer {
	return Answer{Code: code, Attempts: 1, FirstSent: at(sent), Sent: at(sent), Answered: at(sent + 50*time.Millisecond)}
}

func approve(who string, code int, sent time.Duration) Decision {
	return Decision{Approved: true, Approver: who, Comments: "ok", Answer: answer(code, sent)}
}

func reject(who string, code int, sent time.Duration) Decision {
	return Decision{Approved: false, Approver: who, Comments: "no", Answer: answer(code, sent)}
}

func late(code int, after time.Duration) Decision {
	d := approve("Late", code, 10*time.Second+after)
	d.Late = true
	return d
}

func approved(who string) Final {
	return Final{Code: http.StatusOK, ExpiresAt: deadline,
		Outcome: Outcome{Status: approval.StatusApproved, Result: true, Approver: who, Comments: "ok"}}
}

func rejected(who string) Final {
	return Final{Code: http.StatusOK, ExpiresAt: deadline,
		Outcome: Outcome{Status: approval.StatusRejected, Result: true, Approver: who, Comments: "no"}}
}

func timedOut() Final {
	return Final{Code: http.StatusOK, ExpiresAt: deadline, Outcome: Outcome{Status: approval.StatusTimeout, Result: true}}
}

func record(plan Plan, final Final, ds ...Decision) Record {
	return Record{ID: "a", Plan: plan, Timeout: 10 * time.Second, Start: answer(http.StatusAccepted, 0),
		Decisions: ds, Published: []time.Time{deadline}, Final: final}
}

func rules(fs []Finding) []string {
	var rs []string
	for _, f := range fs {
		rs = append(rs, f.Kind+" "+f.Rule)
	}
	slices.Sort(rs)
	return rs
}

func TestCheckRules(t *testing.T) {
	withBody := approve("Ann", http.StatusOK, time.Second)
	withBody.Reported = &Outcome{Status: approval.StatusRejected, Result: true, Approver: "Bob", Comments: "no"}
	// Published a second early: the late decision, sent after that but
	// before the real deadline, was rightly accepted; the move is wrong.
	movedLate := late(http.StatusAccepted, -900*time.Millisecond)
	moved := record(PlanLate, approved("Late"), movedLate)
	moved.Published = []time.Time{deadline.Add(-time.Second)}
	unknownStart := record(PlanNone, Final{Code: http.StatusNotFound})
	unknownStart.Start = Answer{Attempts: 40, FirstSent: t0, Err: "connection refused"}
	refusedStart := record(PlanNone, timedOut())
	refusedStart.Start = answer(http.StatusConflict, 0)
	reported := record(PlanSingle, rejected("Bob"), reject("Bob", http.StatusAccepted, time.Second))
	reported.Reported = []Outcome{{Status: approval.StatusApproved}}
	retried := reject("Bob", http.StatusConflict, 11*time.Second)
	retried.FirstSent = at(2 * time.Second)
	failed := record(PlanNone, Final{Code: http.StatusOK, Outcome: Outcome{Status: approval.StatusFailed}})
	terminated := record(PlanNone, Final{Code: http.StatusOK, Outcome: Outcome{Status: approval.StatusTerminated}})
	retriedLate := approve("Ann", http.StatusAccepted, 11*time.Second)
	retriedLate.FirstSent = at(2 * time.Second)
	noResult := record(PlanSingle, Final{Code: http.StatusOK, Outcome: Outcome{Status: approval.StatusApproved}},
		approve("Ann", http.StatusAccepted, time.Second))

	for _, c := range []struct {
		name string
		rec  Record
		want []string
	}{
		{"one decision answered 200 and the outcome", record(PlanSingle, approved("Ann"), approve("Ann", http.StatusOK, time.Second)), nil},
		{"one decision answered 202 and the outcome", record(PlanSingle, rejected("Bob"), reject("Bob", http.StatusAccepted, time.Second)), nil},
		{"approvers compare regardless of case", record(PlanSingle, approved("ann"), approve("ANN", http.StatusOK, time.Second)), nil},
		{"202 well before the deadline, then Timeout",
			record(PlanSingle, timedOut(), approve("Ann", http.StatusAccepted, time.Second)),
			[]string{"wrong accepted-lost"}},
		{"200, then Timeout",
			record(PlanSingle, timedOut(), approve("Ann", http.StatusOK, time.Second)),
			[]string{"wrong 200-not-outcome", "wrong accepted-lost"}},
		{"200 whose body names another outcome",
			record(PlanSingle, approved("Ann"), withBody),
			[]string{"wrong 200-body-not-this-decision"}},
		{"conflict told one 200 and one 409, the 200 won",
			record(PlanConflict, approved("Ann"), approve("Ann", http.StatusOK, time.Second), reject("Bob", http.StatusConflict, time.Second)), nil},
		{"conflict told 202 twice, one of them won",
			record(PlanConflict, rejected("Bob"), approve("Ann", http.StatusAccepted, time.Second), reject("Bob", http.StatusAccepted, time.Second)), nil},
		{"conflict where the 409 won",
			record(PlanConflict, rejected("Bob"), approve("Ann", http.StatusOK, time.Second), reject("Bob", http.StatusConflict, time.Second)),
			[]string{"wrong 200-not-outcome", "wrong 409-is-outcome", "wrong accepted-lost"}},
		{"conflict won by the decision that got no answer",
			record(PlanConflict, rejected("Bob"), approve("Ann", http.StatusAccepted, time.Second), reject("Bob", 0, time.Second)), nil},
		{"conflict refused twice before the deadline, then Timeout",
			record(PlanConflict, timedOut(), approve("Ann", http.StatusConflict, time.Second), reject("Bob", http.StatusConflict, time.Second)),
			[]string{"wrong 409-before-deadline", "wrong 409-before-deadline"}},
		{"refused after the deadline, having been retried across it",
			record(PlanSingle, timedOut(), retried), nil},
		{"a repeat of the decision that stands refused",
			record(PlanSingle, approved("Ann"), approve("Ann", http.StatusOK, time.Second), approve("ann", http.StatusConflict, 11*time.Second)),
			[]string{"wrong 409-is-outcome"}},
		{"late decision refused, Timeout", record(PlanLate, timedOut(), late(http.StatusConflict, 5*time.Millisecond)), nil},
		{"late decision answered 202 while the outcome was unknown, Timeout",
			record(PlanLate, timedOut(), late(http.StatusAccepted, 5*time.Millisecond)), nil},
		{"late decision answered 200",
			record(PlanLate, timedOut(), late(http.StatusOK, 5*time.Millisecond)),
			[]string{"wrong 200-not-outcome", "wrong late-accepted"}},
		{"retried across the deadline, answered 202 after it, Timeout",
			record(PlanSingle, timedOut(), retriedLate), nil},
		{"late decision refused, yet the outcome",
			record(PlanLate, approved("Late"), late(http.StatusConflict, 5*time.Millisecond)),
			[]string{"wrong 409-is-outcome"}},
		{"expires_at moved", moved, []string{"wrong expires-at-moved"}},
		{"no decision, Timeout", record(PlanNone, timedOut()), nil},
		{"no decision, yet Approved", record(PlanNone, approved("Ann")), []string{"wrong outcome-not-sent"}},
		{"accepted start missing at the end", record(PlanNone, Final{Code: http.StatusNotFound}), []string{"lost missing"}},
		{"accepted start never final", record(PlanNone, Final{Code: http.StatusAccepted}), []string{"lost never-final"}},
		{"accepted start unreadable to the end", record(PlanNone, Final{}), []string{"lost never-final"}},
		{"unanswered start that never existed", unknownStart, nil},
		{"start refused", refusedStart, []string{"wrong start-refused"}},
		{"reported final during the run, ended otherwise", reported, []string{"wrong reported-other-outcome"}},
		{"decision answered 404 on an existing approval",
			record(PlanSingle, timedOut(), approve("Ann", http.StatusNotFound, time.Second)),
			[]string{"wrong unexpected-answer"}},
		{"failed", failed, []string{"wrong failed"}},
		{"terminated, which the run never does", terminated, []string{"wrong failed"}},
		{"approved without a result", noResult, []string{"wrong final-without-result"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := rules(Check([]Record{c.rec}).Findings)
			if !slices.Equal(got, c.want) {
				t.Fatalf("findings = %v, want %v\n%+v", got, c.want, Check([]Record{c.rec}).Findings)
			}
		})
	}
}

func TestCheckCounts(t *testing.T) {
	unknownStart := record(PlanSingle, Final{Code: http.StatusNotFound})
	unknownStart.Start = Answer{Attempts: 3, Err: "connection refused"}
	retried := approve("Ann", http.StatusOK, time.Second)
	retried.Attempts = 4
	lateUnknown := record(PlanLate, timedOut())
	recs := []Record{
		record(PlanSingle, approved("Ann"), retried),
		record(PlanConflict, rejected("Bob"), approve("Ann", http.StatusConflict, time.Second), reject("Bob", http.StatusOK, time.Second)),
		record(PlanConflict, approved("Ann"), approve("Ann", http.StatusAccepted, time.Second), reject("Bob", http.StatusAccepted, time.Second)),
		record(PlanNone, timedOut()),
		record(PlanLate, timedOut(), late(http.StatusConflict, time.Millisecond)),
		// Two findings, one approval wrong.
		record(PlanSingle, timedOut(), approve("Ann", http.StatusOK, time.Second)),
		record(PlanNone, Final{Code: http.StatusNotFound}),
		unknownStart,
		lateUnknown,
		record(PlanWithdraw, withdrawn("CHAOS"), withdraw("CHAOS", http.StatusOK, time.Second), approve("Ann", http.StatusConflict, time.Second)),
		voted(PlanQuorum, 2, ended(approval.StatusApproved, yes("Ann"), yes("Bob")), approve("Ann", http.StatusOK, time.Second),
			approve("ａｎｎ", http.StatusOK, 1100*time.Millisecond), approve("Bob", http.StatusOK, 2*time.Second),
			forbid(approve("Mallory", http.StatusForbidden, time.Second), "not_an_approver")),
	}
	c := Check(recs).Counts
	want := Counts{
		Approvals:    11,
		Plans:        map[Plan]int{PlanSingle: 3, PlanConflict: 2, PlanNone: 2, PlanLate: 2, PlanWithdraw: 1, PlanQuorum: 1},
		Started:      10,
		StartUnknown: 1,
		Decisions:    13,
		Answers:      map[string]int{"200": 7, "202": 2, "403": 1, "409": 3},
		Accepted:     9,
		Conflicts:    3,
		Settled:      2,
		Withdrawals:  1,
		Forbidden:    1,
		Refused403:   1,
		Respelt:      2,
		Votes:        2,
		Outcomes: map[approval.Status]int{approval.StatusApproved: 3, approval.StatusRejected: 1, approval.StatusTimeout: 4,
			approval.StatusWithdrawn: 1},
		ByPlan: map[Plan]map[approval.Status]int{
			PlanSingle:   {approval.StatusApproved: 1, approval.StatusTimeout: 1},
			PlanConflict: {approval.StatusApproved: 1, approval.StatusRejected: 1},
			PlanNone:     {approval.StatusTimeout: 1},
			PlanLate:     {approval.StatusTimeout: 2},
			PlanWithdraw: {approval.StatusWithdrawn: 1},
			PlanQuorum:   {approval.StatusApproved: 1},
		},
		Timeouts: 4,
		Retries:  5,
		Lost:     1,
		Wrong:    1,
		Unknown:  2,
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("counts =\n%+v\nwant\n%+v", c, want)
	}
}

func withdraw(who string, code int, sent time.Duration) Decision {
	return Decision{Withdraw: true, Approver: who, Comments: "withdrawn", Answer: answer(code, sent)}
}

func forbid(d Decision, reason string) Decision {
	d.Forbidden, d.Reason = true, reason
	return d
}

func withdrawn(who string) Final {
	return Final{Code: http.StatusOK, ExpiresAt: deadline,
		Outcome: Outcome{Status: approval.StatusWithdrawn, Result: true, Approver: who, Comments: "withdrawn"}}
}

// ended is a final state under a policy: the status, the vote that
// settled it (the last, for Approved and Rejected) and every vote.
func ended(status approval.Status, votes ...Vote) Final {
	f := Final{Code: http.StatusOK, ExpiresAt: deadline, Outcome: Outcome{Status: status, Result: true, Votes: votes}}
	if n := len(votes); n > 0 && (status == approval.StatusApproved || status == approval.StatusRejected) {
		f.Outcome.Approver, f.Outcome.Comments = votes[n-1].Approver, votes[n-1].Comments
	}
	return f
}

func yes(who string) Vote { return Vote{Approver: who, Approved: true, Comments: "ok"} }
func no(who string) Vote  { return Vote{Approver: who, Approved: false, Comments: "no"} }

func voted(plan Plan, required int, final Final, ds ...Decision) Record {
	r := record(plan, final, ds...)
	r.Requester, r.Approvers, r.Policy, r.Required = Requester, Voters, approval.Policy(plan), required
	return r
}

func TestCheckPeopleAndPolicies(t *testing.T) {
	second := approve("ＡＮＮ", http.StatusOK, 1200*time.Millisecond)
	later := reject("Bob", http.StatusAccepted, 2*time.Second)
	namesOther := ended(approval.StatusApproved, yes("Ann"), yes("Bob"))
	namesOther.Outcome.Approver = "Ann"
	withdrawnOverVotes := ended(approval.StatusWithdrawn, yes("Ann"))
	withdrawnOverVotes.Outcome.Approver, withdrawnOverVotes.Outcome.Comments = " CHAOS", "withdrawn"
	mine := record(PlanWithdraw, withdrawn(" CHAOS"), withdraw(" CHAOS", http.StatusOK, time.Second))
	mine.Requester = Requester

	for _, c := range []struct {
		name string
		rec  Record
		want []string
	}{
		{"one decision in two spellings, both 200",
			record(PlanVariants, approved("ＡＮＮ"), approve("Ann", http.StatusOK, time.Second), second), nil},
		{"the same decision in another spelling refused",
			record(PlanVariants, approved("Ann"), approve("Ann", http.StatusOK, time.Second), approve(" ann ", http.StatusConflict, 2*time.Second)),
			[]string{"wrong 409-is-outcome"}},
		{"a decision delivered first lost to one sent after its answer",
			record(PlanConflict, rejected("Bob"), approve("Ann", http.StatusAccepted, time.Second), later),
			[]string{"wrong overtaken"}},
		{"a person's second thoughts, sent after their first was delivered, won",
			record(PlanVariants, rejected("ＡＮＮ"), approve("Ann", http.StatusAccepted, time.Second), reject("ＡＮＮ", http.StatusAccepted, 2*time.Second)),
			[]string{"wrong overtaken"}},
		{"withdrawn by the requester in another spelling", mine, nil},
		{"a withdrawal delivered first lost to a decision sent after its answer",
			record(PlanWithdraw, approved("Ann"), withdraw(" CHAOS", http.StatusAccepted, time.Second), approve("Ann", http.StatusAccepted, 2*time.Second)),
			[]string{"wrong overtaken"}},
		{"withdrawn, which nobody sent", record(PlanNone, withdrawn("chaos")), []string{"wrong outcome-not-sent"}},
		{"the requester refused as self_decision",
			voted(PlanAll, 0, ended(approval.StatusTimeout), forbid(approve("ｃｈａｏｓ", http.StatusForbidden, time.Second), "self_decision")), nil},
		{"the requester refused for another reason",
			voted(PlanAll, 0, ended(approval.StatusTimeout), forbid(approve(" CHAOS", http.StatusForbidden, time.Second), "not_an_approver")),
			[]string{"wrong forbidden-reason"}},
		{"someone not named accepted",
			voted(PlanQuorum, 2, ended(approval.StatusTimeout), forbid(approve("Mallory", http.StatusAccepted, time.Second), "")),
			[]string{"wrong forbidden-accepted"}},
		{"someone not named refused after the end", voted(PlanQuorum, 1, ended(approval.StatusApproved, yes("Ann")),
			approve("Ann", http.StatusOK, time.Second), forbid(approve("Mallory", http.StatusConflict, 2*time.Second), "")), nil},
		{"someone not named counted", voted(PlanQuorum, 1, ended(approval.StatusApproved, yes("Mallory")),
			forbid(approve("Mallory", http.StatusForbidden, time.Second), "not_an_approver")),
			[]string{"wrong forbidden-taken", "wrong vote-not-entitled", "wrong vote-not-sent"}},
		{"quorum of two reached by two people", voted(PlanQuorum, 2, ended(approval.StatusApproved, yes("ＡＮＮ"), yes("Bob")),
			approve("ＡＮＮ", http.StatusOK, time.Second), approve("Ann", http.StatusOK, 1100*time.Millisecond), approve("Bob", http.StatusOK, 2*time.Second)), nil},
		{"quorum of two reached by one person in two spellings", voted(PlanQuorum, 2, ended(approval.StatusApproved, yes("Ann"), yes("ＡＮＮ")),
			approve("Ann", http.StatusOK, time.Second), approve("ＡＮＮ", http.StatusOK, 1100*time.Millisecond)),
			[]string{"wrong policy-miscounted", "wrong vote-counted-twice"}},
		{"all rejected by the first rejection", voted(PlanAll, 0, ended(approval.StatusRejected, yes("Ann"), no("Bob")),
			approve("Ann", http.StatusOK, time.Second), reject("Bob", http.StatusOK, 2*time.Second)), nil},
		{"all approved by two of three", voted(PlanAll, 0, ended(approval.StatusApproved, yes("Ann"), yes("Bob")),
			approve("Ann", http.StatusOK, time.Second), approve("Bob", http.StatusOK, 2*time.Second)),
			[]string{"wrong policy-miscounted"}},
		{"quorum decided before its last vote", voted(PlanQuorum, 1, ended(approval.StatusApproved, yes("Ann"), yes("Bob")),
			approve("Ann", http.StatusOK, time.Second), approve("Bob", http.StatusOK, 2*time.Second)),
			[]string{"wrong policy-miscounted"}},
		{"quorum naming a vote that did not settle it", voted(PlanQuorum, 2, namesOther,
			approve("Ann", http.StatusOK, time.Second), approve("Bob", http.StatusOK, 2*time.Second)),
			[]string{"wrong policy-miscounted"}},
		{"timed out although the votes decided it", voted(PlanQuorum, 1, ended(approval.StatusTimeout, yes("Ann")),
			approve("Ann", http.StatusOK, time.Second)),
			[]string{"wrong policy-miscounted"}},
		{"withdrawn between votes", voted(PlanAll, 0, withdrawnOverVotes,
			approve("Ann", http.StatusOK, time.Second), withdraw("  chaos", http.StatusOK, 2*time.Second)), nil},
		{"a vote recorded in a spelling nobody sent", voted(PlanAll, 0, ended(approval.StatusTimeout, yes("ann")),
			approve("Ann", http.StatusAccepted, time.Second)),
			[]string{"wrong vote-not-sent"}},
		{"a delivered vote missing at the timeout", voted(PlanAll, 0, ended(approval.StatusTimeout, yes("Ann")),
			approve("Ann", http.StatusOK, time.Second), approve("Bob", http.StatusAccepted, 2*time.Second)),
			[]string{"wrong accepted-lost"}},
		{"second thoughts refused, timed out", voted(PlanAll, 0, ended(approval.StatusTimeout, yes("Ann")),
			approve("Ann", http.StatusOK, time.Second), reject("ＡＮＮ", http.StatusConflict, 2*time.Second)), nil},
		{"second thoughts counted over a vote delivered first", voted(PlanQuorum, 2, ended(approval.StatusTimeout, no("ＡＮＮ")),
			approve("Ann", http.StatusAccepted, time.Second), reject("ＡＮＮ", http.StatusAccepted, 2*time.Second)),
			[]string{"wrong overtaken"}},
		{"a vote delivered before the one that ended it, missing", voted(PlanAll, 0, ended(approval.StatusRejected, no("Bob")),
			approve("Ann", http.StatusAccepted, time.Second), reject("Bob", http.StatusOK, 2*time.Second)),
			[]string{"wrong overtaken"}},
		{"a vote racing the one that ended it, missing", voted(PlanAll, 0, ended(approval.StatusRejected, no("Bob")),
			approve("Ann", http.StatusAccepted, time.Second), reject("Bob", http.StatusOK, time.Second)), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := rules(Check([]Record{c.rec}).Findings)
			if !slices.Equal(got, c.want) {
				t.Fatalf("findings = %v, want %v\n%+v", got, c.want, Check([]Record{c.rec}).Findings)
			}
		})
	}
}
