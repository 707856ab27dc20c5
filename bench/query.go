package bench

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/microsoft/durabletask-go/api"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/dts/mgmt"
)

// QueryConfig sizes the management-read benchmark: how QueryInstances
// answers on a large store, whether polling it slows the scheduler down,
// and how soon a WaitForInstanceCompletion returns.
type QueryConfig struct {
	// Instances approvals are started and left waiting; Decided of them
	// are then decided, so the store holds both kinds.
	Instances int `json:"instances"`
	Decided   int `json:"decided"`
	// Samples queries are timed for each shape.
	Samples int `json:"samples"`
	// N approvals are started and decided in each throughput phase, with
	// and without a poller.
	N           int `json:"n"`
	Concurrency int `json:"concurrency"`
	// Waits decisions are each followed by WaitForOrchestrationCompletion.
	Waits    int       `json:"waits"`
	Progress io.Writer `json:"-"`
}

// QueryFigure is the latency of one query shape, as the client sees it.
type QueryFigure struct {
	Shape string  `json:"shape"`
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
}

// QueryReport is a whole run.
type QueryReport struct {
	Date    string        `json:"date"`
	CPUs    int           `json:"cpus"`
	Go      string        `json:"go"`
	Config  QueryConfig   `json:"config"`
	Queries []QueryFigure `json:"queries"`
	// Throughput without and with a poller asking for an inbox page and a
	// dashboard page once a second, two phases each.
	Polling
	// WaitLag is from the completion the scheduler recorded to
	// WaitForOrchestrationCompletion returning, on an idle scheduler.
	WaitLagP50Ms float64 `json:"wait_lag_p50_ms"`
	WaitLagMaxMs float64 `json:"wait_lag_max_ms"`
}

func (c QueryConfig) say(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, format+"\n", args...)
	}
}

// RunQuery fills a fresh embedded scheduler and measures it.
func RunQuery(ctx context.Context, cfg QueryConfig) (*QueryReport, error) {
	rep := &QueryReport{Date: time.Now().UTC().Format("2006-01-02"), CPUs: runtime.NumCPU(), Go: runtime.Version(), Config: cfg}
	t, err := launch(ctx, Ours)
	if err != nil {
		return nil, err
	}
	defer t.close()
	began := time.Now()
	if err := fill(ctx, cfg, t); err != nil {
		return nil, err
	}
	// A ten-second window in the middle of the fill.
	window := began.Add(time.Since(began) / 3)
	if err := measureQueries(ctx, cfg, t, window, rep); err != nil {
		return nil, err
	}
	if err := measurePolling(ctx, cfg, t, rep); err != nil {
		return nil, err
	}
	if err := measureWaits(ctx, cfg, t, rep); err != nil {
		return nil, err
	}
	return rep, nil
}

// fill starts the approvals and waits until they all wait for a decision,
// then decides some of them.
func fill(ctx context.Context, cfg QueryConfig, t *target) error {
	began := time.Now()
	ids := t.ids("pending", cfg.Instances)
	const chunk = 10000
	for i := 0; i < len(ids); i += chunk {
		part := ids[i:min(i+chunk, len(ids))]
		if _, err := t.start(ctx, part, cfg.Concurrency, 24*time.Hour); err != nil {
			return err
		}
		cfg.say("filled %d of %d approvals in %s", i+len(part), len(ids), time.Since(began).Round(time.Second))
	}
	// Work is handed out in order, so the last of each stretch is the last
	// to start waiting; awaiting a sample is enough.
	var sample []string
	for i := len(ids) - 1; i >= 0; i -= max(1, len(ids)/200) {
		sample = append(sample, ids[i])
	}
	if _, err := t.await(ctx, sample, waiting, 30*time.Minute); err != nil {
		return err
	}
	decided := ids[:min(cfg.Decided, len(ids))]
	t.pending = ids[len(decided):]
	cfg.say("deciding %d of them", len(decided))
	if _, err := t.decide(ctx, decided, cfg.Concurrency); err != nil {
		return err
	}
	if len(decided) > 0 {
		if _, err := t.await(ctx, decided[len(decided)-1:], complete, 10*time.Minute); err != nil {
			return err
		}
	}
	cfg.say("store filled in %s", time.Since(began).Round(time.Second))
	return nil
}

// inboxQuery is the page an inbox asks for: pending approvals, newest
// first, with their inputs (requester, approvers) and custom status.
func inboxQuery() mgmt.Query {
	return mgmt.Query{Statuses: []api.OrchestrationStatus{api.RUNTIME_STATUS_RUNNING}, PageSize: 100, FetchPayloads: true}
}

