// Package config holds the settings each binary reads from its environment.
// The struct tags are the single list of configuration names: the Bicep
// templates in infra/ are checked against them.
package config

import (
	"fmt"

	"github.com/caarlos0/env/v11"

	"github.com/approvals-go/approvals/dts"
)

// Handler configures the Azure Functions custom handler.
type Handler struct {
	// Port is set by the Functions host; 7071 matches `func start` when the
	// handler is run by hand.
	Port int `env:"FUNCTIONS_CUSTOMHANDLER_PORT" envDefault:"7071"`
	// PublicBaseURL, when set, is used for the absolute links in responses
	// instead of the scheme and host of each request.
	PublicBaseURL string `env:"APPROVALS_PUBLIC_BASE_URL"`
	// LogLevel is debug, info, warn or error.
	LogLevel  string `env:"APPROVALS_LOG_LEVEL" envDefault:"info"`
	Scheduler dts.Settings
}

// Worker configures the long-lived worker that runs the orchestrator and
// activities.
type Worker struct {
	// APIBaseURL is where approvers reach the HTTP API; approval links in
	// notifications point there.
	APIBaseURL string `env:"APPROVALS_API_BASE_URL" envDefault:"http://localhost:7071"`
	LogLevel   string `env:"APPROVALS_LOG_LEVEL" envDefault:"info"`
	Scheduler  dts.Settings
}

// Load reads T from the environment.
func Load[T any]() (T, error) {
	var cfg T
	if err := env.Parse(&cfg); err != nil {
		return cfg, fmt.Errorf("read configuration: %w", err)
	}
	return cfg, nil
}
