package infra_test

// The settings infra/ gives each app, with sample values in place of what
// Azure fills in, must load with the binary's own configuration code and
// resolve to a TLS connection to the task hub with the app's managed
// identity.

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/config"
	"github.com/approvals-go/approvals/dts"
)

// Sample values of the Bicep parameters the settings are built from.
// Scenarios override some of them (see settingsScenarios).
var sampleValues = map[string]string{
	"schedulerEndpoint":  "https://dts-abc123.westus2.durabletask.io",
	"taskHubName":        "approvals",
	"identityClientId":   "11111111-2222-3333-4444-555555555555",
	"publicUrl":          "https://func-abc123.azurewebsites.net",
	"apiBaseUrl":         "https://func-abc123.azurewebsites.net",
	"logLevel":           "info",
	"storageAccountName": "stabc123",
	// Distinct from the binaries' defaults (100), so the check below sees
	// the settings take effect.
	"maxConcurrentOrchestrationWorkItems": "7",
	"maxConcurrentActivityWorkItems":      "9",
	"linkKeySecretUri":                    "https://kv-abc123.vault.azure.net/secrets/approvals-link-key/0123456789abcdef0123456789abcdef",
	"linkKeyPreviousSecretUri":            "https://kv-abc123.vault.azure.net/secrets/approvals-link-key-previous/00000000000000000000000000000001",
	"authEnabled":                         "false",
}

const (
	sampleLinkKey     = "current-link-key-0123456789-abcdefghijklmnopq"
	samplePreviousKey = "previous-link-key-0123456789-abcdefghijklmno"
)

// sampleSecrets stands in for Key Vault: the value behind each secret URI
// of sampleValues and the scenarios. Outside a rotation the previous
// secret holds the current key (keyvault.bicep).
var sampleSecrets = map[string]string{
	"https://kv-abc123.vault.azure.net/secrets/approvals-link-key/0123456789abcdef0123456789abcdef":          sampleLinkKey,
	"https://kv-abc123.vault.azure.net/secrets/approvals-link-key-previous/00000000000000000000000000000001": sampleLinkKey,
	"https://kv-abc123.vault.azure.net/secrets/approvals-link-key-previous/00000000000000000000000000000002": samplePreviousKey,
}

// settingsScenario is one way the templates can be deployed.
type settingsScenario struct {
	name      string
	overrides map[string]string
	// What the handler must then run with.
	identity    string
	previousKey bool
}

var settingsScenarios = []settingsScenario{
	{"without sign-in", nil, config.IdentityBody, false},
	{"with sign-in", map[string]string{"authEnabled": "true"}, config.IdentityAppService, false},
	{"during a key rotation", map[string]string{
		"linkKeyPreviousSecretUri": "https://kv-abc123.vault.azure.net/secrets/approvals-link-key-previous/00000000000000000000000000000002",
	}, config.IdentityBody, true},
}

func (sc settingsScenario) values() map[string]string {
	out := map[string]string{}
	for k, v := range sampleValues {
		out[k] = v
	}
	for k, v := range sc.overrides {
		out[k] = v
	}
	return out
}

// keyVaultReference is an App Service app setting that the platform
// replaces with a secret's value.
var keyVaultReference = regexp.MustCompile(`^@Microsoft\.KeyVault\(SecretUri=([^)]+)\)$`)

// resolveReference does what App Service does with a Key Vault reference.
func resolveReference(value string) (string, bool) {
	m := keyVaultReference.FindStringSubmatch(value)
	if m == nil {
		return value, true
	}
	secret, ok := sampleSecrets[m[1]]
	return secret, ok
}

var stringCall = regexp.MustCompile(`^string\(([A-Za-z_][A-Za-z0-9_]*)\)$`)

