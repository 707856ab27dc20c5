package chaos

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/approvals-go/approvals/approval"
)

// The three processes, in the order a restart starts them.
const (
	Scheduler = "scheduler"
	Worker    = "worker"
	Handler   = "handler"
)

// Processes are the binaries a run needs, and the ones it kills.
var Processes = []string{Scheduler, Worker, Handler}

// shortOutage bounds the outages that are not meant to cross a deadline.
const shortOutage = 1500 * time.Millisecond

// step is one approval's part in a run.
type step struct {
	id      string
	plan    Plan
	at      time.Duration // after the run began
	timeout time.Duration
	// policy, required and approvers go into the start request.
	policy    approval.Policy
	required  int
	approvers []string
	// sends are the decisions and withdrawals sent before the deadline,
	// each after its delay from the start's first attempt; that attempt
	// precedes the submission, so each goes out at least timeout-after
	// before the deadline.
	sends []send
	// lateBy is how long after expires_at a late decision goes out.
	lateBy   time.Duration
	approved bool
}

// send is one request a step makes before the deadline.
type send struct {
	after time.Duration
	d     Decision
}

// kill is one event of the kill schedule.
type kill struct {
	gap     time.Duration // after the previous restart
	victims []string
	outage  time.Duration
}

// Long reports whether the outage is meant to cross deadlines.
func (k kill) long() bool { return k.outage > shortOutage }

// rngs derives the generators of a seed: one for the approvals and one for
// the kills, so that changing the number of approvals leaves the kill
// schedule of a seed as it was.
func rngs(seed uint64) (approvals, kills *rand.Rand) {
	return rand.New(rand.NewPCG(seed, 1)), rand.New(rand.NewPCG(seed, 2))
}

// Requester is who starts every approval, and Outsider someone no
// approval names.
const (
	Requester = "chaos"
	Outsider  = "Mallory"
)

// Voters are the approvers that plans name, in their plain spelling.
var Voters = []string{"Ann", "Bob", "Cy"}

// mix is each plan's share of the approvals, in tenths; PlanSingle takes
// the rest.
var mix = []Plan{PlanConflict, PlanNone, PlanLate, PlanVariants, PlanWithdraw, PlanAll, PlanQuorum}

// planSteps lays out the approvals: a tenth each of the plans in mix, the
// rest with one decision, starting at random moments of the first two
// thirds of the chaos.
func planSteps(cfg Config, rng *rand.Rand) []step {
	n := cfg.Approvals
	plans := make([]Plan, n)
	for i := range plans {
		plans[i] = PlanSingle
		for k, p := range mix {
			if i >= k*n/10 && i < (k+1)*n/10 {
				plans[i] = p
			}
		}
	}
	rng.Shuffle(n, func(i, j int) { plans[i], plans[j] = plans[j], plans[i] })
	window := cfg.Duration * 2 / 3
	ats := make([]time.Duration, n)
	for i := range ats {
		ats[i] = time.Duration(rng.Int64N(int64(window) + 1))
	}
	slices.Sort(ats)
	steps := make([]step, n)
	for i := range steps {
		timeout := cfg.MinTimeout + time.Duration(rng.Int64N(int64(cfg.MaxTimeout-cfg.MinTimeout)+1)).Round(time.Millisecond)
		s := step{id: fmt.Sprintf("chaos-%05d", i+1), plan: plans[i], at: ats[i], timeout: timeout, approved: rng.IntN(2) == 0}
		// Half the late decisions go out within 20 ms of the deadline,
		// where an expires_at a few milliseconds off shows.
		if rng.IntN(2) == 0 {
			s.lateBy = time.Millisecond + time.Duration(rng.Int64N(int64(20*time.Millisecond)))
		} else {
			s.lateBy = time.Millisecond + time.Duration(rng.Int64N(int64(time.Second-time.Millisecond)))
		}
		s.sends = planSends(&s, rng)
		steps[i] = s
	}
	return steps
}

