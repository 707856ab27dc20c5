package dts

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Connection string keys. Keys are matched case-insensitively, as in the
// official SDKs. Token is this project's own addition: a static bearer
// secret for the embedded scheduler (see Config.Token); the Azure service
// never takes one.
const (
	KeyEndpoint                   = "Endpoint"
	KeyTaskHub                    = "TaskHub"
	KeyAuthentication             = "Authentication"
	KeyClientID                   = "ClientID"
	KeyTenantID                   = "TenantId"
	KeyTokenFilePath              = "TokenFilePath"
	KeyAdditionallyAllowedTenants = "AdditionallyAllowedTenants"
	KeyToken                      = "Token"
)

var knownKeys = map[string]string{
	strings.ToLower(KeyEndpoint):                   KeyEndpoint,
	strings.ToLower(KeyTaskHub):                    KeyTaskHub,
	strings.ToLower(KeyAuthentication):             KeyAuthentication,
	strings.ToLower(KeyClientID):                   KeyClientID,
	strings.ToLower(KeyTenantID):                   KeyTenantID,
	strings.ToLower(KeyTokenFilePath):              KeyTokenFilePath,
	strings.ToLower(KeyAdditionallyAllowedTenants): KeyAdditionallyAllowedTenants,
	strings.ToLower(KeyToken):                      KeyToken,
}

// Problems a ConfigError can report. They are fixed texts: an error never
// carries a configuration value, because values (a Token above all) can be
// secrets and error messages end up in logs.
const (
	probNoEquals        = "is not a Key=Value pair (the connection string is Key=Value pairs separated by ';')"
	probEmptyKey        = "has an empty key"
	probUnknownKey      = "is not a known key; known keys are Endpoint, TaskHub, Authentication, ClientID, TenantId, TokenFilePath, AdditionallyAllowedTenants and Token"
	probDuplicate       = "is given more than once"
	probEmptyValue      = "has an empty value"
	probRequired        = "is required"
	probTaskHubRequired = "is required (in the connection string or in TASKHUB_NAME)"
	probControl         = "contains control characters"
	probUnknownMode     = "is not a known authentication mode; use None, DefaultAzure, ManagedIdentity, WorkloadIdentity, Environment, AzureCLI, AzurePowerShell or InteractiveBrowser"
	probNotUsedByMode   = "is not used by this authentication mode"
	probDefaultClientID = "is not supported with Authentication=DefaultAzure (Go's DefaultAzureCredential reads the client ID from AZURE_CLIENT_ID); use Authentication=ManagedIdentity or WorkloadIdentity to name an identity"
	probEndpointURL     = "is not a valid URL"
	probEndpointScheme  = "must use the http or https scheme"
	probEndpointHost    = "has no host"
	probEndpointPort    = "has a port that is not a number from 1 to 65535"
	probEndpointExtra   = "must be scheme://host[:port], with no user info, path, query or fragment"
	probPlaintextAuth   = "is plaintext http, which allows only Authentication=None; use an https endpoint to send credentials"
	probPlaintextToken  = "is plaintext http, which would expose the bearer token; use an https endpoint"
	probTokenNeedsNone  = "needs Authentication=None: a static bearer token replaces Microsoft Entra ID authentication"
	probTaskHubInvalid  = "must be 1 to 256 printable ASCII characters without spaces or ';'"
	probTaskHubConflict = "disagrees with the TaskHub in the connection string; set only one"
	probTokenConflict   = "disagrees with the Token in the connection string; set only one"
	probTenantEmpty     = "has an empty tenant in its comma-separated list"
	probNotPositive     = "must be a positive number"
)

// allProblems lists every problem text, so the fuzz test can check that
// errors are made only of fixed texts and key names.
var allProblems = []string{
	probNoEquals, probEmptyKey, probUnknownKey, probDuplicate, probEmptyValue,
	probRequired, probTaskHubRequired, probControl, probUnknownMode, probNotUsedByMode,
	probDefaultClientID, probEndpointURL, probEndpointScheme, probEndpointHost,
	probEndpointPort, probEndpointExtra, probPlaintextAuth, probPlaintextToken,
	probTokenNeedsNone, probTaskHubInvalid, probTaskHubConflict, probTokenConflict,
	probTenantEmpty, probNotPositive,
}

