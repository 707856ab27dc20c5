package config

import (
	"log/slog"
	"time"
)

// Scheduler configures the connection to a Durable Task Scheduler, as the
// handler and the worker read it. dts.Settings is this struct with the
// methods that resolve it into a connection (dts.Settings(s).Resolve()).
//
// Either ConnectionString is set (and wins), or Endpoint and TaskHub are
// used, with ManagedIdentityClientID choosing a user-assigned managed
// identity; without one an https endpoint uses DefaultAzure and an http
// endpoint no authentication.
type Scheduler struct {
	ConnectionString        string `env:"DURABLE_TASK_SCHEDULER_CONNECTION_STRING"`
	TaskHubName             string `env:"TASKHUB_NAME"`
	Endpoint                string `env:"ENDPOINT" envDefault:"http://localhost:8080"`
	TaskHub                 string `env:"TASKHUB" envDefault:"default"`
	ManagedIdentityClientID string `env:"AZURE_MANAGED_IDENTITY_CLIENT_ID"`
	// Token: see dts.EnvToken.
	Token string `env:"DURABLE_TASK_SCHEDULER_TOKEN"`
	// MaxOrchestrationWorkItems and MaxActivityWorkItems: see
	// dts.EnvMaxOrchestrationWorkItems. Zero means dts.DefaultMaxWorkItems.
	MaxOrchestrationWorkItems int `env:"DTS_MAX_CONCURRENT_ORCHESTRATION_WORK_ITEMS" envDefault:"100"`
	MaxActivityWorkItems      int `env:"DTS_MAX_CONCURRENT_ACTIVITY_WORK_ITEMS" envDefault:"100"`
	// WorkItemStreamTimeout: see dts.EnvWorkItemStreamTimeout. Zero means
	// dts.DefaultWorkItemStreamTimeout; negative turns the check off.
	WorkItemStreamTimeout time.Duration `env:"DTS_WORK_ITEM_STREAM_TIMEOUT" envDefault:"60s"`
}

// String leaves out the connection string and the token, which can hold
// secrets, so the settings are safe to print, on their own or in a
// Handler or Worker.
func (s Scheduler) String() string {
	return "{ConnectionString:" + redacted(s.ConnectionString) +
		", TaskHubName:" + s.TaskHubName + ", Endpoint:" + s.Endpoint +
		", TaskHub:" + s.TaskHub + ", ManagedIdentityClientID:" + s.ManagedIdentityClientID +
		", Token:" + redacted(s.Token) + "}"
}

// LogValue keeps secrets out of structured logs.
func (s Scheduler) LogValue() slog.Value { return slog.StringValue(s.String()) }

func redacted(s string) string {
	if s == "" {
		return `""`
	}
	return "[redacted]"
}