var interpolation = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// evalSetting evaluates the Bicep expressions settings are made of: a
// parameter or variable of values, string() of one, a string literal
// interpolating them, or "cond ? a : b" of those, where cond is a boolean of
// values or empty() or !empty() of one. ok is false for anything else.
func evalSetting(expr string, values map[string]string) (value string, ok bool) {
	expr = strings.TrimSpace(expr)
	if cond, a, b, isTernary := splitTernary(expr); isTernary {
		truth, ok := evalCondition(cond, values)
		if !ok {
			return "", false
		}
		if truth {
			return evalSetting(a, values)
		}
		return evalSetting(b, values)
	}
	if m := stringCall.FindStringSubmatch(expr); m != nil {
		expr = m[1]
	}
	if v, found := values[expr]; found {
		return v, true
	}
	if len(expr) < 2 || expr[0] != '\'' || expr[len(expr)-1] != '\'' {
		return "", false
	}
	ok = true
	value = interpolation.ReplaceAllStringFunc(expr[1:len(expr)-1], func(m string) string {
		v, found := values[m[2:len(m)-1]]
		if !found {
			ok = false
		}
		return v
	})
	if strings.Contains(value, "${") || strings.Contains(value, "'") {
		return "", false
	}
	return value, ok
}

// splitTernary splits "cond ? a : b" at its top-level ? and :.
func splitTernary(expr string) (cond, a, b string, ok bool) {
	_, mask, err := maskBicep(expr)
	if err != nil {
		return "", "", "", false
	}
	depth, q := 0, -1
	for i := 0; i < len(mask); i++ {
		switch mask[i] {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		case '?':
			if depth == 0 && q < 0 && (i+1 == len(mask) || mask[i+1] != '?') && (i == 0 || mask[i-1] != '?' && mask[i-1] != '.') {
				q = i
			}
		case ':':
			if depth == 0 && q >= 0 {
				return strings.TrimSpace(expr[:q]), strings.TrimSpace(expr[q+1 : i]), strings.TrimSpace(expr[i+1:]), true
			}
		}
	}
	return "", "", "", false
}

var emptyCall = regexp.MustCompile(`^(!?)empty\(([A-Za-z_][A-Za-z0-9_]*)\)$`)

