package bench

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/approvals-go/approvals/scheduler"
)

// Config sizes a benchmark run.
type Config struct {
	// N approvals are started and then decided in the throughput phases.
	N int
	// Pending approvals are left waiting for the memory and idle figures.
	Pending int
	// Concurrency is how many calls the driver has in flight.
	Concurrency int
	// Idle is how long a scheduler is left alone before an idle sample.
	Idle time.Duration
	// IdleSamples is how many idle decisions and idle starts are timed.
	IdleSamples int
	// Timeouts approvals time out after TimeoutAfter, for lateness.
	Timeouts     int
	TimeoutAfter time.Duration
	// Rounds repeats the start-and-decide workload to show whether the
	// scheduler's goroutines or heap grow.
	Rounds   int
	Backends []string
	// Progress receives one line per phase.
	Progress io.Writer
}

// Round is the scheduler's state after one round of the workload.
type Round struct {
	Goroutines int     `json:"goroutines"`
	HeapMiB    float64 `json:"heap_mib"`
}

// Result holds the figures of one scheduler.
type Result struct {
	Backend                string  `json:"backend"`
	StartPerSecond         float64 `json:"start_per_second"`
	DecisionPerSecond      float64 `json:"decision_per_second"`
	BusyDecisionP50Ms      float64 `json:"busy_decision_p50_ms"`
	BusyDecisionP99Ms      float64 `json:"busy_decision_p99_ms"`
	IdleDecisionP50Ms      float64 `json:"idle_decision_p50_ms"`
	IdleDecisionMaxMs      float64 `json:"idle_decision_max_ms"`
	IdleStartP50Ms         float64 `json:"idle_start_p50_ms"`
	IdleStartMaxMs         float64 `json:"idle_start_max_ms"`
	TimeoutLatenessP50Ms   float64 `json:"timeout_lateness_p50_ms"`
	TimeoutLatenessMaxMs   float64 `json:"timeout_lateness_max_ms"`
	PendingRSSMiB          float64 `json:"pending_rss_mib"`
	BytesPerApproval       float64 `json:"sqlite_bytes_per_completed_approval"`
	IdleCPUPercentOfOneCPU float64 `json:"idle_cpu_percent_of_one_core"`
	Rounds                 []Round `json:"rounds"`
}

// Report is a whole run, written as JSON for comparison across commits.
type Report struct {
	Date    string   `json:"date"`
	CPUs    int      `json:"cpus"`
	Go      string   `json:"go"`
	Config  Config   `json:"config"`
	Results []Result `json:"results"`
}

func (c Config) say(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, format+"\n", args...)
	}
}

// Run measures every configured backend with the same workload.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	rep := &Report{Date: time.Now().UTC().Format("2006-01-02"), CPUs: runtime.NumCPU(), Go: runtime.Version(), Config: cfg}
	targets := make([]*target, 0, len(cfg.Backends))
	defer func() {
		for _, t := range targets {
			t.close()
		}
	}()
	results := make([]*Result, 0, len(cfg.Backends))
	for _, kind := range cfg.Backends {
		t, err := launch(ctx, kind)
		if err != nil {
			return nil, err
		}
		targets = append(targets, t)
		r := &Result{Backend: kind}
		results = append(results, r)
		if err := throughput(ctx, cfg, t, r); err != nil {
			return nil, err
		}
	}
	for _, t := range targets {
		cfg.say("%s: filling %d pending approvals", t.kind, cfg.Pending)
		ids := t.ids("pending", cfg.Pending)
		t.pending = ids
		if _, err := t.start(ctx, ids, cfg.Concurrency, 24*time.Hour); err != nil {
			return nil, err
		}
		if _, err := t.await(ctx, ids, waiting, 10*time.Minute); err != nil {
			return nil, err
		}
	}
	if err := idle(ctx, cfg, targets, results); err != nil {
		return nil, err
	}
	for _, r := range results {
		rep.Results = append(rep.Results, *r)
	}
	return rep, nil
}

