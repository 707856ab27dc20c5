// Package config holds the settings each binary reads from its environment
// and checks their form. The struct tags are the single list of
// configuration names: the Bicep templates in infra/ are checked against
// them.
//
// It is data: it imports the standard library and caarlos0/env and nothing
// of the application (a test holds it to that). The objects the settings
// describe (notifiers, the callback client, the link signer) are built in
// internal/wire, which names the variable in every error it returns.
package config

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Handler configures the Azure Functions custom handler.
type Handler struct {
	// Port is set by the Functions host; 7071 matches `func start` when the
	// handler is run by hand.
	Port int `env:"FUNCTIONS_CUSTOMHANDLER_PORT" envDefault:"7071"`
	// PublicBaseURL, when set, is used for the absolute links in responses
	// instead of the scheme and host of each request.
	PublicBaseURL string `env:"APPROVALS_PUBLIC_BASE_URL"`
	// TrustForwarded lets X-Forwarded-Host and X-Forwarded-Proto set the
	// links' host when PublicBaseURL is empty.
	TrustForwarded bool `env:"APPROVALS_TRUST_FORWARDED" envDefault:"false"`
	// SiteHostname is the Function App's default host name, which App
	// Service sets. Requests for it are served besides those for
	// PublicBaseURL's host, which may be a custom domain.
	SiteHostname string `env:"WEBSITE_HOSTNAME"`
	// DecisionWait is how long a decision waits for its outcome before it
	// is answered 202 (delivered, outcome not known yet).
	DecisionWait time.Duration `env:"APPROVALS_DECISION_WAIT" envDefault:"5s"`
	// Identity says who a decider is: IdentityBody takes the body's
	// approver field (development), IdentityAppService the principal that
	// App Service Authentication signed in.
	Identity string `env:"APPROVALS_IDENTITY" envDefault:"body"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `env:"APPROVALS_LOG_LEVEL" envDefault:"info"`
	// AccessWait: see EnvAccessWait.
	AccessWait time.Duration `env:"APPROVALS_SCHEDULER_ACCESS_WAIT" envDefault:"10m"`
	// CallbackAllow lists the CIDR ranges a start's callback_url may
	// point into although they are not public, as the worker reads it.
	CallbackAllow string `env:"APPROVALS_CALLBACK_ALLOW"`
	// GroupsFile is a JSON file mapping approver groups to their members'
	// names, for when no identity provider says who is in which group (the
	// body identity mode, signed links, the machine route); empty for none.
	GroupsFile string `env:"APPROVALS_GROUPS_FILE"`
	Links      LinkKeys
	Audit      AuditKeys
	Scheduler  Scheduler
}

// The values of APPROVALS_IDENTITY.
const (
	IdentityBody       = "body"
	IdentityAppService = "appservice"
)

// LinkKeys sign the links approvers receive (the worker) and check them
// (the handler). Empty means plain page links. In Azure they are Key Vault
// references.
type LinkKeys struct {
	Key string `env:"APPROVALS_LINK_KEY"`
	// Previous is the key before the last rotation, still accepted so that
	// links already sent keep working until they expire.
	Previous string `env:"APPROVALS_LINK_KEY_PREVIOUS"`
}

// MinLinkKeyBytes is the shortest a link key may be: approval.MinLinkKeyBytes,
// which approval.NewLinkSigner enforces; a test in internal/wire holds the
// two together.
const MinLinkKeyBytes = 32

// Validate checks the keys before anything is signed with them: not an
// unresolved Key Vault reference, no previous key without a current one,
// and each at least MinLinkKeyBytes long.
func (k LinkKeys) Validate() error {
	keys := envKeys(reflect.TypeOf(k))
	// App Service passes a Key Vault reference it cannot resolve through
	// as its own text, which is long enough to pass for a key that anyone
	// who can read the app's settings knows.
	for _, f := range []struct{ field, value string }{{"Key", k.Key}, {"Previous", k.Previous}} {
		if strings.HasPrefix(strings.TrimSpace(f.value), "@Microsoft.KeyVault(") {
			return fmt.Errorf("%s: is an unresolved Key Vault reference; check the app's identity has Key Vault Secrets User on the vault", keys[f.field])
		}
	}
	switch {
	case k.Key == "" && k.Previous != "":
		return fmt.Errorf("%s: a previous link key is set without a current one", keys["Key"])
	case k.Key != "" && len(k.Key) < MinLinkKeyBytes:
		return fmt.Errorf("%s: the link key must be at least %d bytes long (for example `openssl rand -base64 32`)", keys["Key"], MinLinkKeyBytes)
	case k.Previous != "" && len(k.Previous) < MinLinkKeyBytes:
		return fmt.Errorf("%s: the previous link key must be at least %d bytes long", keys["Key"], MinLinkKeyBytes)
	}
	return nil
}

// AuditKeys seal approvals' audit trails: the handler's audit routes and
// the worker's export. Empty means no audit is served or exported. Each is
// an Ed25519 seed, base64; in Azure a Key Vault reference, as the link key
// is.
type AuditKeys struct {
	AuditKey string `env:"APPROVALS_AUDIT_KEY"`
	// AuditKeyPrevious is the key before the last rotation: trails are
	// sealed with AuditKey, and the public key of this one is still
	// published, for the trails it sealed.
	AuditKeyPrevious string `env:"APPROVALS_AUDIT_KEY_PREVIOUS"`
}

// Validate refuses a Key Vault reference that App Service could not
// resolve, and a previous key without a current one; the keys' form is
// the audit package's to check.
func (k AuditKeys) Validate() error {
	keys := envKeys(reflect.TypeOf(k))
	for _, f := range []struct{ field, value string }{{"AuditKey", k.AuditKey}, {"AuditKeyPrevious", k.AuditKeyPrevious}} {
		if strings.HasPrefix(strings.TrimSpace(f.value), "@Microsoft.KeyVault(") {
			return fmt.Errorf("%s: is an unresolved Key Vault reference; check the app's identity has Key Vault Secrets User on the vault", keys[f.field])
		}
	}
	if k.AuditKey == "" && k.AuditKeyPrevious != "" {
		return fmt.Errorf("%s: a previous audit key is set without a current one", keys["AuditKeyPrevious"])
	}
	return nil
}

// Worker configures the long-lived worker that runs the orchestrator and
// activities.
type Worker struct {
	// APIBaseURL is where approvers reach the HTTP API; approval links in
	// notifications point there.
	APIBaseURL string `env:"APPROVALS_API_BASE_URL" envDefault:"http://localhost:7071"`
	LogLevel   string `env:"APPROVALS_LOG_LEVEL" envDefault:"info"`
	// AccessWait: see EnvAccessWait.
	AccessWait time.Duration `env:"APPROVALS_SCHEDULER_ACCESS_WAIT" envDefault:"10m"`
	// GroupsFile is the handler's groups file: the worker tells the
	// members it lists of the groups a request asks approvals from. Empty
	// tells nobody for a group (members of Microsoft Entra ID groups find
	// the request in their inbox).
	GroupsFile string `env:"APPROVALS_GROUPS_FILE"`
	Links      LinkKeys
	Notify     Notify
	// Audit seals the trails AuditExport writes.
	Audit       AuditKeys
	AuditExport AuditExport
	Scheduler   Scheduler
}

// AuditExport writes the sealed audit trail of every approval that ends
// to a Blob Storage container, one blob per approval, never overwritten
// (the worker; see audit/blobexport). Off while ContainerURL is empty.
type AuditExport struct {
	// ContainerURL is the container's URL, such as
	// https://stabc123.blob.core.windows.net/audit.
	ContainerURL string `env:"APPROVALS_AUDIT_CONTAINER_URL"`
	// StorageConnectionString, when set, gives the account key to write
	// with (Azurite, or an account that allows shared keys); otherwise
	// the worker writes as its own identity, the scheduler connection's.
	StorageConnectionString string `env:"APPROVALS_AUDIT_STORAGE_CONNECTION_STRING"`
	// ExportEvery is the pause between passes; ExportLookback how far
	// back the first pass after a start looks for ended approvals.
	ExportEvery    time.Duration `env:"APPROVALS_AUDIT_EXPORT_EVERY" envDefault:"1m"`
	ExportLookback time.Duration `env:"APPROVALS_AUDIT_EXPORT_LOOKBACK" envDefault:"168h"`
}

// Validate checks the export can run: a container URL of http(s) with a
// container in its path, the audit key that seals what it writes, and
// positive durations.
func (x AuditExport) Validate(keys AuditKeys) error {
	if x.ContainerURL == "" {
		return nil
	}
	names := envKeys(reflect.TypeOf(x))
	u, err := url.Parse(x.ContainerURL)
	switch {
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.Trim(u.Path, "/") == "":
		return fmt.Errorf("%s: must be a container's URL, such as https://stabc123.blob.core.windows.net/audit", names["ContainerURL"])
	case u.RawQuery != "":
		return fmt.Errorf("%s: must not hold a query (a SAS token); the worker writes as its identity, or with %s", names["ContainerURL"], names["StorageConnectionString"])
	case keys.AuditKey == "":
		return fmt.Errorf("%s: is set, but %s is not: the trails exported are sealed with it", names["ContainerURL"], envKeys(reflect.TypeOf(keys))["AuditKey"])
	case x.ExportEvery <= 0:
		return fmt.Errorf("%s: must be positive", names["ExportEvery"])
	case x.ExportLookback <= 0:
		return fmt.Errorf("%s: must be positive", names["ExportLookback"])
	}
	return keys.Validate()
}

// EnvAccessWait is how long after start the handler and the worker keep
// retrying a scheduler that refuses their identity (Unauthenticated or
// PermissionDenied) before they exit, a Go duration. After a first
// deployment Azure takes minutes to apply the apps' role assignments;
// exiting at once would only make the platform restart them with back-off.
// Zero exits at the first refusal.
const EnvAccessWait = "APPROVALS_SCHEDULER_ACCESS_WAIT"

// Load reads T from the environment. An error names the variable and what
// is wrong with it, but not its value, which may be a secret.
func Load[T any]() (T, error) {
	var cfg T
	err := env.Parse(&cfg)
	if err == nil {
		return cfg, nil
	}
	keys := envKeys(reflect.TypeOf(cfg))
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return cfg, fmt.Errorf("read configuration: %w", err)
	}
	var problems []string
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			problems = append(problems, fmt.Sprintf("%s: not a valid %s", keys[pe.Name], pe.Type))
			continue
		}
		problems = append(problems, e.Error())
	}
	return cfg, fmt.Errorf("read configuration: %s", strings.Join(problems, "; "))
}

// EnvName is the environment variable that field of the settings struct
// is read from, looked for in its nested structs too: EnvName(Notify{},
// "WebhookURL") is APPROVALS_WEBHOOK_URL. A field without a variable is
// named as it is, so that a mistake here shows in the message rather than
// hiding it.
func EnvName(settings any, field string) string {
	if name, ok := envKeys(reflect.TypeOf(settings))[field]; ok {
		return name
	}
	return field
}

// envKeys maps the Go field names of t, nested structs included, to the
// variables they are read from.
func envKeys(t reflect.Type) map[string]string {
	keys := map[string]string{}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Type.Kind() == reflect.Struct && f.Tag.Get("env") == "" {
			for k, v := range envKeys(f.Type) {
				keys[k] = v
			}
			continue
		}
		if name, _, _ := strings.Cut(f.Tag.Get("env"), ","); name != "" {
			keys[f.Name] = name
		}
	}
	return keys
}

// Usage writes what a binary configured by T reads, for its -h: each
// environment variable with its default, so a person can see every
// setting without reading the code.
func Usage[T any](w io.Writer) error {
	var cfg T
	params, err := env.GetFieldParams(&cfg)
	if err != nil {
		return fmt.Errorf("list settings: %w", err)
	}
	fmt.Fprintln(w, "Settings, read from the environment:")
	for _, p := range params {
		if p.HasDefaultValue && p.DefaultValue != "" {
			fmt.Fprintf(w, "  %s (default %s)\n", p.Key, p.DefaultValue)
			continue
		}
		fmt.Fprintf(w, "  %s\n", p.Key)
	}
	return nil
}
