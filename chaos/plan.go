package chaos

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
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
	// decideAfter is counted from the start's first attempt (single and
	// conflict plans); that attempt precedes the submission, so the
	// decision goes out at least timeout-decideAfter before the deadline.
	decideAfter time.Duration
	// lateBy is how long after expires_at a late decision goes out.
	lateBy   time.Duration
	approved bool
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

// planSteps lays out the approvals: a tenth each with conflicting
// decisions, with none and with a late one, the rest with one decision,
// starting at random moments of the first two thirds of the chaos.
func planSteps(cfg Config, rng *rand.Rand) []step {
	n := cfg.Approvals
	plans := make([]Plan, n)
	for i := range plans {
		switch {
		case i < n/10:
			plans[i] = PlanConflict
		case i < 2*n/10:
			plans[i] = PlanNone
		case i < 3*n/10:
			plans[i] = PlanLate
		default:
			plans[i] = PlanSingle
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
		s := step{id: fmt.Sprintf("chaos-%05d", i+1), plan: plans[i], at: ats[i], timeout: timeout,
			decideAfter: time.Duration(rng.Int64N(int64(timeout/2) + 1)), approved: rng.IntN(2) == 0}
		// Half the late decisions go out within 20 ms of the deadline,
		// where an expires_at a few milliseconds off shows.
		if rng.IntN(2) == 0 {
			s.lateBy = time.Millisecond + time.Duration(rng.Int64N(int64(20*time.Millisecond)))
		} else {
			s.lateBy = time.Millisecond + time.Duration(rng.Int64N(int64(time.Second-time.Millisecond)))
		}
		steps[i] = s
	}
	return steps
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
