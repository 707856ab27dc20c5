package infra_test

// The settings infra/ gives each app, with sample values in place of what
// Azure fills in, must load with the binary's own configuration code and
// resolve to a TLS connection to the task hub with the app's managed
// identity.

import (
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/config"
	"github.com/approvals-go/approvals/dts"
	"github.com/approvals-go/approvals/internal/safehttp"
	"github.com/approvals-go/approvals/internal/wire"
	"github.com/approvals-go/approvals/notify"
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
	"auditKeySecretUri":                   "",
	"auditKeyPreviousSecretUri":           "",
	"auditContainerUrl":                   "https://stabc123.blob.core.windows.net/audit",
}

const (
	sampleLinkKey     = "current-link-key-0123456789-abcdefghijklmnopq"
	samplePreviousKey = "previous-link-key-0123456789-abcdefghijklmno"

	sampleSMTPPassword    = "smtp-client-secret~0123456789"
	sampleWebhookURL      = "https://hooks.example.com/approvals?token=0123456789abcdef"
	sampleWebhookSecret   = "webhook-signing-secret-0123456789-abcdefgh"
	sampleCallbackSecret  = "callback-signing-secret-0123456789-abcdefg"
	sampleSMTPPasswordURI = "https://kv-abc123.vault.azure.net/secrets/approvals-smtp-password/11111111111111111111111111111111"
	sampleWebhookURLURI   = "https://kv-abc123.vault.azure.net/secrets/approvals-webhook-url/22222222222222222222222222222222"
	sampleWebhookKeyURI   = "https://kv-abc123.vault.azure.net/secrets/approvals-webhook-secret/33333333333333333333333333333333"
	sampleCallbackKeyURI  = "https://kv-abc123.vault.azure.net/secrets/approvals-callback-secret/44444444444444444444444444444444"
	sampleAuditKey        = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="
	sampleAuditKeyURI     = "https://kv-abc123.vault.azure.net/secrets/approvals-audit-key/55555555555555555555555555555555"
)

// sampleSecrets stands in for Key Vault: the value behind each secret URI
// of sampleValues and the scenarios. Outside a rotation the previous
// secret holds the current key (keyvault.bicep).
var sampleSecrets = map[string]string{
	"https://kv-abc123.vault.azure.net/secrets/approvals-link-key/0123456789abcdef0123456789abcdef":          sampleLinkKey,
	"https://kv-abc123.vault.azure.net/secrets/approvals-link-key-previous/00000000000000000000000000000001": sampleLinkKey,
	"https://kv-abc123.vault.azure.net/secrets/approvals-link-key-previous/00000000000000000000000000000002": samplePreviousKey,
	sampleSMTPPasswordURI: sampleSMTPPassword,
	sampleWebhookURLURI:   sampleWebhookURL,
	sampleWebhookKeyURI:   sampleWebhookSecret,
	sampleCallbackKeyURI:  sampleCallbackSecret,
	sampleAuditKeyURI:     sampleAuditKey,
}

// settingsScenario is one way the templates can be deployed.
type settingsScenario struct {
	name      string
	overrides map[string]string
	// What the handler must then run with.
	identity    string
	previousKey bool
	// audit: the handler serves sealed trails and the worker exports them.
	audit bool
	// What the worker's notifications must then be; the handler's
	// APPROVALS_CALLBACK_ALLOW must be the worker's.
	notify config.Notify
}

// defaultNotify is what the worker reads with no notification setting:
// the log channel alone, as before notifications could be configured.
var defaultNotify = config.Notify{Channels: config.ChannelLog, SMTP: config.SMTP{Security: string(notify.StartTLS)}}

