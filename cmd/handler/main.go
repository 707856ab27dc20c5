// Command handler is the Azure Functions custom handler: the Functions host
// starts it, tells it a port in FUNCTIONS_CUSTOMHANDLER_PORT and forwards
// the HTTP triggers to it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/approvals-go/approvals/config"
	"github.com/approvals-go/approvals/customhandler"
	"github.com/approvals-go/approvals/internal/logging"
)

func main() {
	flag.Usage = func() {
		out := flag.CommandLine.Output()
		fmt.Fprint(out, "Usage: handler\n\nServes the HTTP API and the pages as an Azure Functions custom handler, on\nthe port in FUNCTIONS_CUSTOMHANDLER_PORT, until it is stopped (SIGINT or\nSIGTERM). It takes no flags or arguments.\n\n")
		if err := config.Usage[config.Handler](out); err != nil {
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
