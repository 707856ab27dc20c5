package chaos

import (
	"reflect"
	"slices"
	"testing"
	"time"
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
		if s.decideAfter > s.timeout/2 {
			t.Errorf("%s: decision %s after the start, not well before its %s timeout", s.id, s.decideAfter, s.timeout)
		}
		if s.at < 0 || s.at > cfg.Duration*2/3 || (i > 0 && s.at < steps[i-1].at) {
			t.Errorf("%s: starts at %s, out of order or outside the first two thirds of %s", s.id, s.at, cfg.Duration)
		}
		if s.lateBy <= 0 || s.lateBy >= time.Second {
			t.Errorf("%s: late by %s", s.id, s.lateBy)
		}
	}
	want := map[Plan]int{PlanConflict: 30, PlanNone: 30, PlanLate: 30, PlanSingle: 210}
	if !reflect.DeepEqual(plans, want) {
		t.Fatalf("mix = %v, want %v", plans, want)
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
