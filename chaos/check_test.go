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
		{"a repeat of the accepted decision refused",
			record(PlanSingle, approved("Ann"), approve("Ann", http.StatusOK, time.Second), approve("ann", http.StatusConflict, 11*time.Second)), nil},
		{"late decision refused, Timeout", record(PlanLate, timedOut(), late(http.StatusConflict, 5*time.Millisecond)), nil},
		{"late decision accepted",
			record(PlanLate, timedOut(), late(http.StatusAccepted, 5*time.Millisecond)),
			[]string{"wrong late-accepted"}},
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
	}
	c := Check(recs).Counts
	want := Counts{
		Approvals:    9,
		Plans:        map[Plan]int{PlanSingle: 3, PlanConflict: 2, PlanNone: 2, PlanLate: 2},
		Started:      8,
		StartUnknown: 1,
		Decisions:    7,
		Answers:      map[string]int{"200": 3, "202": 2, "409": 2},
		Accepted:     5,
		Conflicts:    2,
		Settled:      1,
		Outcomes:     map[approval.Status]int{approval.StatusApproved: 2, approval.StatusRejected: 1, approval.StatusTimeout: 4},
		Timeouts:     4,
		Retries:      5,
		Lost:         1,
		Wrong:        1,
		Unknown:      2,
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("counts =\n%+v\nwant\n%+v", c, want)
	}
}