// planSends fills in a step's policy and approvers and lays out what it
// sends before the deadline, all within the first half of its timeout.
func planSends(s *step, rng *rand.Rand) []send {
	half := s.timeout / 2
	when := func() time.Duration { return time.Duration(rng.Int64N(int64(half) + 1)) }
	// soon is a moment shortly after at, so that a repeat sometimes
	// races the first and sometimes follows its answer.
	soon := func(at time.Duration, upTo time.Duration) time.Duration {
		return min(at+time.Duration(rng.Int64N(int64(upTo)+1)), half)
	}
	decision := func(who string, approved bool, comments string) Decision {
		return Decision{Approved: approved, Approver: who, Comments: comments}
	}
	switch s.plan {
	case PlanSingle:
		return []send{{when(), decision("Ann", s.approved, "single "+s.id)}}
	case PlanConflict:
		at := when()
		return []send{{at, decision("Ann", true, "approve "+s.id)}, {at, decision("Bob", false, "reject "+s.id)}}
	case PlanVariants:
		// One person sends one decision in two or three spellings, and
		// half the time changes their mind in yet another. Half the
		// approvals name them, so the spellings must also match the name.
		if rng.IntN(2) == 0 {
			s.approvers = []string{"Ann"}
		}
		at := when()
		d := decision("Ann", s.approved, "variants "+s.id)
		var out []send
		for range 2 + rng.IntN(2) {
			d.Approver = spell(rng, "Ann")
			out = append(out, send{soon(at, 300*time.Millisecond), d})
		}
		if rng.IntN(2) == 0 {
			out = append(out, send{soon(at, time.Second), decision(spell(rng, "Ann"), !s.approved, "changed mind "+s.id)})
		}
		if len(s.approvers) > 0 && rng.IntN(2) == 0 {
			out = append(out, forbidden(Outsider, true, "outsider "+s.id, soon(at, time.Second)))
		}
		return out
	case PlanWithdraw:
		// The requester, spelt otherwise, takes the request back; half
		// the time Ann decides at about the same moment, and now and
		// then the requester tries to decide it themselves.
		at := when()
		w := Decision{Withdraw: true, Approver: spell(rng, Requester), Comments: "withdraw " + s.id}
		out := []send{{at, w}}
		if rng.IntN(2) == 0 {
			race := at - 200*time.Millisecond + time.Duration(rng.Int64N(int64(400*time.Millisecond)))
			out = append(out, send{min(max(race, 0), half), decision("Ann", s.approved, "racing "+s.id)})
		}
		if rng.IntN(4) == 0 {
			out = append(out, forbidden(spell(rng, Requester), true, "self "+s.id, soon(at, time.Second)))
		}
		return out
	case PlanAll, PlanQuorum:
		return planVotes(s, rng, when, soon)
	}
	return nil
}

// planVotes lays out a policy's votes: most named approvers vote, mostly
// to approve; some vote again in another spelling, the same vote or the
// other one; someone not named and the requester try to vote too; and
// now and then the requester withdraws meanwhile.
func planVotes(s *step, rng *rand.Rand, when func() time.Duration, soon func(time.Duration, time.Duration) time.Duration) []send {
	s.policy = approval.Policy(s.plan)
	s.approvers = slices.Clone(Voters)
	repeat, repeatSame := 0.3, 0.5
	if s.plan == PlanAll {
		s.approvers = Voters[:2+rng.IntN(2)]
	} else {
		// Mostly two of three, so a person counted twice would reach it
		// alone; repeats are frequent and mostly the same vote.
		s.required = []int{1, 2, 2, 2, 3}[rng.IntN(5)]
		repeat, repeatSame = 0.5, 0.7
	}
	var out []send
	for _, who := range s.approvers {
		if rng.Float64() >= 0.85 {
			continue
		}
		at := when()
		d := Decision{Approved: rng.Float64() < 0.8, Approver: who, Comments: "vote " + who + " " + s.id}
		out = append(out, send{at, d})
		if rng.Float64() < repeat {
			again := d
			again.Approver = spell(rng, who)
			if rng.Float64() >= repeatSame {
				again.Approved, again.Comments = !d.Approved, "second thoughts "+who+" "+s.id
			}
			out = append(out, send{soon(at, 500*time.Millisecond), again})
		}
	}
	if rng.Float64() < 0.3 {
		out = append(out, forbidden(spell(rng, Outsider), true, "outsider "+s.id, when()))
	}
	if rng.Float64() < 0.3 {
		out = append(out, forbidden(spell(rng, Requester), true, "self "+s.id, when()))
	}
	if rng.Float64() < 0.15 {
		out = append(out, send{when(), Decision{Withdraw: true, Approver: spell(rng, Requester), Comments: "withdraw " + s.id}})
	}
	return out
}