var settingsScenarios = []settingsScenario{
	{name: "without sign-in", identity: config.IdentityBody, notify: defaultNotify},
	{name: "with sign-in", overrides: map[string]string{"authEnabled": "true"}, identity: config.IdentityAppService, notify: defaultNotify},
	{name: "with the audit on", overrides: map[string]string{"auditKeySecretUri": sampleAuditKeyURI},
		identity: config.IdentityBody, audit: true, notify: defaultNotify},
	{name: "during a key rotation", overrides: map[string]string{
		"linkKeyPreviousSecretUri": "https://kv-abc123.vault.azure.net/secrets/approvals-link-key-previous/00000000000000000000000000000002",
	}, identity: config.IdentityBody, previousKey: true, notify: defaultNotify},
	// As docs/deploy.md sets it up: e-mail through Azure Communication
	// Services' SMTP endpoint, a signed webhook, and signed callbacks to a
	// private range. The worker-app.bicep parameters below are what
	// main.bicep passes from those azd environment values, the secrets'
	// URIs as keyvault.bicep outputs them (TestNotifyWorkerSettings).
	{name: "with e-mail, a webhook and callbacks", overrides: map[string]string{
		"notifyChannels":          "email,webhook",
		"smtpHost":                "smtp.azurecomm.net",
		"smtpPort":                "587",
		"smtpUsername":            "approvals-smtp",
		"smtpFrom":                "Approvals <DoNotReply@contoso.com>",
		"smtpTo":                  "approvers@contoso.com",
		"callbackAllow":           "10.20.0.0/16",
		"smtpPasswordSecretUri":   sampleSMTPPasswordURI,
		"webhookUrlSecretUri":     sampleWebhookURLURI,
		"webhookSecretSecretUri":  sampleWebhookKeyURI,
		"callbackSecretSecretUri": sampleCallbackKeyURI,
	}, identity: config.IdentityBody, notify: config.Notify{
		Channels: "email,webhook",
		SMTP: config.SMTP{
			Host: "smtp.azurecomm.net", Port: 587, Security: string(notify.StartTLS),
			Username: "approvals-smtp", Password: sampleSMTPPassword,
			From: "Approvals <DoNotReply@contoso.com>", To: "approvers@contoso.com",
		},
		WebhookURL:     sampleWebhookURL,
		WebhookSecret:  sampleWebhookSecret,
		CallbackAllow:  "10.20.0.0/16",
		CallbackSecret: sampleCallbackSecret,
	}},
}