func evalCondition(cond string, values map[string]string) (truth, ok bool) {
	if m := emptyCall.FindStringSubmatch(cond); m != nil {
		v, found := values[m[2]]
		return (v == "") != (m[1] == "!"), found
	}
	switch values[cond] {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// withEnvironment runs load with exactly the given configuration names set.
func withEnvironment(t *testing.T, names map[string]bool, set map[string]string, load func()) {
	t.Helper()
	for n := range names {
		t.Setenv(n, "")
		os.Unsetenv(n)
	}
	for k, v := range set {
		t.Setenv(k, v)
	}
	load()
}

// field reads an exported field by name, so the check follows dts.Config
// without depending on every field it has.
func field(v any, name string) (string, bool) {
	f := reflect.ValueOf(v).FieldByName(name)
	if !f.IsValid() {
		return "", false
	}
	return fmt.Sprint(f.Interface()), true
}

func checkResolved(t *testing.T, app string, s dts.Settings, wantAuth, wantClientID string) {
	t.Helper()
	cfg, err := s.Resolve()
	if err != nil {
		t.Fatalf("%s: the scheduler settings infra/ gives do not resolve: %v", app, err)
	}
	if !cfg.TLS || cfg.TaskHub != sampleValues["taskHubName"] || cfg.Address != "dts-abc123.westus2.durabletask.io:443" {
		t.Errorf("%s: resolved to %s (TLS %v, hub %q), want TLS to dts-abc123.westus2.durabletask.io:443, hub %q",
			app, cfg.Address, cfg.TLS, cfg.TaskHub, sampleValues["taskHubName"])
	}
	if got, ok := field(cfg, "Authentication"); ok && got != wantAuth {
		t.Errorf("%s: authentication %q, want %q", app, got, wantAuth)
	}
	if got, ok := field(cfg, "ClientID"); ok && got != wantClientID {
		t.Errorf("%s: client id %q, want %q", app, got, wantClientID)
	}
}

func TestSettingsLoadInTheBinaries(t *testing.T) {
	for _, sc := range settingsScenarios {
		t.Run(sc.name, func(t *testing.T) { checkSettingsLoad(t, sc) })
	}
}

// checkSettingsLoad gives each binary the settings infra/ gives its app in
// one scenario, Key Vault references resolved as the platform resolves
// them, and loads them with the binary's own configuration code.
func checkSettingsLoad(t *testing.T, sc settingsScenario) {
	files := bicepFiles(t)
	handlerNames := configNames[config.Handler]()
	workerNames := configNames[config.Worker]()
	values := sc.values()

	// Function App.
	fn := files[functionBicep]
	fnEnv := map[string]string{}
	ps, err := props(fn.find("var", "appSettings").value)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if !handlerNames[p.key] {
			continue // platform settings; TestAppSettingsMatchConfiguration covers them
		}
		v, ok := evalSetting(p.value, values)
		if !ok {
			t.Errorf("Function App: cannot evaluate %s = %s", p.key, p.value)
			continue
		}
		if v, ok = resolveReference(v); !ok {
			t.Errorf("Function App: %s refers to a secret that is not in sampleSecrets", p.key)
			continue
		}
		fnEnv[p.key] = v
	}
	var handlerSigner *approval.LinkSigner
	withEnvironment(t, handlerNames, fnEnv, func() {
		cfg, err := config.Load[config.Handler]()
		if err != nil {
			t.Fatalf("the handler rejects the Function App's settings: %v", err)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("the handler refuses the Function App's settings: %v", err)
		}
		if cfg.PublicBaseURL != sampleValues["publicUrl"] {
			t.Errorf("handler PublicBaseURL = %q, want %q", cfg.PublicBaseURL, sampleValues["publicUrl"])
		}
		if cfg.Identity != sc.identity {
			t.Errorf("handler Identity = %q, want %q", cfg.Identity, sc.identity)
		}
		if cfg.Links.Key != sampleLinkKey {
			t.Error("the handler's link key is not the current key")
		}
		if wantPrevious := map[bool]string{false: sampleLinkKey, true: samplePreviousKey}[sc.previousKey]; cfg.Links.Previous != wantPrevious {
			t.Errorf("the handler's previous link key is not the %s", map[bool]string{false: "current key, as outside a rotation", true: "previous key"}[sc.previousKey])
		}
		if handlerSigner, err = cfg.Links.Signer(); err != nil || handlerSigner == nil {
			t.Fatalf("the handler has no link signer (%v): in Azure every link is signed", err)
		}
		checkResolved(t, "Function App", cfg.Scheduler, "ManagedIdentity", sampleValues["identityClientId"])
	})

	// Worker.
	app := workerApp(t, files)
	containers, err := items(dig(app.body(), "properties", "template", "containers"))
	if err != nil || len(containers) == 0 {
		t.Fatalf("worker containers: %v", err)
	}
	envs, err := items(get(containers[0], "env"))
	if err != nil {
		t.Fatal(err)
	}
	secrets := containerAppSecrets(t, app)
	wkEnv := map[string]string{}
	for _, e := range envs {
		name := unquote(get(e, "name"))
		if !workerNames[name] {
			continue
		}
		expr := get(e, "value")
		if ref := unquote(get(e, "secretRef")); ref != "" {
			// Container Apps reads the secret's keyVaultUrl with its identity.
			expr = get(secrets[ref], "keyVaultUrl")
		}
		v, ok := evalSetting(expr, values)
		if !ok {
			t.Errorf("worker: cannot evaluate %s = %s", name, expr)
			continue
		}
		if get(e, "secretRef") != "" {
			if v, ok = sampleSecrets[v]; !ok {
				t.Errorf("worker: %s refers to a secret that is not in sampleSecrets", name)
				continue
			}
		}
		wkEnv[name] = v
	}
	withEnvironment(t, workerNames, wkEnv, func() {
		cfg, err := config.Load[config.Worker]()
		if err != nil {
			t.Fatalf("the worker rejects the Container App's settings: %v", err)
		}
		if cfg.APIBaseURL != sampleValues["apiBaseUrl"] {
			t.Errorf("worker APIBaseURL = %q, want %q", cfg.APIBaseURL, sampleValues["apiBaseUrl"])
		}
		checkResolved(t, "worker", cfg.Scheduler, "ManagedIdentity", sampleValues["identityClientId"])
		// The limits the worker asks the scheduler for are the ones its
		// scale rules assume per replica (TestWorkerScaleRules).
		resolved, err := cfg.Scheduler.Resolve()
		if err != nil {
			t.Fatal(err)
		}
		for name, got := range map[string]int{
			"maxConcurrentOrchestrationWorkItems": resolved.MaxOrchestrationWorkItems,
			"maxConcurrentActivityWorkItems":      resolved.MaxActivityWorkItems,
		} {
			if fmt.Sprint(got) != sampleValues[name] {
				t.Errorf("worker: the work item limit from %s resolved to %d, want %s", name, got, sampleValues[name])
			}
		}
		// A link the worker signs is one the handler accepts.
		signer, err := cfg.Links.Signer()
		if err != nil || signer == nil {
			t.Fatalf("the worker has no link signer (%v): in Azure every link is signed", err)
		}
		now := time.Now()
		if _, err := handlerSigner.Check(signer.Token("req-1", "bob", now.Add(time.Hour)), "req-1", now); err != nil {
			t.Errorf("the handler refuses a link the worker signs: %v", err)
		}
		if sc.previousKey {
			// A link signed before the rotation, with the key that is now
			// the previous one.
			old, err := approval.NewLinkSigner(fnEnv["APPROVALS_LINK_KEY_PREVIOUS"], "")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := handlerSigner.Check(old.Token("req-1", "bob", now.Add(time.Hour)), "req-1", now); err != nil {
				t.Errorf("during a rotation the handler refuses a link signed with the previous key: %v", err)
			}
		}
	})
}

// containerAppSecrets returns the container app's configuration.secrets
// by name.
func containerAppSecrets(t *testing.T, app *decl) map[string]string {
	t.Helper()
	list := dig(app.body(), "properties", "configuration", "secrets")
	if list == "" {
		return nil
	}
	entries, err := items(list)
	if err != nil {
		t.Fatalf("%s: configuration.secrets: %v", workerBicep, err)
	}
	out := map[string]string{}
	for _, e := range entries {
		out[unquote(get(e, "name"))] = e
	}
	return out
}

// TestDocumentedLocalConnection checks the connection string the guide
// tells you to use for running the worker on your machine against Azure.
func TestDocumentedLocalConnection(t *testing.T) {
	m := regexp.MustCompile(`export DURABLE_TASK_SCHEDULER_CONNECTION_STRING="([^"]+)"`).FindStringSubmatch(deployGuide(t))
	if m == nil {
		t.Fatal("the deployment guide shows no DURABLE_TASK_SCHEDULER_CONNECTION_STRING for a local worker")
	}
	outputs := map[string]string{
		"DURABLE_TASK_SCHEDULER_ENDPOINT": sampleValues["schedulerEndpoint"],
		"TASKHUB_NAME":                    sampleValues["taskHubName"],
	}
	cs := regexp.MustCompile(`\$\(azd env get-value ([A-Z_]+)\)`).ReplaceAllStringFunc(m[1], func(s string) string {
		name := s[len("$(azd env get-value ") : len(s)-1]
		v, ok := outputs[name]
		if !ok {
			t.Errorf("the documented connection string reads %s; add a sample value for it here", name)
		}
		return v
	})
	checkResolved(t, "documented local worker", dts.Settings{ConnectionString: cs}, "AzureCLI", "")
}
