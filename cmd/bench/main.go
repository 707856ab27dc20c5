// Command bench compares the embedded scheduler with durabletask-go's own
// SQLite backend on the approval workload, puts the HTTP API under load, or
// measures QueryInstances on a large store.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/approvals-go/approvals/bench"
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
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *serve != "" {
		if err := bench.Serve(ctx, *serve, *data, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if *query {
		qcfg.N, qcfg.Concurrency, qcfg.Progress = cfg.N, cfg.Concurrency, os.Stderr
		rep, err := bench.RunQuery(ctx, qcfg)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		bench.PrintQuery(os.Stdout, rep)
		if *jsonPath != "" {
			if err := bench.WriteJSON(*jsonPath, rep); err != nil {
				fmt.Fprintln(os.Stderr, "bench:", err)
				os.Exit(1)
			}
		}
		return
	}
	if *dash {
		rep, err := bench.RunDashboard(ctx, bench.DashboardConfig{Instances: qcfg.Instances, Decided: qcfg.Decided,
			Samples: qcfg.Samples, N: cfg.N, Concurrency: cfg.Concurrency, Progress: os.Stderr})
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		bench.PrintDashboard(os.Stdout, rep)
		if *jsonPath != "" {
			if err := bench.WriteJSON(*jsonPath, rep); err != nil {
				fmt.Fprintln(os.Stderr, "bench:", err)
				os.Exit(1)
			}
		}
		return
	}
	if *httpLoad {
		rep, err := bench.LoadHTTP(ctx, bench.HTTPConfig{N: cfg.N, Concurrency: cfg.Concurrency, Progress: os.Stderr})
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		bench.PrintHTTP(os.Stdout, rep)
		return
	}
	cfg.Backends = strings.Split(*backends, ",")
	cfg.Progress = os.Stderr
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	bench.Print(os.Stdout, rep)
	if *jsonPath != "" {
		if err := bench.WriteJSON(*jsonPath, rep); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
}
