package chaos

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/approvals-go/approvals/approval"
)

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Approvals = 300
	cfg.Duration = 20 * time.Second
	cfg.KillEvery = 3 * time.Second
	cfg.MinTimeout, cfg.MaxTimeout = 3*time.Second, 8*time.Second
	cfg.Seed = 7
	return cfg
}

func TestPlanIsTheSeeds(t *testing.T) {
	cfg := testConfig()
	a1, k1 := rngs(cfg.Seed)
	a2, k2 := rngs(cfg.Seed)
	if !reflect.DeepEqual(planSteps(cfg, a1), planSteps(cfg, a2)) || !reflect.DeepEqual(planKills(cfg, k1), planKills(cfg, k2)) {
		t.Fatal("one seed gave two plans")
	}
	// The kill schedule does not depend on the number of approvals, so
	// a smaller replay of a failing run kills the same way.
	more := cfg
	more.Approvals = 5000
	_, k3 := rngs(cfg.Seed)
	_, k4 := rngs(more.Seed)
	if !reflect.DeepEqual(planKills(cfg, k3), planKills(more, k4)) {
		t.Fatal("the kill schedule changed with the number of approvals")
	}
	_, k5 := rngs(cfg.Seed + 1)
	_, k6 := rngs(cfg.Seed)
	if reflect.DeepEqual(planKills(cfg, k5), planKills(cfg, k6)) {
		t.Fatal("two seeds gave the same kill schedule")
	}
}

func TestPlanSteps(t *testing.T) {
	cfg := testConfig()
	rng, _ := rngs(cfg.Seed)
	steps := planSteps(cfg, rng)
	plans := map[Plan]int{}
	for i, s := range steps {
		plans[s.plan]++
		if s.timeout < cfg.MinTimeout || s.timeout > cfg.MaxTimeout+time.Millisecond {
			t.Errorf("%s: timeout %s outside [%s, %s]", s.id, s.timeout, cfg.MinTimeout, cfg.MaxTimeout)
		}
		for _, sd := range s.sends {
			if sd.after < 0 || sd.after > s.timeout/2 {
				t.Errorf("%s: %s sent %s after the start, not well before its %s timeout", s.id, sd.d, sd.after, s.timeout)
			}
		}
		if s.at < 0 || s.at > cfg.Duration*2/3 || (i > 0 && s.at < steps[i-1].at) {
			t.Errorf("%s: starts at %s, out of order or outside the first two thirds of %s", s.id, s.at, cfg.Duration)
		}
		if s.lateBy <= 0 || s.lateBy >= time.Second {
			t.Errorf("%s: late by %s", s.id, s.lateBy)
		}
	}
	want := map[Plan]int{PlanConflict: 30, PlanNone: 30, PlanLate: 30, PlanVariants: 30, PlanWithdraw: 30, PlanAll: 30, PlanQuorum: 30, PlanSingle: 90}
	if !reflect.DeepEqual(plans, want) {
		t.Fatalf("mix = %v, want %v", plans, want)
	}
}

// Every plan's requests are what its records will be checked against:
// the people it names may decide, in any spelling, and the ones marked
// forbidden may not.
func TestPlanSendsAreWhatTheyClaim(t *testing.T) {
	cfg := testConfig()
	cfg.Approvals = 2000
	rng, _ := rngs(cfg.Seed)
	var respelt, sameVoteTwice, forbiddenSelf, forbiddenOutsider, withdrawals, races int
	for _, s := range planSteps(cfg, rng) {
		req := approval.Request{RequestID: s.id, Requester: Requester, Item: "item", Approvers: s.approvers,
			Policy: s.policy, Required: s.required}
		if err := req.Validate(); err != nil {
			t.Fatalf("%s: the request is invalid: %v", s.id, err)
		}
		standing := approval.Standing{Requester: Requester, Deciders: req.Deciders(), Withdrawable: true, Submitted: true}
		for i, sd := range s.sends {
			d := sd.d
			err := standing.Check(approval.Attempt{Who: d.Approver, Withdraw: d.Withdraw})
			if d.Forbidden != (err != nil) {
				t.Fatalf("%s: %s marked forbidden %v, the rules say %v", s.id, d, d.Forbidden, err)
			}
			switch {
			case d.Forbidden && approval.SamePerson(d.Approver, Requester):
				forbiddenSelf++
			case d.Forbidden:
				forbiddenOutsider++
			case d.Withdraw:
				withdrawals++
			}
			for _, e := range s.sends[:i] {
				if e.d.Approver != d.Approver && approval.SamePerson(e.d.Approver, d.Approver) {
					respelt++
					if s.policy != "" && e.d.sameContent(d) {
						sameVoteTwice++
					}
				}
				if s.plan == PlanWithdraw && e.d.Withdraw != d.Withdraw && !d.Forbidden && !e.d.Forbidden {
					races++
				}
			}
		}
	}
	t.Logf("respelt %d (the same vote twice under a policy %d), forbidden: self %d, outsider %d; withdrawals %d, racing a decision %d",
		respelt, sameVoteTwice, forbiddenSelf, forbiddenOutsider, withdrawals, races)
	for what, n := range map[string]int{"respelt": respelt, "same vote twice": sameVoteTwice, "self": forbiddenSelf,
		"outsider": forbiddenOutsider, "withdrawals": withdrawals, "races": races} {
		if n < 20 {
			t.Errorf("only %d %s in 2000 approvals", n, what)
		}
	}
}

func TestPlanKillsEveryProcess(t *testing.T) {
	for seed := uint64(1); seed <= 50; seed++ {
		cfg := testConfig()
		cfg.Seed = seed
		_, rng := rngs(seed)
		kills := planKills(cfg, rng)
		var first []string
		var total time.Duration
		for i, k := range kills {
			if i < len(Processes) {
				if len(k.victims) != 1 || !k.long() {
					t.Fatalf("seed %d: kill %d is %v down %s; the first of each process is alone and long", seed, i, k.victims, k.outage)
				}
				first = append(first, k.victims[0])
			}
			if k.outage > (cfg.MinTimeout+cfg.MaxTimeout)/2 || k.gap < cfg.KillEvery/2 || k.gap > cfg.KillEvery*3/2 || len(k.victims) == 0 {
				t.Fatalf("seed %d: kill %d = %+v", seed, i, k)
			}
			total += k.gap + k.outage
		}
		slices.Sort(first)
		if !slices.Equal(first, []string{Handler, Scheduler, Worker}) {
			t.Fatalf("seed %d: first kills %v, want each process once", seed, first)
		}
		if total < cfg.Duration {
			t.Fatalf("seed %d: kills fill %s of %s", seed, total, cfg.Duration)
		}
	}
}
