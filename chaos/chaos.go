// Package chaos runs the scheduler, the worker and the handler as separate
// processes, starts and decides approvals over HTTP while SIGKILLing and
// restarting them at random moments, and then holds every answer the API
// gave against the state each approval ended in.
//
// The API promises that nothing it acknowledged is lost and that what it
// tells a caller is true: a decision answered 200 took effect (it is the
// outcome, or a policy recorded it as its person's vote), one answered 409
// did not, one answered 202 before the deadline takes effect unless
// something delivered before it took its place, and a decision delivered
// before the deadline beats the timeout whatever is down in between; one
// person is one voter however their name is spelt, and the requester and
// people not named never decide. Check is that promise written as rules,
// and works on plain records so that it can be tested without any
// process.
//
// The worker's notices go to a signed webhook the run receives itself,
// which never answers a share of the deliveries.
//
// A seed fixes the approvals (plan, timeout, when each decision goes out)
// and the kill schedule (victims, gaps, outages); the moments at which
// processes actually die relative to requests still depend on the machine.
package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

// Config sizes a run.
type Config struct {
	// Approvals are started over the first two thirds of Duration.
	Approvals int
	// Concurrency bounds the HTTP requests in flight.
	Concurrency int
	// Duration is how long the kill schedule runs: kills are planned until
	// it is filled, and at least one of each process is always planned.
	Duration time.Duration
	// KillEvery is the mean gap between a restart and the next kill.
	KillEvery time.Duration
	// LongOutages is the share of kills, after the first three, whose
	// victims stay down long enough to cross deadlines: from MinTimeout to
	// the middle of the timeout range. The first three (one per process)
	// always do.
	LongOutages float64
	// Approvals wait between MinTimeout and MaxTimeout for a decision.
	MinTimeout, MaxTimeout time.Duration
	// HangNotices is the share of notice deliveries the webhook receiver
	// never answers: every attempt of such a delivery is held open until
	// the worker gives up on it.
	HangNotices float64
	// GiveUp bounds how long one request is retried.
	GiveUp time.Duration
	// Settle is how long, beyond MaxTimeout, approvals may take to become
	// final after the last restart before they count as lost.
	Settle time.Duration
	Seed   uint64
	// BinDir holds handler, worker and scheduler; empty builds them.
	BinDir string
	// Dir receives the scheduler's files and the processes' logs; empty
	// means a temporary directory, removed after a run that found nothing
	// unless Keep is set.
	Dir  string
	Keep bool
	// Records, when set, receives every approval's record as JSON: what
	// was sent, every answer and the end state, for a post-mortem.
	Records string
	// Progress receives a line every few seconds; nil is quiet.
	Progress io.Writer
}

// DefaultConfig is the run `go run ./cmd/chaos` makes.
func DefaultConfig() Config {
	return Config{
		Approvals:   2000,
		Concurrency: 64,
		Duration:    90 * time.Second,
		KillEvery:   3 * time.Second,
		LongOutages: 0.3,
		HangNotices: 0.1,
		MinTimeout:  4 * time.Second,
		MaxTimeout:  20 * time.Second,
		GiveUp:      2 * time.Minute,
		Settle:      time.Minute,
	}
}

func (c Config) validate() error {
	switch {
	case c.Approvals < 1:
		return errors.New("approvals must be at least 1")
	case c.Concurrency < 1:
		return errors.New("concurrency must be at least 1")
	case c.Duration <= 0 || c.KillEvery <= 0 || c.GiveUp <= 0 || c.Settle <= 0:
		return errors.New("duration, kill interval, give-up bound and settle bound must be positive")
	case c.LongOutages < 0 || c.LongOutages > 1:
		return errors.New("the share of long outages must be between 0 and 1")
	case c.HangNotices < 0 || c.HangNotices > 1:
		return errors.New("the share of hanging notices must be between 0 and 1")
	case c.MinTimeout < 2*time.Second || c.MaxTimeout < c.MinTimeout:
		return errors.New("timeouts must be at least 2s, the longest no shorter than the shortest")
	}
	return nil
}

// Report is a run's figures and findings.
type Report struct {
	Seed uint64 `json:"seed"`
	// Replay is the command that makes the same plan.
	Replay string `json:"replay"`
	Date   string `json:"date"`
	CPUs   int    `json:"cpus"`
	Go     string `json:"go"`
	// Kills and Crashes count by process. Events are the kills of the
	// schedule, Together those that took all three down at once, and
	// LongOutages those meant to cross deadlines.
	Kills       map[string]int `json:"kills"`
	Events      int            `json:"kill_events"`
	Together    int            `json:"kill_events_all_three"`
	LongOutages int            `json:"long_outages"`
	Crashes     map[string]int `json:"crashes"`
	// Notices are what the webhook receiver saw.
	Notices Notices `json:"notices"`
	// ChaosSeconds runs from the first start to the last restart or the
	// last answer, whichever is later; SettleSeconds from then until every
	// approval was final or the bound passed.
	ChaosSeconds  float64 `json:"chaos_seconds"`
	SettleSeconds float64 `json:"settle_seconds"`
	TotalSeconds  float64 `json:"total_seconds"`
	Verdict
	// Dir is where the scheduler's files and the logs were kept, if they
	// were.
	Dir string `json:"dir,omitempty"`
}

// OK reports whether the run found nothing lost and nothing wrong.
func (r *Report) OK() bool {
	return r.Counts.Lost == 0 && r.Counts.Wrong == 0 && r.Notices.BadSignature == 0
}

