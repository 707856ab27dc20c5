// Command bench compares the embedded scheduler with durabletask-go's own
// SQLite backend on the approval workload, puts the HTTP API under load, or
// measures QueryInstances on a large store.
package main

import (
	"flag"
	"io"
	"os"
	"strings"
	"time"

	"github.com/approvals-go/approvals/bench"
	"github.com/approvals-go/approvals/internal/cli"
)

func main() {
	var cfg bench.Config
	flag.IntVar(&cfg.N, "n", 1000, "approvals started and decided in each throughput phase")
	flag.IntVar(&cfg.Pending, "pending", 2000, "approvals left pending for the memory and idle-CPU figures")
	flag.IntVar(&cfg.Concurrency, "concurrency", 64, "calls in flight at once")
	flag.DurationVar(&cfg.Idle, "idle", 10*time.Second, "quiet period before each idle sample")
	flag.IntVar(&cfg.IdleSamples, "idle-samples", 2, "idle decisions and idle starts timed per scheduler")
	flag.IntVar(&cfg.Timeouts, "timeouts", 20, "approvals left to time out, for lateness")
	flag.DurationVar(&cfg.TimeoutAfter, "timeout", time.Second, "timeout of those approvals")
	flag.IntVar(&cfg.Rounds, "rounds", 1, "rounds of the start-and-decide workload, to watch for growth")
	backends := flag.String("backends", "ours,vanilla", "schedulers to measure, in order: ours, vanilla")
	jsonPath := flag.String("json", "", "also write the results as JSON to this file")
	serve := flag.String("serve", "", "internal: serve one scheduler (ours or vanilla) and print its address")
	data := flag.String("data", "", "internal: data directory of the served scheduler")
	httpLoad := flag.Bool("http", false, "load the HTTP API through the real handler binary instead")
	query := flag.Bool("query", false, "fill the embedded scheduler and time QueryInstances pages, polling's cost to throughput and WaitForOrchestrationCompletion instead")
	var qcfg bench.QueryConfig
	flag.IntVar(&qcfg.Instances, "instances", 100000, "with -query: approvals in the store")
	flag.IntVar(&qcfg.Decided, "decided", 10000, "with -query: how many of them are decided")
	flag.IntVar(&qcfg.Samples, "samples", 1000, "with -query: queries timed per shape")
	flag.IntVar(&qcfg.Waits, "waits", 50, "with -query: decisions each followed by WaitForOrchestrationCompletion")
	dash := flag.Bool("dashboard", false, "fill an embedded scheduler as -query does (-instances, -decided, -samples) and time the dashboard's pages and what polling its instance list costs in throughput instead")
	cli.Parse("Usage: bench [flags]\n\nCompares the embedded scheduler with durabletask-go's own SQLite backend on the\napproval workload (the default), or with -http, -query or -dashboard puts the\nHTTP API, QueryInstances or the dashboard under load, and prints the figures.")
	cfg.Backends = strings.Split(*backends, ",")
	cfg.Progress = os.Stderr
	qcfg.N, qcfg.Concurrency, qcfg.Progress = cfg.N, cfg.Concurrency, os.Stderr

	ctx, stop := cli.Context()
	defer stop()
	var err error
	switch {
	case *serve != "":
		err = bench.Serve(ctx, *serve, *data, os.Stdout)
	case *query:
		err = report(bench.RunQuery(ctx, qcfg))(bench.PrintQuery, *jsonPath)
	case *dash:
		err = report(bench.RunDashboard(ctx, bench.DashboardConfig{Instances: qcfg.Instances, Decided: qcfg.Decided,
			Samples: qcfg.Samples, N: cfg.N, Concurrency: cfg.Concurrency, Progress: os.Stderr}))(bench.PrintDashboard, *jsonPath)
	case *httpLoad:
		// Its figures are printed only.
		err = report(bench.LoadHTTP(ctx, bench.HTTPConfig{N: cfg.N, Concurrency: cfg.Concurrency, Progress: os.Stderr}))(bench.PrintHTTP, "")
	default:
		err = report(bench.Run(ctx, cfg))(bench.Print, *jsonPath)
	}
	if err != nil {
		cli.Fail("bench", 1, err)
	}
}

// report prints a run's report, and writes it as JSON to jsonPath unless
// that is empty; it takes the run's results as they are returned, so a
// failed run is reported as its error.
func report[R any](rep R, err error) func(print func(io.Writer, R), jsonPath string) error {
	return func(print func(io.Writer, R), jsonPath string) error {
		if err != nil {
			return err
		}
		print(os.Stdout, rep)
		if jsonPath == "" {
			return nil
		}
		return bench.WriteJSON(jsonPath, rep)
	}
}
