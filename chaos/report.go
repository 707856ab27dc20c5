package chaos

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/approvals-go/approvals/approval"
)

// shownPerRule bounds the findings the summary lists for each rule; JSON
// has them all.
const shownPerRule = 5

// Print writes the readable summary of a run.
func Print(w io.Writer, rep *Report) {
	c := rep.Counts
	fmt.Fprintf(w, "\nchaos run %s, %d CPUs, %s, seed %d\n", rep.Date, rep.CPUs, rep.Go, rep.Seed)
	fmt.Fprintf(w, "replay:     %s\n\n", rep.Replay)
	fmt.Fprintf(w, "approvals   %d: %d one decision, %d two conflicting, %d no decision, %d decided after expires_at,\n"+
		"            %d one person in several spellings, %d withdrawn by the requester, %d policy all, %d quorum\n",
		c.Approvals, c.Plans[PlanSingle], c.Plans[PlanConflict], c.Plans[PlanNone], c.Plans[PlanLate],
		c.Plans[PlanVariants], c.Plans[PlanWithdraw], c.Plans[PlanAll], c.Plans[PlanQuorum])
	fmt.Fprintf(w, "kills       %s, SIGKILL, in %d events (%d of all three at once, %d down long enough to cross deadlines)\n",
		perProcess(rep.Kills), rep.Events, rep.Together, rep.LongOutages)
	fmt.Fprintf(w, "crashes     %s\n", perProcess(rep.Crashes))
	fmt.Fprintf(w, "started     %d accepted, %d without an answer\n", c.Started, c.StartUnknown)
	fmt.Fprintf(w, "decided     %d sent: %s; %d accepted (200 or 202)\n", c.Decisions, answers(c.Answers), c.Accepted)
	fmt.Fprintf(w, "conflicts   %d approvals without a policy got conflicting decisions, %d of them told 200 for one and 409 for the rest\n", c.Conflicts, c.Settled)
	fmt.Fprintf(w, "people      %d decisions by someone who also sent one in another spelling; %d votes recorded by policies\n", c.Respelt, c.Votes)
	fmt.Fprintf(w, "forbidden   %d decisions by the requester or someone not named, %d of them answered 403\n", c.Forbidden, c.Refused403)
	fmt.Fprintf(w, "withdrawals %d sent\n", c.Withdrawals)
	fmt.Fprintf(w, "outcomes    %s\n", outcomes(c.Outcomes, true))
	for _, p := range Plans {
		if c.ByPlan[p] != nil {
			fmt.Fprintf(w, "  %-9s %s\n", p, outcomes(c.ByPlan[p], false))
		}
	}
	n := rep.Notices
	fmt.Fprintf(w, "notices     %d webhook attempts (%d deliveries), %d never answered, %d badly signed; request notices seen for %d approvals, answered for %d\n",
		n.Received, n.Deliveries, n.Hung, n.BadSignature, n.Approvals, n.Answered)
	fmt.Fprintf(w, "timeouts    %d\n", c.Timeouts)
	fmt.Fprintf(w, "retries     %d (transport errors and 503, same request again)\n", c.Retries)
	fmt.Fprintf(w, "lost        %d%s\n", c.Lost, byRule(rep.Findings, "lost"))
	fmt.Fprintf(w, "wrong       %d%s\n", c.Wrong, byRule(rep.Findings, "wrong"))
	fmt.Fprintf(w, "unknown     %d (requests never answered within the give-up bound)\n", c.Unknown)
	fmt.Fprintf(w, "took        %s: chaos %s, settling %s\n", seconds(rep.TotalSeconds), seconds(rep.ChaosSeconds), seconds(rep.SettleSeconds))
	if len(rep.Findings) > 0 {
		fmt.Fprintln(w, "\nfindings, the first few of each rule (-json lists them all):")
		shown := map[string]int{}
		for _, f := range rep.Findings {
			if shown[f.Rule]++; shown[f.Rule] <= shownPerRule {
				fmt.Fprintf(w, "  %s %s %s: %s\n", f.Kind, f.ID, f.Rule, f.Detail)
			}
		}
	}
	if rep.Dir != "" {
		fmt.Fprintf(w, "\nscheduler files and process logs kept in %s\n", rep.Dir)
	}
	if rep.OK() {
		fmt.Fprintln(w, "\nPASS: nothing lost, no answer contradicted")
	} else {
		fmt.Fprintf(w, "\nFAIL: %d lost, %d wrong, %d notices badly signed\n", c.Lost, c.Wrong, n.BadSignature)
	}
}

// outcomes lists counts by final status, in the order an approval moves
// through them; zeros too when all is set.
func outcomes(m map[approval.Status]int, all bool) string {
	parts := make([]string, 0, len(m))
	for _, s := range []approval.Status{approval.StatusApproved, approval.StatusRejected, approval.StatusTimeout,
		approval.StatusWithdrawn, approval.StatusTerminated, approval.StatusFailed} {
		if m[s] > 0 || all {
			parts = append(parts, fmt.Sprintf("%d %s", m[s], s))
		}
	}
	return strings.Join(parts, ", ")
}

// WriteJSON writes the report for machines.
func WriteJSON(w io.Writer, rep *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func perProcess(m map[string]int) string {
	parts := make([]string, 0, len(Processes))
	for _, p := range Processes {
		parts = append(parts, fmt.Sprintf("%s %d", p, m[p]))
	}
	return strings.Join(parts, ", ")
}

// answers lists the decision answers, the contract's codes first.
func answers(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	order := []string{fmt.Sprint(http.StatusOK), fmt.Sprint(http.StatusAccepted), fmt.Sprint(http.StatusConflict), "unknown"}
	slices.SortFunc(keys, func(a, b string) int {
		ia, ib := slices.Index(order, a), slices.Index(order, b)
		if ia < 0 {
			ia = len(order)
		}
		if ib < 0 {
			ib = len(order)
		}
		if ia != ib {
			return ia - ib
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d × %s", m[k], k))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// byRule breaks the findings of a kind down by rule.
func byRule(fs []Finding, kind string) string {
	n := map[string]int{}
	var rules []string
	for _, f := range fs {
		if f.Kind != kind {
			continue
		}
		if n[f.Rule] == 0 {
			rules = append(rules, f.Rule)
		}
		n[f.Rule]++
	}
	if len(rules) == 0 {
		return ""
	}
	slices.Sort(rules)
	parts := make([]string, 0, len(rules))
	for _, r := range rules {
		parts = append(parts, fmt.Sprintf("%s %d", r, n[r]))
	}
	return " (findings: " + strings.Join(parts, ", ") + ")"
}

func seconds(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Second).String()
}