// throughput runs the busy phases on one scheduler.
func throughput(ctx context.Context, cfg Config, t *target, r *Result) error {
	warm := t.ids("warmup", 50)
	if _, err := t.start(ctx, warm, cfg.Concurrency, time.Hour); err != nil {
		return err
	}
	if _, err := t.await(ctx, warm, waiting, time.Minute); err != nil {
		return err
	}
	if _, err := t.decide(ctx, warm, cfg.Concurrency); err != nil {
		return err
	}
	if _, err := t.await(ctx, warm, complete, time.Minute); err != nil {
		return err
	}

	var busy []time.Duration
	completed := len(warm)
	for round := 1; round <= max(1, cfg.Rounds); round++ {
		ids := t.ids("load", cfg.N)
		cfg.say("%s: round %d: starting %d approvals", t.kind, round, cfg.N)
		began := time.Now()
		if _, err := t.start(ctx, ids, cfg.Concurrency, time.Hour); err != nil {
			return err
		}
		if _, err := t.await(ctx, ids, waiting, 10*time.Minute); err != nil {
			return err
		}
		startRate := float64(cfg.N) / time.Since(began).Seconds()
		if n := t.refused.Swap(0); n > 0 {
			cfg.say("%s: round %d: %d starts refused for load and sent again", t.kind, round, n)
		}

		cfg.say("%s: round %d: deciding %d approvals", t.kind, round, cfg.N)
		began = time.Now()
		raised, err := t.decide(ctx, ids, cfg.Concurrency)
		if err != nil {
			return err
		}
		done, err := t.await(ctx, ids, complete, 10*time.Minute)
		if err != nil {
			return err
		}
		decideRate := float64(cfg.N) / time.Since(began).Seconds()
		completed += cfg.N
		if round == 1 {
			r.StartPerSecond, r.DecisionPerSecond = startRate, decideRate
			for _, id := range ids {
				busy = append(busy, done[id].LastUpdatedAt.Sub(raised[id]))
			}
		}
		time.Sleep(500 * time.Millisecond)
		g, heap, err := t.vars()
		if err != nil {
			return err
		}
		r.Rounds = append(r.Rounds, Round{Goroutines: g, HeapMiB: float64(heap) / (1 << 20)})
	}
	busy = sortDurations(busy)
	r.BusyDecisionP50Ms, r.BusyDecisionP99Ms = percentile(busy, 50), percentile(busy, 99)

	cfg.say("%s: %d approvals timing out after %s", t.kind, cfg.Timeouts, cfg.TimeoutAfter)
	tids := t.ids("timeout", cfg.Timeouts)
	if _, err := t.start(ctx, tids, cfg.Concurrency, cfg.TimeoutAfter); err != nil {
		return err
	}
	done, err := t.await(ctx, tids, complete, cfg.TimeoutAfter+time.Minute)
	if err != nil {
		return err
	}
	var late []time.Duration
	for _, id := range tids {
		late = append(late, done[id].LastUpdatedAt.Sub(done[id].CreatedAt.Add(cfg.TimeoutAfter)))
	}
	late = sortDurations(late)
	r.TimeoutLatenessP50Ms, r.TimeoutLatenessMaxMs = percentile(late, 50), percentile(late, 100)
	completed += cfg.Timeouts

	size, err := databaseBytes(t)
	if err != nil {
		return err
	}
	r.BytesPerApproval = float64(size) / float64(completed)
	return nil
}

// databaseBytes is the size of a scheduler's SQLite files after a
// checkpoint, so that a write-ahead log is not counted twice.
func databaseBytes(t *target) (int64, error) {
	if t.kind == Ours {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(t.dir, scheduler.DatabaseFile))
		if err != nil {
			return 0, err
		}
		_, err = db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
		db.Close()
		if err != nil {
			return 0, fmt.Errorf("checkpoint: %w", err)
		}
	}
	return dirSize(t.dir), nil
}

// idle leaves every scheduler alone, measuring its CPU, then times single
// decisions and single starts, each after a quiet period.
func idle(ctx context.Context, cfg Config, targets []*target, results []*Result) error {
	cfg.say("all: idle for %s with pending approvals, measuring CPU", cfg.Idle)
	before := make([]time.Duration, len(targets))
	for i, t := range targets {
		cpu, err := t.cpuTime()
		if err != nil {
			return err
		}
		before[i] = cpu
	}
	time.Sleep(cfg.Idle)
	for i, t := range targets {
		cpu, err := t.cpuTime()
		if err != nil {
			return err
		}
		results[i].IdleCPUPercentOfOneCPU = 100 * (cpu - before[i]).Seconds() / cfg.Idle.Seconds()
		rss, err := t.rss()
		if err != nil {
			return err
		}
		results[i].PendingRSSMiB = float64(rss) / (1 << 20)
	}

	decisions := make([][]time.Duration, len(targets))
	starts := make([][]time.Duration, len(targets))
	for s := 0; s < cfg.IdleSamples; s++ {
		if s > 0 {
			time.Sleep(cfg.Idle)
		}
		cfg.say("all: idle decision sample %d of %d", s+1, cfg.IdleSamples)
		for i, t := range targets {
			if len(t.pending) == 0 {
				return fmt.Errorf("%s: no pending approval left for an idle sample; raise -pending", t.kind)
			}
			id := t.pending[0]
			t.pending = t.pending[1:]
			raised, err := t.decide(ctx, []string{id}, 1)
			if err != nil {
				return err
			}
			done, err := t.await(ctx, []string{id}, complete, time.Minute)
			if err != nil {
				return err
			}
			decisions[i] = append(decisions[i], done[id].LastUpdatedAt.Sub(raised[id]))
		}
		time.Sleep(cfg.Idle)
		cfg.say("all: idle start sample %d of %d", s+1, cfg.IdleSamples)
		for i, t := range targets {
			ids := t.ids("idle-start", 1)
			began := time.Now()
			if _, err := t.start(ctx, ids, 1, time.Hour); err != nil {
				return err
			}
			done, err := t.await(ctx, ids, waiting, time.Minute)
			if err != nil {
				return err
			}
			starts[i] = append(starts[i], done[ids[0]].LastUpdatedAt.Sub(began))
		}
	}
	for i := range targets {
		d, st := sortDurations(decisions[i]), sortDurations(starts[i])
		results[i].IdleDecisionP50Ms, results[i].IdleDecisionMaxMs = percentile(d, 50), percentile(d, 100)
		results[i].IdleStartP50Ms, results[i].IdleStartMaxMs = percentile(st, 50), percentile(st, 100)
	}
	return nil
}

