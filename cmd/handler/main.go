// Command handler is the Azure Functions custom handler: the Functions host
// starts it, tells it a port in FUNCTIONS_CUSTOMHANDLER_PORT and forwards
// the HTTP triggers to it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/approvals-go/approvals/config"
	"github.com/approvals-go/approvals/customhandler"
	"github.com/approvals-go/approvals/internal/logging"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := config.Load[config.Handler]()
	if err != nil {
		fmt.Fprintln(os.Stderr, "handler:", err)
		os.Exit(2)
	}
	log := logging.New(os.Stderr, cfg.LogLevel)
	if err := customhandler.Run(ctx, cfg, log); err != nil {
		log.Error("handler stopped", "err", err)
		os.Exit(1)
	}
}
