// Command worker runs the approval orchestrator and activities. It is the
// long-lived process that connects out to the scheduler.
package main

import (
	"context"
	"log/slog"

	"github.com/approvals-go/approvals/config"
	"github.com/approvals-go/approvals/internal/cli"
	"github.com/approvals-go/approvals/worker"
)

func main() {
	cli.Parse("Usage: worker\n\nRuns the approval orchestrator and its activities against a scheduler until\nit is stopped (SIGINT or SIGTERM). It takes no flags or arguments.",
		config.Usage[config.Worker])
	cli.Service("worker", config.Load[config.Worker], func(c config.Worker) string { return c.LogLevel },
		func(ctx context.Context, cfg config.Worker, log *slog.Logger) error { return worker.Run(ctx, cfg, log) })
}
