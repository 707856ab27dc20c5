// Package dts connects the handler and the worker to a Durable Task
// Scheduler: the Azure service, its Docker emulator, or this project's
// embedded scheduler. It turns configuration into a ready gRPC connection
// that speaks the parts of the protocol durabletask-go v0.6.0 lacks: Entra ID
// bearer tokens, the per-call metadata the service expects, completion
// tokens, health pings and work item concurrency limits.
package dts

import (
	"crypto/x509"
	"log/slog"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/approvals-go/approvals/config"
)

// Configuration names read from the environment. They are the one list of
// names the Bicep templates must match.
const (
	EnvConnectionString        = "DURABLE_TASK_SCHEDULER_CONNECTION_STRING"
	EnvTaskHubName             = "TASKHUB_NAME"
	EnvEndpoint                = "ENDPOINT"
	EnvTaskHub                 = "TASKHUB"
	EnvManagedIdentityClientID = "AZURE_MANAGED_IDENTITY_CLIENT_ID"
	// EnvToken is a static bearer secret for this project's embedded
	// scheduler when it is reachable beyond loopback (the scheduler side
	// reads its own copy; see scheduler/guard). It needs an https endpoint
	// and no Entra ID authentication. Same as the connection string key
	// Token; if both are set they must agree.
	EnvToken = "DURABLE_TASK_SCHEDULER_TOKEN"
	// EnvMaxOrchestrationWorkItems and EnvMaxActivityWorkItems are sent to
	// the scheduler on the worker's work item stream as the most work items
	// of each kind it may hand this worker at once.
	EnvMaxOrchestrationWorkItems = "DTS_MAX_CONCURRENT_ORCHESTRATION_WORK_ITEMS"
	EnvMaxActivityWorkItems      = "DTS_MAX_CONCURRENT_ACTIVITY_WORK_ITEMS"
	// EnvWorkItemStreamTimeout is how long the worker's work item stream may
	// stay silent, once the scheduler has shown it sends health pings,
	// before the worker drops it and reconnects (a Go duration, e.g. "60s").
	EnvWorkItemStreamTimeout = "DTS_WORK_ITEM_STREAM_TIMEOUT"
)

// Defaults match the Docker emulator and the embedded scheduler.
const (
	DefaultEndpoint = "http://localhost:8080"
	DefaultTaskHub  = "default"

	// DefaultMaxWorkItems is the default for both work item limits.
	DefaultMaxWorkItems = 100
	// DefaultWorkItemStreamTimeout comfortably exceeds the Azure service's
	// health ping interval, so only a dead stream trips it.
	DefaultWorkItemStreamTimeout = 60 * time.Second
)

// Settings is the raw configuration as it arrives from the environment:
// config.Scheduler, which the handler and the worker load, with the
// methods that resolve it. Convert one to the other (dts.Settings(s)).
type Settings config.Scheduler

// String leaves out the connection string and the token, which can hold
// secrets, so a Settings value is safe to print.
func (s Settings) String() string { return "dts.Settings" + config.Scheduler(s).String() }

// LogValue keeps secrets out of structured logs.
func (s Settings) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Config is a validated description of one scheduler connection.
type Config struct {
	// Address is host:port to dial.
	Address string
	// TLS is true for https endpoints. Plaintext is allowed only with
	// Authentication None and no Token.
	TLS bool
	// TaskHub is sent with every call.
	TaskHub string

	// Authentication selects the azidentity credential; "" means None.
	Authentication AuthMode
	// ClientID, TenantID, TokenFilePath and AdditionallyAllowedTenants are
	// passed to the credential of the modes that take them.
	ClientID                   string
	TenantID                   string
	TokenFilePath              string
	AdditionallyAllowedTenants []string
	// Credential, when set, is used instead of building one from
	// Authentication (tests, or a caller with its own credential chain).
	Credential azcore.TokenCredential
	// Token is a static bearer secret for this project's embedded
	// scheduler; it is sent as "authorization: Bearer <Token>". It needs TLS
	// and excludes Authentication other than None.
	Token string

	// RootCAs, when set, replaces the system roots for verifying the
	// server's certificate (tests with a self-signed certificate). The
	// system pool already honours SSL_CERT_FILE and SSL_CERT_DIR.
	RootCAs *x509.CertPool

	// MaxOrchestrationWorkItems and MaxActivityWorkItems are sent on the
	// worker's GetWorkItems request. Zero means DefaultMaxWorkItems.
	MaxOrchestrationWorkItems int
	MaxActivityWorkItems      int
	// WorkItemStreamTimeout breaks a work item stream that stays silent
	// this long after the scheduler has shown that it sends health pings, so
	// that the worker reconnects. Zero means DefaultWorkItemStreamTimeout;
	// negative turns the check off.
	WorkItemStreamTimeout time.Duration

	// Logger receives the connection's own messages (token failures,
	// broken streams). Nil means slog.Default().
	Logger *slog.Logger
}