func (sc settingsScenario) values() map[string]string {
	out := map[string]string{}
	// Every notification setting is empty unless the scenario sets it.
	for _, s := range notifySettings {
		out[s.workerParam()] = ""
	}
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
	q := -1
	for i, depth := range levels(mask) {
		if depth != 0 {
			continue
		}
		switch mask[i] {
		case '?':
			if q < 0 && (i+1 == len(mask) || mask[i+1] != '?') && (i == 0 || mask[i-1] != '?' && mask[i-1] != '.') {
				q = i
			}
		case ':':
			if q >= 0 {
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
		if handlerSigner, err = wire.LinkSigner(cfg.Links); err != nil || handlerSigner == nil {
			t.Fatalf("the handler has no link signer (%v): in Azure every link is signed", err)
		}
		if cfg.CallbackAllow != sc.notify.CallbackAllow {
			t.Errorf("handler CallbackAllow = %q, want the worker's, %q", cfg.CallbackAllow, sc.notify.CallbackAllow)
		}
		if _, err := safehttp.ParseAllow(cfg.CallbackAllow); err != nil {
			t.Errorf("the handler's APPROVALS_CALLBACK_ALLOW does not parse: %v", err)
		}
		checkResolved(t, "Function App", dts.Settings(cfg.Scheduler), "ManagedIdentity", sampleValues["identityClientId"])
		if sealer, err := wire.AuditSigner(cfg.Audit); err != nil || (sealer != nil) != sc.audit {
			t.Errorf("the handler's audit signer: %v, %v; want one only with the audit on (%v)", sealer, err, sc.audit)
		}
	})

	// Worker.
	app := workerApp(t, files)
	secrets := containerAppSecrets(t, app)
	wkEnv := map[string]string{}
	for _, entry := range workerEnvEntries(t, app) {
		e := entry.text
		name := unquote(get(e, "name"))
		if !workerNames[name] {
			continue
		}
		if there, ok := entry.present(values); !ok {
			t.Errorf("worker: cannot evaluate whether %s is set: %s", name, entry.cond)
			continue
		} else if !there {
			continue
		}
		expr := get(e, "value")
		if ref := unquote(get(e, "secretRef")); ref != "" {
			// Container Apps reads the secret's keyVaultUrl with its
			// identity; the secret must be there whenever the variable is.
			secret, declared := secrets[ref]
			if there, _ := secret.present(values); !declared || !there {
				t.Errorf("worker: %s refers to secret %s, which is not there", name, ref)
				continue
			}
			expr = get(secret.text, "keyVaultUrl")
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
		checkResolved(t, "worker", dts.Settings(cfg.Scheduler), "ManagedIdentity", sampleValues["identityClientId"])
		checkNotify(t, cfg.Notify, sc.notify)
		// With the audit on, the worker exports to the audit container as
		// its identity (no connection string), sealing with the handler's
		// key; otherwise it exports nothing.
		container, sealer, err := wire.AuditExport(cfg.AuditExport, cfg.Audit, &azidentity.ManagedIdentityCredential{})
		switch {
		case err != nil:
			t.Errorf("the worker refuses its audit settings: %v", err)
		case (container != nil) != sc.audit || (sealer != nil) != sc.audit:
			t.Errorf("the worker's audit export is on = %v, want %v", container != nil, sc.audit)
		case sc.audit && (cfg.AuditExport.ContainerURL != sampleValues["auditContainerUrl"] || cfg.AuditExport.StorageConnectionString != "" || cfg.Audit.AuditKey != sampleAuditKey):
			t.Errorf("the worker exports to %q with a connection string %v and the key from Key Vault %v", cfg.AuditExport.ContainerURL,
				cfg.AuditExport.StorageConnectionString != "", cfg.Audit.AuditKey == sampleAuditKey)
		}
		// The limits the worker asks the scheduler for are the ones its
		// scale rules assume per replica (TestWorkerScaleRules).
		resolved, err := dts.Settings(cfg.Scheduler).Resolve()
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
		signer, err := wire.LinkSigner(cfg.Links)
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

// checkNotify compares the worker's notification settings with what the
// scenario wants, and has the worker's own code build its channels and
// callback client from them, as it does at start-up.
func checkNotify(t *testing.T, got, want config.Notify) {
	t.Helper()
	if got != want {
		// Field names only: the values include (sample) secrets.
		gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
		for i := range gv.NumField() {
			if !reflect.DeepEqual(gv.Field(i).Interface(), wv.Field(i).Interface()) {
				t.Errorf("worker: Notify.%s is not what the templates give", gv.Type().Field(i).Name)
			}
		}
	}
	channels, err := wire.Notifier(got, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("the worker refuses its notification settings: %v", err)
	}
	var names []string
	for _, ch := range channels {
		names = append(names, ch.Name)
	}
	if strings.Join(names, ",") != want.Channels {
		t.Errorf("worker: channels %v, want %s", names, want.Channels)
	}
	var secret []byte
	callbacks, err := wire.Callbacks(got)
	if err == nil {
		secret = callbacks.Secret
	}
	if err != nil || (secret == nil) != (want.CallbackSecret == "") {
		t.Errorf("worker: callback client: %v, signed %v, want signed %v", err, secret != nil, want.CallbackSecret != "")
	}
}

// containerAppSecrets returns the container app's configuration.secrets
// by name, each with when it is there.
func containerAppSecrets(t *testing.T, app *decl) map[string]arrayEntry {
	t.Helper()
	list := dig(app.body(), "properties", "configuration", "secrets")
	if list == "" {
		return nil
	}
	entries, err := arrayEntries(list)
	if err != nil {
		t.Fatalf("%s: configuration.secrets: %v", workerBicep, err)
	}
	out := map[string]arrayEntry{}
	for _, e := range entries {
		name := unquote(get(e.text, "name"))
		if _, dup := out[name]; dup {
			t.Errorf("%s: secret %s is declared twice", workerBicep, name)
		}
		out[name] = e
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
