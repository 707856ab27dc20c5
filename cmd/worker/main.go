// Command worker runs the approval orchestrator and activities. It is the
// long-lived process that connects out to the scheduler.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/approvals-go/approvals/config"
	"github.com/approvals-go/approvals/internal/logging"
	"github.com/approvals-go/approvals/worker"
)

func main() {
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
