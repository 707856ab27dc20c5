// Command handler is the Azure Functions custom handler: the Functions host
// starts it, tells it a port in FUNCTIONS_CUSTOMHANDLER_PORT and forwards
// the HTTP triggers to it.
package main

import (
	"github.com/approvals-go/approvals/config"
	"github.com/approvals-go/approvals/customhandler"
	"github.com/approvals-go/approvals/internal/cli"
)

func main() {
	cli.Parse("Usage: handler\n\nServes the HTTP API and the pages as an Azure Functions custom handler, on\nthe port in FUNCTIONS_CUSTOMHANDLER_PORT, until it is stopped (SIGINT or\nSIGTERM). It takes no flags or arguments.",
		config.Usage[config.Handler])
	cli.Service("handler", config.Load[config.Handler], func(c config.Handler) string { return c.LogLevel }, customhandler.Run)
}
