package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/client"
	"github.com/microsoft/durabletask-go/task"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/approvaldash"
	"github.com/approvals-go/approvals/dts"
	"github.com/approvals-go/approvals/scheduler"
	"github.com/approvals-go/approvals/scheduler/dashboard"
	"github.com/approvals-go/approvals/worker"
)

// DashboardConfig sizes the dashboard benchmark: how fast the dashboard's
// pages answer on a large store, and whether polling its instance list
// slows the scheduler down.
type DashboardConfig struct {
	// Instances approvals are started and left waiting; Decided of them
	// are then decided, so the store holds mostly pending ones.
	Instances int `json:"instances"`
	Decided   int `json:"decided"`
	// Samples requests are timed for each page.
	Samples int `json:"samples"`
	// N approvals are started and decided in each throughput phase, with
	// and without a poller.
	N           int       `json:"n"`
	Concurrency int       `json:"concurrency"`
	Progress    io.Writer `json:"-"`
}

// PageFigure is the latency of one page as a browser on this machine
// would see it: request, render and transfer over loopback.
type PageFigure struct {
	Page  string  `json:"page"`
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
}

// DashboardReport is a whole run.
type DashboardReport struct {
	Date   string          `json:"date"`
	CPUs   int             `json:"cpus"`
	Go     string          `json:"go"`
	Config DashboardConfig `json:"config"`
	Pages  []PageFigure    `json:"pages"`
	// Throughput without and with the instance list polled once a second.
	Polling
}

func (c DashboardConfig) say(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, format+"\n", args...)
	}
}

// dashTarget is an embedded scheduler on a file database with its
// dashboard, both in this process as cmd/scheduler runs them, and an
// approval worker and a client over loopback gRPC.
type dashTarget struct {
	srv     *scheduler.Server
	reader  *scheduler.Reader
	client  *client.TaskHubGrpcClient
	url     string
	http    *http.Client
	counter int
}

// RunDashboard fills a fresh embedded scheduler and measures its
// dashboard.
func RunDashboard(ctx context.Context, cfg DashboardConfig) (*DashboardReport, error) {
	rep := &DashboardReport{Date: time.Now().UTC().Format("2006-01-02"), CPUs: runtime.NumCPU(), Go: runtime.Version(), Config: cfg}
	dir, err := os.MkdirTemp("", "approvals-bench-dashboard")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(ctx)
	t, stop, err := startDashTarget(ctx, dir)
	if err != nil {
		cancel()
		return nil, err
	}
	// The worker's stream ends before its connection closes, so that the
	// shutdown is quiet.
	defer func() { cancel(); stop() }()
	if err := t.fill(ctx, cfg); err != nil {
		return nil, err
	}
	if err := t.measurePages(ctx, cfg, rep); err != nil {
		return nil, err
	}
	if err := t.measurePolling(ctx, cfg, rep); err != nil {
		return nil, err
	}
	return rep, nil
}

func startDashTarget(ctx context.Context, dir string) (*dashTarget, func(), error) {
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := scheduler.New(ctx, scheduler.Options{DataDir: dir, Logger: quiet})
	if err != nil {
		return nil, nil, err
	}
	var closers []func()
	stop := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	closers = append(closers, func() { srv.Close(context.Background()) })
	fail := func(err error) (*dashTarget, func(), error) { stop(); return nil, nil, err }
	glis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	go srv.Serve(glis)
	dash, err := dashboard.New(dashboard.Options{Hubs: dashboard.Embedded(srv), App: approvaldash.App{}, Logger: quiet})
	if err != nil {
		return fail(err)
	}
	hlis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	web := &http.Server{Handler: dash, ReadHeaderTimeout: 10 * time.Second}
	go web.Serve(hlis)
	closers = append(closers, func() { web.Close() })

	cfg, err := dts.Settings{Endpoint: "http://" + glis.Addr().String(), TaskHub: dts.DefaultTaskHub}.Resolve()
	if err != nil {
		return fail(err)
	}
	cfg.Logger = quiet
	wconn, err := dts.Dial(ctx, cfg, dts.RoleWorker)
	if err != nil {
		return fail(err)
	}
	closers = append(closers, func() { wconn.Close() })
	cconn, err := dts.Dial(ctx, cfg, dts.RoleClient)
	if err != nil {
		return fail(err)
	}
	closers = append(closers, func() { cconn.Close() })
	r := task.NewTaskRegistry()
	if err := approval.Register(r, approval.NewActivities("http://bench.invalid", slog.New(slog.DiscardHandler))); err != nil {
		return fail(err)
	}
	l := worker.NewListener(wconn, task.NewTaskExecutor(r), worker.ListenerOptions{SlowActivities: approval.SlowActivities(), Logger: slog.New(slog.DiscardHandler)})
	if err := l.Start(ctx); err != nil {
		return fail(err)
	}
	return &dashTarget{srv: srv, reader: srv.Reader(dts.DefaultTaskHub), client: client.NewTaskHubGrpcClient(cconn, dts.Logger(quiet)),
		url: "http://" + hlis.Addr().String(), http: &http.Client{Timeout: time.Minute}}, stop, nil
}

