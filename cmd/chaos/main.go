// Command chaos runs the scheduler, the worker and the handler as separate
// processes, starts and decides approvals over HTTP while killing and
// restarting them at random, and checks every answer against the final
// state. It exits 1 on any loss or contradiction, 2 if the run could not be
// made.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/approvals-go/approvals/chaos"
	"github.com/approvals-go/approvals/internal/cli"
)

func main() {
	cfg := chaos.DefaultConfig()
	flag.IntVar(&cfg.Approvals, "approvals", cfg.Approvals, "approvals to start")
	flag.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "HTTP requests in flight at once")
	flag.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long to kill processes; approvals start over its first two thirds")
	flag.DurationVar(&cfg.KillEvery, "kill-every", cfg.KillEvery, "mean gap between a restart and the next kill")
	flag.Float64Var(&cfg.LongOutages, "long-outages", cfg.LongOutages, "share of kills whose outage crosses deadlines (the first of each process always does)")
	flag.Float64Var(&cfg.HangNotices, "hang-notices", cfg.HangNotices, "share of notice deliveries the webhook receiver never answers")
	flag.DurationVar(&cfg.MinTimeout, "min-timeout", cfg.MinTimeout, "shortest approval timeout")
	flag.DurationVar(&cfg.MaxTimeout, "max-timeout", cfg.MaxTimeout, "longest approval timeout")
	flag.DurationVar(&cfg.GiveUp, "give-up", cfg.GiveUp, "how long to retry one request before counting it unknown")
	flag.DurationVar(&cfg.Settle, "settle", cfg.Settle, "how long beyond -max-timeout approvals may take to become final after the last restart")
	flag.Uint64Var(&cfg.Seed, "seed", 0, "seed of the plan and kill schedule; 0 picks one (it is printed)")
	flag.StringVar(&cfg.BinDir, "bin", "", "directory with handler, worker and scheduler binaries; empty builds them")
	flag.StringVar(&cfg.Dir, "dir", "", "directory for the scheduler's files and the logs; empty uses a temporary one")
	flag.BoolVar(&cfg.Keep, "keep", false, "keep the temporary directory even when the run passes")
	flag.StringVar(&cfg.Records, "records", "", "also write every approval's record (requests, answers, end state) as JSON to this file")
	asJSON := flag.Bool("json", false, "print the report as JSON instead of the summary")
	cli.Parse("Usage: chaos [flags]\n\nRuns the scheduler, the worker and the handler as separate processes, starts\nand decides approvals over HTTP while killing and restarting them at random,\nand checks every answer against the final state. Exits 1 on any loss or\ncontradiction, 2 if the run could not be made.")
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	cfg.Progress = os.Stderr

	ctx, stop := cli.Context()
	defer stop()
	rep, err := chaos.Run(ctx, cfg)
	if err != nil {
		if rep != nil && rep.Dir != "" {
			err = fmt.Errorf("%w\nchaos: scheduler files and process logs are in %s", err, rep.Dir)
		}
		cli.Fail("chaos", 2, err)
	}
	if *asJSON {
		if err := chaos.WriteJSON(os.Stdout, rep); err != nil {
			cli.Fail("chaos", 2, err)
		}
	} else {
		chaos.Print(os.Stdout, rep)
	}
	if !rep.OK() {
		os.Exit(1)
	}
}