// String leaves out the token so a Config is safe to print.
func (c Config) String() string {
	mode := c.Authentication
	if mode == "" {
		mode = AuthNone
	}
	scheme := "http"
	if c.TLS {
		scheme = "https"
	}
	return "dts.Config{" + scheme + "://" + c.Address + ", TaskHub:" + c.TaskHub +
		", Authentication:" + string(mode) + ", Token:" + redacted(c.Token) + "}"
}

// LogValue keeps secrets out of structured logs.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

func redacted(s string) string {
	if s == "" {
		return `""`
	}
	return "[redacted]"
}

// Resolve validates the settings and turns them into a Config.
//
// With a connection string, TaskHub comes from the string or from
// TASKHUB_NAME (if both are given they must agree). Otherwise ENDPOINT and
// TASKHUB (or TASKHUB_NAME, which wins) are used; AZURE_MANAGED_IDENTITY_CLIENT_ID
// selects that managed identity, else an https endpoint uses DefaultAzure
// and an http endpoint no authentication. DURABLE_TASK_SCHEDULER_TOKEN
// adds a static bearer token and, in the ENDPOINT form, implies
// Authentication None.
func (s Settings) Resolve() (Config, error) {
	var cfg Config
	if strings.TrimSpace(s.ConnectionString) != "" {
		parsed, err := ParseConnectionString(s.ConnectionString)
		if err != nil {
			if ce, ok := err.(*ConfigError); ok {
				ce.Source = EnvConnectionString
			}
			return Config{}, err
		}
		cfg = parsed
		if hub := strings.TrimSpace(s.TaskHubName); hub != "" {
			if cfg.TaskHub != "" && cfg.TaskHub != hub {
				return Config{}, &ConfigError{Source: EnvTaskHubName, Problem: probTaskHubConflict}
			}
			if !validTaskHub(hub) {
				return Config{}, &ConfigError{Source: EnvTaskHubName, Problem: probTaskHubInvalid}
			}
			cfg.TaskHub = hub
		}
		if cfg.TaskHub == "" {
			return Config{}, &ConfigError{Source: EnvConnectionString, Key: KeyTaskHub,
				Problem: probTaskHubRequired}
		}
		if tok := strings.TrimSpace(s.Token); tok != "" {
			if cfg.Token != "" && cfg.Token != tok {
				return Config{}, &ConfigError{Source: EnvToken, Problem: probTokenConflict}
			}
			if cfg.Authentication != AuthNone {
				return Config{}, &ConfigError{Source: EnvToken, Mode: cfg.Authentication, Problem: probTokenNeedsNone}
			}
			cfg.Token = tok
			if err := cfg.checkTransport(EnvConnectionString, KeyEndpoint); err != nil {
				return Config{}, err
			}
		}
	} else {
		endpoint := s.Endpoint
		if strings.TrimSpace(endpoint) == "" {
			endpoint = DefaultEndpoint
		}
		addr, useTLS, problem := parseEndpoint(endpoint)
		if problem != "" {
			return Config{}, &ConfigError{Source: EnvEndpoint, Problem: problem}
		}
		hub, hubSource := strings.TrimSpace(s.TaskHub), EnvTaskHub
		if h := strings.TrimSpace(s.TaskHubName); h != "" {
			hub, hubSource = h, EnvTaskHubName
		}
		if hub == "" {
			hub = DefaultTaskHub
		}
		if !validTaskHub(hub) {
			return Config{}, &ConfigError{Source: hubSource, Problem: probTaskHubInvalid}
		}
		cfg = Config{Address: addr, TLS: useTLS, TaskHub: hub, Token: strings.TrimSpace(s.Token)}
		clientID := strings.TrimSpace(s.ManagedIdentityClientID)
		switch {
		case clientID != "" && cfg.Token != "":
			return Config{}, &ConfigError{Source: EnvToken, Mode: AuthManagedIdentity, Problem: probTokenNeedsNone}
		case clientID != "":
			cfg.Authentication, cfg.ClientID = AuthManagedIdentity, clientID
		case useTLS && cfg.Token == "":
			cfg.Authentication = AuthDefaultAzure
		default:
			cfg.Authentication = AuthNone
		}
		if err := cfg.checkTransport(EnvEndpoint, ""); err != nil {
			return Config{}, err
		}
	}
	if hasControl(cfg.Token) {
		return Config{}, &ConfigError{Source: EnvToken, Problem: probControl}
	}

	for _, lim := range []struct {
		v   int
		env string
		dst *int
	}{
		{s.MaxOrchestrationWorkItems, EnvMaxOrchestrationWorkItems, &cfg.MaxOrchestrationWorkItems},
		{s.MaxActivityWorkItems, EnvMaxActivityWorkItems, &cfg.MaxActivityWorkItems},
	} {
		if lim.v < 0 || lim.v > maxWorkItemLimit {
			return Config{}, &ConfigError{Source: lim.env, Problem: probNotPositive}
		}
		*lim.dst = lim.v
	}
	cfg.WorkItemStreamTimeout = s.WorkItemStreamTimeout
	return cfg, nil
}