func measureQueries(ctx context.Context, cfg QueryConfig, t *target, window time.Time, rep *QueryReport) error {
	shapes := []struct {
		name  string
		q     mgmt.Query
		pages int
	}{
		{"newest 100, any status, no payloads (dashboard list)", mgmt.Query{PageSize: 100}, 1},
		{"newest 100 running, with payloads (inbox)", inboxQuery(), 1},
		{"running, with payloads, pages 2 to 20 by token", inboxQuery(), 20},
		{"newest 100 completed", mgmt.Query{Statuses: []api.OrchestrationStatus{api.RUNTIME_STATUS_COMPLETED}, PageSize: 100}, 1},
		{"running or completed, with payloads", mgmt.Query{Statuses: []api.OrchestrationStatus{api.RUNTIME_STATUS_RUNNING, api.RUNTIME_STATUS_COMPLETED}, PageSize: 100, FetchPayloads: true}, 1},
		{"ID prefix, running", mgmt.Query{Statuses: []api.OrchestrationStatus{api.RUNTIME_STATUS_RUNNING}, IDPrefix: t.kind + "-pending-9", PageSize: 100}, 1},
		{"created in a 10 s window, any status", mgmt.Query{CreatedFrom: window, CreatedTo: window.Add(10 * time.Second), PageSize: 100}, 1},
	}
	for _, s := range shapes {
		cfg.say("timing %d queries: %s", cfg.Samples, s.name)
		var lat []time.Duration
		for range cfg.Samples {
			q := s.q
			for p := range s.pages {
				began := time.Now()
				page, err := t.mgmt.QueryInstances(ctx, q)
				if err != nil {
					return fmt.Errorf("%s: %w", s.name, err)
				}
				if s.pages == 1 || p > 0 {
					lat = append(lat, time.Since(began))
				}
				if q.ContinuationToken = page.ContinuationToken; q.ContinuationToken == "" {
					break
				}
			}
		}
		lat = sortDurations(lat)
		rep.Queries = append(rep.Queries, QueryFigure{Shape: s.name, P50Ms: percentile(lat, 50), P99Ms: percentile(lat, 99), MaxMs: percentile(lat, 100)})
	}
	return nil
}

// measurePolling runs start and decide phases alternately without and with
// a poller, twice each.
func measurePolling(ctx context.Context, cfg QueryConfig, t *target, rep *QueryReport) error {
	var err error
	rep.Polling, err = pollingPhases{rounds: 4, n: cfg.N, say: cfg.say, ids: t.ids,
		poll: func(stop <-chan struct{}) error { return poll(ctx, t, stop) },
		start: func(ids []string) error {
			if _, err := t.start(ctx, ids, cfg.Concurrency, time.Hour); err != nil {
				return err
			}
			_, err := t.await(ctx, ids, waiting, 10*time.Minute)
			return err
		},
		decide: func(ids []string) error {
			if _, err := t.decide(ctx, ids, cfg.Concurrency); err != nil {
				return err
			}
			_, err := t.await(ctx, ids, complete, 10*time.Minute)
			return err
		},
	}.measure(ctx)
	return err
}

// poll asks for an inbox page and a dashboard page once a second.
func poll(ctx context.Context, t *target, stop <-chan struct{}) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		for _, q := range []mgmt.Query{inboxQuery(), {PageSize: 100}} {
			if _, err := t.mgmt.QueryInstances(ctx, q); err != nil {
				return err
			}
		}
		select {
		case <-stop:
			return nil
		case <-tick.C:
		}
	}
}

// measureWaits decides pending approvals one at a time, each followed by
// WaitForOrchestrationCompletion, as the HTTP API does for every decision.
func measureWaits(ctx context.Context, cfg QueryConfig, t *target, rep *QueryReport) error {
	if len(t.pending) < cfg.Waits {
		return fmt.Errorf("%d pending approvals left for %d waits", len(t.pending), cfg.Waits)
	}
	cfg.say("timing %d decisions followed by WaitForOrchestrationCompletion", cfg.Waits)
	// Not the requester: the rules refuse a self-decision.
	yes, who := true, "bench-approver"
	var lag []time.Duration
	for _, id := range t.pending[:cfg.Waits] {
		time.Sleep(50 * time.Millisecond) // idle between decisions
		if err := t.client.RaiseEvent(ctx, api.InstanceID(id), approval.DecisionEventName, api.WithEventPayload(approval.Decision{IsApproved: &yes, Approver: &who})); err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		md, err := t.client.WaitForOrchestrationCompletion(wctx, api.InstanceID(id))
		returned := time.Now()
		cancel()
		if err != nil {
			return fmt.Errorf("wait for %s: %w", id, err)
		}
		lag = append(lag, returned.Sub(md.LastUpdatedAt))
	}
	t.pending = t.pending[cfg.Waits:]
	lag = sortDurations(lag)
	rep.WaitLagP50Ms, rep.WaitLagMaxMs = percentile(lag, 50), percentile(lag, 100)
	return nil
}

// PrintQuery writes the figures as Markdown tables.
func PrintQuery(w io.Writer, rep *QueryReport) {
	c := rep.Config
	fmt.Fprintf(w, "\n%s, %d CPUs, %s; %d approvals in the store, %d of them decided; %d queries per shape\n\n",
		rep.Date, rep.CPUs, rep.Go, c.Instances, c.Decided, c.Samples)
	fmt.Fprintf(w, "| %-52s | p50 ms | p99 ms | max ms |\n|%s|-------:|-------:|-------:|\n", "QueryInstances, page of 100", "------------------------------------------------------")
	for _, q := range rep.Queries {
		fmt.Fprintf(w, "| %-52s | %6s | %6s | %6s |\n", q.Shape, format(q.P50Ms), format(q.P99Ms), format(q.MaxMs))
	}
	fmt.Fprintf(w, "\n| %-38s | no poller | polled each second | change |\n|%s|----------:|-------------------:|-------:|\n", fmt.Sprintf("throughput, %d approvals per phase", c.N), "----------------------------------------")
	row := func(name string, a, b float64) {
		fmt.Fprintf(w, "| %-38s | %9s | %18s | %+5.1f%% |\n", name, format(a), format(b), 100*(b-a)/a)
	}
	row("start (approvals/s)", rep.StartPerSecond, rep.StartPerSecondPolled)
	row("decision (approvals/s)", rep.DecisionPerSecond, rep.DecisionPerSecondPolled)
	fmt.Fprintf(w, "\nWaitForOrchestrationCompletion returned %s ms (p50), %s ms (max) after the completion was recorded, over %d idle decisions\n",
		format(rep.WaitLagP50Ms), format(rep.WaitLagMaxMs), c.Waits)
}