// ConfigError reports a configuration problem without quoting any value.
type ConfigError struct {
	// Source is where the setting came from: "connection string" or an
	// environment variable name.
	Source string
	// Key is the connection string key (canonical spelling, or the caller's
	// spelling, shortened, when the key is unknown). Empty when the problem
	// is about a whole segment.
	Key string
	// Segment is the 1-based position of the Key=Value pair, when known.
	Segment int
	// Mode is the authentication mode the problem relates to, if any.
	Mode AuthMode
	// Problem is a fixed description.
	Problem string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString(e.Source)
	if e.Segment > 0 {
		fmt.Fprintf(&b, ": pair %d", e.Segment)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, ": %s", e.Key)
	}
	b.WriteString(" ")
	b.WriteString(e.Problem)
	if e.Mode != "" {
		fmt.Fprintf(&b, " (Authentication=%s)", e.Mode)
	}
	return b.String()
}

const sourceConnString = "connection string"

// ParseConnectionString parses a Durable Task Scheduler connection string:
//
//	Endpoint=https://myscheduler.westus2.durabletask.io;TaskHub=myhub;Authentication=ManagedIdentity;ClientID=<uuid>
//
// Keys are case-insensitive; pairs are separated by ';' and surrounding
// spaces are ignored. Endpoint and Authentication are required; TaskHub may
// be left out and supplied by TASKHUB_NAME (see Settings.Resolve), so the
// returned Config may have an empty TaskHub. Optional keys are ClientID,
// TenantId, TokenFilePath and AdditionallyAllowedTenants (comma-separated),
// each accepted only by the authentication modes that use it, and Token,
// a static bearer secret for this project's embedded scheduler (needs
// Authentication=None and an https endpoint).
//
// Errors are *ConfigError values naming the key and the problem; they never
// repeat a value.
func ParseConnectionString(s string) (Config, error) {
	values := map[string]string{}
	for i, pair := range strings.Split(s, ";") {
		seg := i + 1
		if strings.TrimSpace(pair) == "" {
			continue // tolerate "a=b;;c=d" and a trailing ';'
		}
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			return Config{}, &ConfigError{Source: sourceConnString, Segment: seg, Problem: probNoEquals}
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k == "" {
			return Config{}, &ConfigError{Source: sourceConnString, Segment: seg, Problem: probEmptyKey}
		}
		canon, known := knownKeys[strings.ToLower(k)]
		if !known {
			return Config{}, &ConfigError{Source: sourceConnString, Segment: seg, Key: quoteKey(k), Problem: probUnknownKey}
		}
		if _, dup := values[canon]; dup {
			return Config{}, &ConfigError{Source: sourceConnString, Segment: seg, Key: canon, Problem: probDuplicate}
		}
		if v == "" {
			return Config{}, &ConfigError{Source: sourceConnString, Segment: seg, Key: canon, Problem: probEmptyValue}
		}
		if hasControl(v) {
			return Config{}, &ConfigError{Source: sourceConnString, Segment: seg, Key: canon, Problem: probControl}
		}
		values[canon] = v
	}

	errFor := func(key, problem string) error {
		return &ConfigError{Source: sourceConnString, Key: key, Problem: problem}
	}

	endpoint, ok := values[KeyEndpoint]
	if !ok {
		return Config{}, errFor(KeyEndpoint, probRequired)
	}
	addr, useTLS, problem := parseEndpoint(endpoint)
	if problem != "" {
		return Config{}, errFor(KeyEndpoint, problem)
	}
	modeText, ok := values[KeyAuthentication]
	if !ok {
		return Config{}, errFor(KeyAuthentication, probRequired)
	}
	mode, ok := ParseAuthMode(modeText)
	if !ok {
		return Config{}, errFor(KeyAuthentication, probUnknownMode)
	}
	cfg := Config{
		Address:        addr,
		TLS:            useTLS,
		Authentication: mode,
		ClientID:       values[KeyClientID],
		TenantID:       values[KeyTenantID],
		TokenFilePath:  values[KeyTokenFilePath],
		Token:          values[KeyToken],
	}
	if hub, ok := values[KeyTaskHub]; ok {
		if !validTaskHub(hub) {
			return Config{}, errFor(KeyTaskHub, probTaskHubInvalid)
		}
		cfg.TaskHub = hub
	}
	if list, ok := values[KeyAdditionallyAllowedTenants]; ok {
		for _, t := range strings.Split(list, ",") {
			t = strings.TrimSpace(t)
			if t == "" {
				return Config{}, errFor(KeyAdditionallyAllowedTenants, probTenantEmpty)
			}
			cfg.AdditionallyAllowedTenants = append(cfg.AdditionallyAllowedTenants, t)
		}
	}
	for _, key := range []string{KeyClientID, KeyTenantID, KeyTokenFilePath, KeyAdditionallyAllowedTenants, KeyToken} {
		if _, given := values[key]; !given {
			continue
		}
		if mode == AuthDefaultAzure && key == KeyClientID {
			return Config{}, &ConfigError{Source: sourceConnString, Key: key, Problem: probDefaultClientID}
		}
		if key == KeyToken && mode != AuthNone {
			return Config{}, &ConfigError{Source: sourceConnString, Key: key, Mode: mode, Problem: probTokenNeedsNone}
		}
		if !modeUses(mode, key) {
			return Config{}, &ConfigError{Source: sourceConnString, Key: key, Mode: mode, Problem: probNotUsedByMode}
		}
	}
	if err := cfg.checkTransport(sourceConnString, KeyEndpoint); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// modeUses says which optional keys each authentication mode passes on to
// its azidentity credential.
func modeUses(mode AuthMode, key string) bool {
	switch key {
	case KeyToken:
		return mode == AuthNone
	case KeyClientID:
		return mode == AuthManagedIdentity || mode == AuthWorkloadIdentity || mode == AuthInteractiveBrowser
	case KeyTenantID, KeyAdditionallyAllowedTenants:
		switch mode {
		case AuthDefaultAzure, AuthWorkloadIdentity, AuthAzureCLI, AuthAzurePowerShell, AuthInteractiveBrowser:
			return true
		}
		return false
	case KeyTokenFilePath:
		return mode == AuthWorkloadIdentity
	}
	return false
}

// parseEndpoint accepts http://host[:port], https://host[:port] (a trailing
// '/' is allowed) or a bare host[:port], which means https. It returns a
// fixed problem text instead of an error so that callers can name the
// setting without repeating its value.
func parseEndpoint(endpoint string) (addr string, useTLS bool, problem string) {
	endpoint = strings.TrimSpace(endpoint)
	if endpoint == "" {
		return "", false, probEmptyValue
	}
	if hasControl(endpoint) {
		return "", false, probControl
	}
	if !strings.Contains(endpoint, "://") {
		endpoint = "https://" + endpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", false, probEndpointURL
	}
	var port string
	switch strings.ToLower(u.Scheme) {
	case "https":
		useTLS, port = true, "443"
	case "http":
		port = "80"
	default:
		return "", false, probEndpointScheme
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || u.ForceQuery {
		return "", false, probEndpointExtra
	}
	host := u.Hostname()
	if host == "" {
		return "", false, probEndpointHost
	}
	if !validHost(host) {
		return "", false, probEndpointURL
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", false, probEndpointPort
		}
		port = p
	} else if strings.HasSuffix(u.Host, ":") {
		return "", false, probEndpointPort
	}
	return net.JoinHostPort(host, port), useTLS, ""
}

// validHost accepts an IP address or a DNS name made of letters, digits,
// '-', '_' and '.'; url.Parse lets through hosts such as "]" that cannot be
// dialled. IPv6 zones are refused: a scheduler is never reached by a
// link-local address, and a zone cannot be written back into an endpoint
// without escaping.
func validHost(host string) bool {
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Zone() == ""
	}
	if len(host) > 253 {
		return false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// validTaskHub keeps task hub names to what can travel as a gRPC metadata
// value and be pasted into a connection string.
func validTaskHub(hub string) bool {
	if hub == "" || len(hub) > 256 {
		return false
	}
	for i := 0; i < len(hub); i++ {
		c := hub[i]
		if c <= ' ' || c >= 0x7f || c == ';' {
			return false
		}
	}
	return true
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return true
		}
	}
	return false
}

// quoteKey shortens an unknown key before it goes into an error message: a
// key is not a secret, but whatever was pasted there might be.
func quoteKey(k string) string {
	const max = 32
	if len(k) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(k[cut]) {
			cut--
		}
		k = k[:cut] + "…"
	}
	return strconv.Quote(k)
}