// maxWorkItemLimit keeps the limits inside the int32 the protocol carries.
const maxWorkItemLimit = 1 << 30

// checkTransport refuses to send credentials over plaintext.
func (c Config) checkTransport(source, key string) error {
	if c.TLS {
		return nil
	}
	mode := c.Authentication
	if mode == "" {
		mode = AuthNone
	}
	if mode != AuthNone || c.Credential != nil {
		return &ConfigError{Source: source, Key: key, Mode: mode, Problem: probPlaintextAuth}
	}
	if c.Token != "" {
		return &ConfigError{Source: source, Key: key, Problem: probPlaintextToken}
	}
	return nil
}

// validate checks a Config that may have been built by hand rather than by
// Resolve.
func (c Config) validate() error {
	const src = "dts.Config"
	if _, _, err := splitHostPort(c.Address); err != nil {
		return &ConfigError{Source: src, Key: "Address", Problem: probEndpointHost}
	}
	if !validTaskHub(c.TaskHub) {
		return &ConfigError{Source: src, Key: "TaskHub", Problem: probTaskHubInvalid}
	}
	if c.Authentication != "" {
		if _, ok := ParseAuthMode(string(c.Authentication)); !ok {
			return &ConfigError{Source: src, Key: "Authentication", Problem: probUnknownMode}
		}
	}
	if c.Token != "" && c.Authentication != "" && c.Authentication != AuthNone {
		return &ConfigError{Source: src, Key: "Token", Mode: c.Authentication, Problem: probTokenNeedsNone}
	}
	if c.Token != "" && hasControl(c.Token) {
		return &ConfigError{Source: src, Key: "Token", Problem: probControl}
	}
	if c.MaxOrchestrationWorkItems < 0 || c.MaxOrchestrationWorkItems > maxWorkItemLimit {
		return &ConfigError{Source: src, Key: "MaxOrchestrationWorkItems", Problem: probNotPositive}
	}
	if c.MaxActivityWorkItems < 0 || c.MaxActivityWorkItems > maxWorkItemLimit {
		return &ConfigError{Source: src, Key: "MaxActivityWorkItems", Problem: probNotPositive}
	}
	return c.checkTransport(src, "TLS")
}