func (t *dashTarget) ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		t.counter++
		out[i] = fmt.Sprintf("dash-%s-%d", prefix, t.counter)
	}
	return out
}

func (t *dashTarget) start(ctx context.Context, ids []string, c int) error {
	h := 24.0
	_, err := parallel(ids, c, func(id string) error {
		_, err := schedule(ctx, t.client, approval.Request{RequestID: id, Requester: "bench", Item: "item", TimeoutHours: &h})
		return err
	})
	return err
}

func (t *dashTarget) decide(ctx context.Context, ids []string, c int) error {
	// Not the requester: the rules refuse a self-decision.
	yes, who := true, "bench-approver"
	_, err := parallel(ids, c, func(id string) error {
		return t.client.RaiseEvent(ctx, api.InstanceID(id), approval.DecisionEventName,
			api.WithEventPayload(approval.Decision{IsApproved: &yes, Approver: &who}))
	})
	return err
}

// await reads each instance through the store's reader until cond holds.
func (t *dashTarget) await(ctx context.Context, ids []string, cond func(*api.OrchestrationMetadata) bool, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for _, id := range ids {
		for {
			in, err := t.reader.Instance(ctx, api.InstanceID(id), true)
			if err != nil {
				return fmt.Errorf("%s: %w", id, err)
			}
			if cond(&in.OrchestrationMetadata) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: not there after %s", id, limit)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	return nil
}

func (t *dashTarget) fill(ctx context.Context, cfg DashboardConfig) error {
	began := time.Now()
	ids := t.ids("pending", cfg.Instances)
	const chunk = 10000
	for i := 0; i < len(ids); i += chunk {
		part := ids[i:min(i+chunk, len(ids))]
		if err := t.start(ctx, part, cfg.Concurrency); err != nil {
			return err
		}
		cfg.say("filled %d of %d approvals in %s", i+len(part), len(ids), time.Since(began).Round(time.Second))
	}
	// Work is handed out in order, so awaiting a sample is enough.
	var sample []string
	for i := len(ids) - 1; i >= 0; i -= max(1, len(ids)/200) {
		sample = append(sample, ids[i])
	}
	if err := t.await(ctx, sample, waiting, 30*time.Minute); err != nil {
		return err
	}
	decided := ids[:min(cfg.Decided, len(ids))]
	cfg.say("deciding %d of them", len(decided))
	if err := t.decide(ctx, decided, cfg.Concurrency); err != nil {
		return err
	}
	if err := t.await(ctx, decided, complete, 10*time.Minute); err != nil {
		return err
	}
	cfg.say("store filled in %s; letting it settle", time.Since(began).Round(time.Second))
	// Timings start once the write-ahead log has been checkpointed and
	// the worker is idle, not while the fill's tail is still written.
	time.Sleep(settle)
	return nil
}

// get fetches a page and reads it whole.
func (t *dashTarget) get(ctx context.Context, method, path, body string) error {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, t.url+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("x-taskhub", dts.DefaultTaskHub)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := t.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	return nil
}

// settle is the quiet time after the fill, and warmup the requests of each
// page made before its timing starts (its statements are prepared on every
// connection of the reader pool by then).
const (
	settle = 5 * time.Second
	warmup = 20
)

// phases alternate without and with the poller, so that drift over the
// run falls on both.
const phases = 8

// listPage is what the poller asks for: the instance list as it opens.
const listPage = "/hubs/default/"

func (t *dashTarget) measurePages(ctx context.Context, cfg DashboardConfig, rep *DashboardReport) error {
	pages := []struct{ name, method, path, body string }{
		{"instance list, newest 50 of all (the default view)", "GET", listPage, ""},
		{"instance list, running", "GET", listPage + "?status=running", ""},
		{"instance list, completed", "GET", listPage + "?status=completed", ""},
		{"instance list, ID prefix", "GET", listPage + "?prefix=dash-pending-9", ""},
		{"instance list, created in the last minute", "GET", listPage + "?from=" + time.Now().Add(-time.Minute).UTC().Format("2006-01-02T15:04:05"), ""},
		{"instance list, page 20", "GET", listPage + "?page=20", ""},
		{"task hubs with counts", "GET", "/", ""},
		{"one approval with its timeline", "GET", "/hubs/default/instances/dash-pending-1", ""},
		{"JSON API query, as the Azure CLI sends it", "POST", "/api/v1/taskhubs/orchestrations/query",
			`{"filter":{},"pagination":{"startIndex":0,"count":100},"sort":[{"column":"LAST_UPDATED_AT","direction":"DESCENDING_SORT"}]}`},
		{"JSON API query, newest 100 by creation", "POST", "/api/v1/taskhubs/orchestrations/query", `{"pagination":{"startIndex":0,"count":100}}`},
	}
	for _, p := range pages {
		cfg.say("timing %d requests: %s", cfg.Samples, p.name)
		lat := make([]time.Duration, 0, cfg.Samples)
		for i := range warmup + cfg.Samples {
			began := time.Now()
			if err := t.get(ctx, p.method, p.path, p.body); err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			if i >= warmup {
				lat = append(lat, time.Since(began))
			}
		}
		lat = sortDurations(lat)
		rep.Pages = append(rep.Pages, PageFigure{Page: p.name, P50Ms: percentile(lat, 50), P99Ms: percentile(lat, 99), MaxMs: percentile(lat, 100)})
	}
	return nil
}

// measurePolling runs start and decide phases alternately without and
// with a poller.
func (t *dashTarget) measurePolling(ctx context.Context, cfg DashboardConfig, rep *DashboardReport) error {
	var err error
	rep.Polling, err = pollingPhases{rounds: phases, n: cfg.N, polls: " the list", say: cfg.say, ids: t.ids,
		poll: func(stop <-chan struct{}) error { return t.poll(ctx, stop) },
		start: func(ids []string) error {
			if err := t.start(ctx, ids, cfg.Concurrency); err != nil {
				return err
			}
			return t.await(ctx, ids, waiting, 10*time.Minute)
		},
		decide: func(ids []string) error {
			if err := t.decide(ctx, ids, cfg.Concurrency); err != nil {
				return err
			}
			return t.await(ctx, ids, complete, 10*time.Minute)
		},
	}.measure(ctx)
	return err
}

// poll fetches the instance list once a second, as an open dashboard tab
// refreshing every second would.
func (t *dashTarget) poll(ctx context.Context, stop <-chan struct{}) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if err := t.get(ctx, "GET", listPage, ""); err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		select {
		case <-stop:
			return nil
		case <-tick.C:
		}
	}
}