func forbidden(who string, approved bool, comments string, at time.Duration) send {
	return send{at, Decision{Approved: approved, Approver: who, Comments: comments, Forbidden: true}}
}

// spell writes name as a person might: in another case, with white space
// around it (ordinary, no-break or ideographic), or in fullwidth letters.
// Every spelling is the same person.
func spell(rng *rand.Rand, name string) string {
	switch rng.IntN(7) {
	case 0:
		return name
	case 1:
		return " " + strings.ToLower(name) + " "
	case 2:
		return strings.ToUpper(name)
	case 3:
		return strings.Map(func(r rune) rune {
			if r >= '!' && r <= '~' {
				return r - '!' + '\uff01'
			}
			return r
		}, name)
	case 4:
		return name + "\u00a0"
	case 5:
		return "\u3000" + strings.ToLower(name)
	default:
		b := []rune(strings.ToLower(name))
		for i := 1; i < len(b); i += 2 {
			b[i] = unicode.ToUpper(b[i])
		}
		return string(b)
	}
}

// planKills lays out the kill schedule: first each process alone with an
// outage long enough to cross deadlines, in random order, then random
// victims (one, two or all three) at random gaps around cfg.KillEvery, a
// cfg.LongOutages share of them down that long too, until cfg.Duration is
// filled.
//
// A long outage lasts from MinTimeout to the middle of the timeout range:
// decisions go out at most half a timeout after the start, so that is
// enough to carry many of them across their deadlines, and it leaves room
// for more kills than outages as long as the longest timeout would.
func planKills(cfg Config, rng *rand.Rand) []kill {
	long := func() time.Duration {
		return cfg.MinTimeout + time.Duration(rng.Int64N(int64(cfg.MaxTimeout-cfg.MinTimeout)/2+1))
	}
	gap := func() time.Duration {
		return cfg.KillEvery/2 + time.Duration(rng.Int64N(int64(cfg.KillEvery)+1))
	}
	first := slices.Clone(Processes)
	rng.Shuffle(len(first), func(i, j int) { first[i], first[j] = first[j], first[i] })
	var ks []kill
	var total time.Duration
	for _, p := range first {
		k := kill{gap: gap(), victims: []string{p}, outage: long()}
		ks = append(ks, k)
		total += k.gap + k.outage
	}
	for total < cfg.Duration {
		victims := slices.Clone(Processes)
		rng.Shuffle(len(victims), func(i, j int) { victims[i], victims[j] = victims[j], victims[i] })
		switch r := rng.Float64(); {
		case r < 0.5:
			victims = victims[:1]
		case r < 0.75:
			victims = victims[:2]
		}
		slices.SortFunc(victims, func(a, b string) int { return slices.Index(Processes, a) - slices.Index(Processes, b) })
		k := kill{gap: gap(), victims: victims, outage: time.Duration(rng.Int64N(int64(shortOutage)))}
		if rng.Float64() < cfg.LongOutages {
			k.outage = long()
		}
		ks = append(ks, k)
		total += k.gap + k.outage
	}
	return ks
}
