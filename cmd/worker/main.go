// Command worker runs the approval orchestrator and activities. It is the
// long-lived process that connects out to the scheduler.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/approvals-go/approvals/config"
	"github.com/approvals-go/approvals/internal/logging"
	"github.com/approvals-go/approvals/worker"
)

func main() {
	flag.Usage = func() {
		out := flag.CommandLine.Output()
		fmt.Fprint(out, "Usage: worker\n\nRuns the approval orchestrator and its activities against a scheduler until\nit is stopped (SIGINT or SIGTERM). It takes no flags or arguments.\n\n")
		if err := config.Usage[config.Worker](out); err != nil {
			fmt.Fprintln(out, err)
		}
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := config.Load[config.Worker]()
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(2)
	}
	log := logging.New(os.Stderr, cfg.LogLevel)
	if err := worker.Run(ctx, cfg, log); err != nil {
		log.Error("worker stopped", "err", err)
		os.Exit(1)
	}
}