// Replay is the command line of cmd/chaos that makes cfg's plan.
func Replay(cfg Config) string {
	return fmt.Sprintf("go run ./cmd/chaos -seed %d -approvals %d -concurrency %d -duration %s -kill-every %s -long-outages %g -hang-notices %g -min-timeout %s -max-timeout %s",
		cfg.Seed, cfg.Approvals, cfg.Concurrency, cfg.Duration, cfg.KillEvery, cfg.LongOutages, cfg.HangNotices, cfg.MinTimeout, cfg.MaxTimeout)
}

// Run makes one chaos run. An error means the run could not be made (a
// build failed, a process would not start); losses and contradictions are
// in the report.
func Run(ctx context.Context, cfg Config) (rep *Report, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	begun := time.Now()
	dir := cfg.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "approvals-chaos"); err != nil {
			return nil, fmt.Errorf("create work directory: %w", err)
		}
	}
	rep = &Report{Seed: cfg.Seed, Replay: Replay(cfg), Date: begun.UTC().Format("2006-01-02"),
		CPUs: runtime.NumCPU(), Go: runtime.Version(), Dir: dir}
	defer func() {
		if cfg.Dir == "" && !cfg.Keep && err == nil && rep.OK() {
			os.RemoveAll(dir)
			rep.Dir = ""
		}
	}()
	bin := cfg.BinDir
	if bin == "" {
		bin = filepath.Join(dir, "bin")
		say(cfg.Progress, "chaos: building %v into %s", Processes, bin)
		if err := Build(ctx, bin); err != nil {
			return rep, err
		}
	}
	stepRng, killRng := rngs(cfg.Seed)
	steps := planSteps(cfg, stepRng)
	kills := planKills(cfg, killRng)
	rep.Events = len(kills)
	for _, k := range kills {
		if k.long() {
			rep.LongOutages++
		}
		if len(k.victims) == len(Processes) {
			rep.Together++
		}
	}
	say(cfg.Progress, "chaos: seed %d: %d approvals, %d kills planned over %s; processes log to %s",
		cfg.Seed, len(steps), len(kills), cfg.Duration, dir)

	notices, err := startReceiver(cfg.HangNotices, cfg.Seed)
	if err != nil {
		return rep, err
	}
	defer notices.close()
	c, err := startCluster(ctx, bin, dir, notices.env())
	if err != nil {
		return rep, err
	}
	defer c.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &runner{cfg: cfg, api: newClient(c.baseURL(), cfg.Concurrency, cfg.GiveUp), began: time.Now(),
		recs: make([]*tracked, len(steps))}

	var monkeyErr error
	monkeyDone := make(chan struct{})
	go func() {
		defer close(monkeyDone)
		if monkeyErr = monkey(ctx, c, kills); monkeyErr != nil {
			cancel()
		}
	}()
	var wg sync.WaitGroup
	for i, s := range steps {
		t := &tracked{rec: Record{ID: s.id, Plan: s.plan, Timeout: s.timeout, Requester: Requester,
			Approvers: s.approvers, Policy: s.policy, Required: s.required}}
		r.recs[i] = t
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.run(ctx, s, t)
		}()
	}
	stopProgress := r.progress(c)
	wg.Wait()
	<-monkeyDone
	if monkeyErr != nil {
		stopProgress()
		return rep, monkeyErr
	}
	chaosEnd := time.Now()
	rep.ChaosSeconds = chaosEnd.Sub(r.began).Seconds()

	// Every approval has MaxTimeout plus Settle, from the last restart or
	// the last answer, whichever is later, to become final. Crashes while
	// settling are restarted too: an approval that becomes final only
	// because its process came back is still not lost.
	_, _, _, lastRestart := c.state()
	bound := chaosEnd
	if lastRestart.After(bound) {
		bound = lastRestart
	}
	bound = bound.Add(cfg.MaxTimeout + cfg.Settle)
	superviseCtx, stopSupervising := context.WithCancel(ctx)
	supervised := make(chan error, 1)
	go func() { supervised <- c.supervise(superviseCtx, time.Until(bound)) }()
	r.settle(ctx, bound)
	stopSupervising()
	stopProgress()
	if err := <-supervised; err != nil && !errors.Is(err, context.Canceled) {
		return rep, err
	}
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	rep.SettleSeconds = time.Since(chaosEnd).Seconds()
	rep.TotalSeconds = time.Since(begun).Seconds()
	rep.Kills, rep.Crashes, _, _ = c.state()
	rep.Notices = notices.notices()
	recs := make([]Record, len(r.recs))
	for i, t := range r.recs {
		recs[i] = t.rec
	}
	rep.Verdict = Check(recs)
	if cfg.Records != "" {
		b, err := json.MarshalIndent(recs, "", "  ")
		if err == nil {
			err = os.WriteFile(cfg.Records, b, 0o600)
		}
		if err != nil {
			return rep, fmt.Errorf("write records: %w", err)
		}
	}
	return rep, nil
}

func say(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}

// monkey runs the kill schedule, restarting crashed processes in between,
// and returns after the last restart.
func monkey(ctx context.Context, c *cluster, kills []kill) error {
	for _, k := range kills {
		if err := c.supervise(ctx, k.gap); err != nil {
			return err
		}
		c.kill(k.victims)
		if err := c.supervise(ctx, k.outage); err != nil {
			return err
		}
		if err := c.start(ctx, k.victims); err != nil {
			return err
		}
	}
	return nil
}
