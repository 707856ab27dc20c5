// Package dts connects the handler and the worker to a Durable Task
// Scheduler: the Azure service, its Docker emulator, or this project's
// embedded scheduler. It turns configuration into a ready gRPC connection.
package dts

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Configuration names read from the environment. They are the one list of
// names the Bicep templates must match.
const (
	EnvConnectionString        = "DURABLE_TASK_SCHEDULER_CONNECTION_STRING"
	EnvTaskHubName             = "TASKHUB_NAME"
	EnvEndpoint                = "ENDPOINT"
	EnvTaskHub                 = "TASKHUB"
	EnvManagedIdentityClientID = "AZURE_MANAGED_IDENTITY_CLIENT_ID"
)

// Defaults match the Docker emulator and the embedded scheduler.
const (
	DefaultEndpoint = "http://localhost:8080"
	DefaultTaskHub  = "default"
)

// Settings is the raw configuration as it arrives from the environment.
type Settings struct {
	ConnectionString        string `env:"DURABLE_TASK_SCHEDULER_CONNECTION_STRING"`
	TaskHubName             string `env:"TASKHUB_NAME"`
	Endpoint                string `env:"ENDPOINT" envDefault:"http://localhost:8080"`
	TaskHub                 string `env:"TASKHUB" envDefault:"default"`
	ManagedIdentityClientID string `env:"AZURE_MANAGED_IDENTITY_CLIENT_ID"`
}

// Config is a validated description of one scheduler connection.
type Config struct {
	// Address is host:port to dial.
	Address string
	// TLS is true for https endpoints.
	TLS bool
	// TaskHub is sent with every call.
	TaskHub string
}

// Resolve validates the settings and turns them into a Config.
func (s Settings) Resolve() (Config, error) {
	endpoint, hub := s.Endpoint, s.TaskHub
	if s.TaskHubName != "" {
		hub = s.TaskHubName
	}
	if hub == "" {
		return Config{}, fmt.Errorf("%s: task hub name is empty", EnvTaskHub)
	}
	addr, useTLS, err := parseEndpoint(endpoint)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", EnvEndpoint, err)
	}
	return Config{Address: addr, TLS: useTLS, TaskHub: hub}, nil
}

// parseEndpoint accepts http://host[:port], https://host[:port] or a bare
// host[:port] (which means https).
func parseEndpoint(endpoint string) (addr string, useTLS bool, err error) {
	endpoint = strings.TrimSpace(endpoint)
	if endpoint == "" {
		return "", false, fmt.Errorf("endpoint is empty")
	}
	if !strings.Contains(endpoint, "://") {
		endpoint = "https://" + endpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", false, fmt.Errorf("endpoint %q is not a URL: %w", endpoint, err)
	}
	var port string
	switch strings.ToLower(u.Scheme) {
	case "https":
		useTLS, port = true, "443"
	case "http":
		port = "80"
	default:
		return "", false, fmt.Errorf("endpoint scheme %q is not http or https", u.Scheme)
	}
	if u.Hostname() == "" {
		return "", false, fmt.Errorf("endpoint %q has no host", endpoint)
	}
	if p := u.Port(); p != "" {
		port = p
	}
	return net.JoinHostPort(u.Hostname(), port), useTLS, nil
}