// Print writes the comparison table: each figure for each backend and, with
// two backends, how many times better the first is.
func Print(w io.Writer, rep *Report) {
	fmt.Fprintf(w, "\n%s, %d CPUs, %s; %d approvals per phase, %d pending, concurrency %d\n\n",
		rep.Date, rep.CPUs, rep.Go, rep.Config.N, rep.Config.Pending, rep.Config.Concurrency)
	rows := []struct {
		name         string
		get          func(Result) float64
		higherBetter bool
	}{
		{"start throughput (approvals/s)", func(r Result) float64 { return r.StartPerSecond }, true},
		{"decision throughput (approvals/s)", func(r Result) float64 { return r.DecisionPerSecond }, true},
		{"busy decision→completion p50 (ms)", func(r Result) float64 { return r.BusyDecisionP50Ms }, false},
		{"busy decision→completion p99 (ms)", func(r Result) float64 { return r.BusyDecisionP99Ms }, false},
		{"idle decision→completion p50 (ms)", func(r Result) float64 { return r.IdleDecisionP50Ms }, false},
		{"idle decision→completion max (ms)", func(r Result) float64 { return r.IdleDecisionMaxMs }, false},
		{"idle start→waiting p50 (ms)", func(r Result) float64 { return r.IdleStartP50Ms }, false},
		{"idle start→waiting max (ms)", func(r Result) float64 { return r.IdleStartMaxMs }, false},
		{"timeout lateness p50 (ms)", func(r Result) float64 { return r.TimeoutLatenessP50Ms }, false},
		{"timeout lateness max (ms)", func(r Result) float64 { return r.TimeoutLatenessMaxMs }, false},
		{"RSS with pending approvals (MiB)", func(r Result) float64 { return r.PendingRSSMiB }, false},
		{"SQLite bytes per completed approval", func(r Result) float64 { return r.BytesPerApproval }, false},
		{"idle CPU with pending (% of a core)", func(r Result) float64 { return r.IdleCPUPercentOfOneCPU }, false},
	}
	fmt.Fprintf(w, "| %-37s |", "figure")
	for _, r := range rep.Results {
		fmt.Fprintf(w, " %12s |", r.Backend)
	}
	two := len(rep.Results) == 2
	if two {
		fmt.Fprintf(w, " %s better |", rep.Results[0].Backend)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "|%s|", "---------------------------------------")
	for range rep.Results {
		fmt.Fprint(w, "-------------:|")
	}
	if two {
		fmt.Fprint(w, "------------:|")
	}
	fmt.Fprintln(w)
	for _, row := range rows {
		fmt.Fprintf(w, "| %-37s |", row.name)
		for _, r := range rep.Results {
			fmt.Fprintf(w, " %12s |", format(row.get(r)))
		}
		if two {
			a, b := row.get(rep.Results[0]), row.get(rep.Results[1])
			ratio := b / a
			if row.higherBetter {
				ratio = a / b
			}
			cell := format(ratio)
			if cell != "n/a" {
				cell += "×"
			}
			fmt.Fprintf(w, " %11s |", cell)
		}
		fmt.Fprintln(w)
	}
	for _, r := range rep.Results {
		var g []int
		var h []string
		for _, rd := range r.Rounds {
			g = append(g, rd.Goroutines)
			h = append(h, format(rd.HeapMiB))
		}
		fmt.Fprintf(w, "\n%s after each round: goroutines %v, heap MiB %v", r.Backend, g, h)
	}
	fmt.Fprintln(w)
}

func format(v float64) string {
	switch {
	case math.IsInf(v, 0) || math.IsNaN(v):
		return "n/a"
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// WriteJSON saves a report.
func WriteJSON(path string, rep any) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