func average(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	return sum / float64(len(v))
}

// PrintDashboard writes the figures as Markdown tables.
func PrintDashboard(w io.Writer, rep *DashboardReport) {
	fmt.Fprintf(w, "\n%s, %d CPUs, %s; %d approvals in the store, %d of them decided; %d requests per page\n\n",
		rep.Date, rep.CPUs, rep.Go, rep.Config.Instances, rep.Config.Decided, rep.Config.Samples)
	fmt.Fprintf(w, "| %-52s | p50 (ms) | p99 (ms) | max (ms) |\n|%s|---------:|---------:|---------:|\n", "page", strings.Repeat("-", 54))
	for _, p := range rep.Pages {
		fmt.Fprintf(w, "| %-52s | %8s | %8s | %8s |\n", p.Page, format(p.P50Ms), format(p.P99Ms), format(p.MaxMs))
	}
	fmt.Fprintf(w, "\n%d alternating phases of %d approvals, concurrency %d, half of them with the list polled once a second:\n\n",
		phases, rep.Config.N, rep.Config.Concurrency)
	fmt.Fprintf(w, "| %-33s | not polled | polled | change |\n|%s|-----------:|-------:|-------:|\n", "throughput", strings.Repeat("-", 35))
	for _, row := range []struct {
		name    string
		off, on float64
	}{
		{"start (approvals/s)", rep.StartPerSecond, rep.StartPerSecondPolled},
		{"decision (approvals/s)", rep.DecisionPerSecond, rep.DecisionPerSecondPolled},
	} {
		fmt.Fprintf(w, "| %-33s | %10s | %6s | %+5.1f%% |\n", row.name, format(row.off), format(row.on), 100*(row.on-row.off)/row.off)
	}
}
