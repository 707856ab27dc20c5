package infra_test

// The worker's notification settings (config.Notify): optional azd
// environment values that main.parameters.json passes to main.bicep. The
// plain ones reach the worker's container as variables, APPROVALS_CALLBACK_ALLOW
// the Function App's settings too; the secrets are written to Key Vault and
// read by the worker as Key Vault-backed Container Apps secrets. Each is
// left out when it is empty, so a deployment that sets none runs the worker
// as it ran before notifications could be configured.

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/approvals-go/approvals/config"
)

// notifySetting is one notification setting as infra/ passes it on.
type notifySetting struct {
	// env is the configuration name, and the azd environment value
	// main.parameters.json reads it from.
	env string
	// param is its parameter in main.bicep, and in the modules it reaches.
	param string
	// secret: kept in Key Vault, never in a template, a configuration or
	// an output.
	secret bool
}

var notifySettings = []notifySetting{
	{"APPROVALS_NOTIFY", "notifyChannels", false},
	{"APPROVALS_SMTP_HOST", "smtpHost", false},
	{"APPROVALS_SMTP_PORT", "smtpPort", false},
	{"APPROVALS_SMTP_SECURITY", "smtpSecurity", false},
	{"APPROVALS_SMTP_USERNAME", "smtpUsername", false},
	{"APPROVALS_SMTP_PASSWORD", "smtpPassword", true},
	{"APPROVALS_SMTP_FROM", "smtpFrom", false},
	{"APPROVALS_SMTP_TO", "smtpTo", false},
	{"APPROVALS_TEAMS_WEBHOOK_URL", "teamsWebhookUrl", true},
	{"APPROVALS_SLACK_WEBHOOK_URL", "slackWebhookUrl", true},
	{"APPROVALS_WEBHOOK_URL", "webhookUrl", true},
	{"APPROVALS_WEBHOOK_SECRET", "webhookSecret", true},
	{"APPROVALS_NOTIFY_ALLOW", "notifyAllow", false},
	{"APPROVALS_CALLBACK_ALLOW", "callbackAllow", false},
	{"APPROVALS_CALLBACK_SECRET", "callbackSecret", true},
}

// workerParam is the parameter of worker-app.bicep the setting arrives in:
// the value itself, or for a secret the versioned URI of its Key Vault
// secret.
func (s notifySetting) workerParam() string {
	if s.secret {
		return s.param + "SecretUri"
	}
	return s.param
}

// secretName is the name of a setting's Key Vault secret and of the
// worker's Container Apps secret that reads it: the variable in lower case
// with hyphens, as approvals-link-key is APPROVALS_LINK_KEY's.
func secretName(env string) string {
	return strings.ToLower(strings.ReplaceAll(env, "_", "-"))
}

// looksSecret: a password or a secret, or a webhook URL, whose path or query
// is the token that lets anyone post.
var looksSecret = regexp.MustCompile(`PASSWORD|SECRET|WEBHOOK_URL$`)

// TestNotifySettingsMatchConfiguration: the table above is every
// notification setting the worker reads, no more, and says which are
// secrets.
func TestNotifySettingsMatchConfiguration(t *testing.T) {
	notifyNames := configNames[config.Notify]()
	workerNames := configNames[config.Worker]()
	listed := map[string]bool{}
	for _, s := range notifySettings {
		listed[s.env] = true
		if !notifyNames[s.env] || !workerNames[s.env] {
			t.Errorf("%s is not a setting the worker reads (config.Notify)", s.env)
		}
		if s.secret != looksSecret.MatchString(s.env) {
			t.Errorf("%s: secret = %v, but its name says otherwise", s.env, s.secret)
		}
	}
	for _, n := range sortedKeys(notifyNames) {
		if !listed[n] {
			t.Errorf("config.Notify reads %s, which infra/ does not pass on: add it to notifySettings and the templates", n)
		}
	}
	if !configNames[config.Handler]()["APPROVALS_CALLBACK_ALLOW"] {
		t.Error("config.Handler no longer reads APPROVALS_CALLBACK_ALLOW, which function-app.bicep sets")
	}
}

// TestNotifyParameters: each setting is an azd environment value with no
// default in main.parameters.json, and an optional main.bicep parameter,
// empty by default and @secure() when it is a secret, that goes to the
// modules that need it: a secret's value to Key Vault only, its URI to the
// worker.
func TestNotifyParameters(t *testing.T) {
	files := bicepFiles(t)
	main := files[mainBicep]
	params := parametersFile(t)
	kvArgs := moduleParams(t, main, main.find("module", "keyVault"))
	workerArgs := moduleParams(t, main, main.find("module", "worker"))
	apiArgs := moduleParams(t, main, main.find("module", "api"))
	for _, s := range notifySettings {
		if got, want := params[s.param], "${"+s.env+"}"; got != want {
			t.Errorf("main.parameters.json: %s = %q, want %q (no default: empty means unset)", s.param, got, want)
		}
		p := main.find("param", s.param)
		if p == nil {
			t.Errorf("main.bicep: param %s is missing", s.param)
			continue
		}
		if p.header != "string" || p.value != "''" {
			t.Errorf("main.bicep: param %s is %s = %q, want string = ''", s.param, p.header, p.value)
		}
		if secure := slices.Contains(p.decorators, "@secure()"); secure != s.secret {
			t.Errorf("main.bicep: param %s: @secure() is %v, want %v", s.param, secure, s.secret)
		}
		if !strings.Contains(strings.Join(p.decorators, " "), "("+s.env+")") {
			t.Errorf("main.bicep: the description of param %s does not name (%s)", s.param, s.env)
		}
		if s.secret {
			if kvArgs[s.param] != s.param {
				t.Errorf("main.bicep: module keyVault gets %s = %q, want %s", s.param, kvArgs[s.param], s.param)
			}
			if got, want := workerArgs[s.workerParam()], "keyVault.outputs.notifySecretUris."+s.env; got != want {
				t.Errorf("main.bicep: module worker gets %s = %q, want %s", s.workerParam(), got, want)
			}
		} else {
			if _, ok := kvArgs[s.param]; ok {
				t.Errorf("main.bicep: module keyVault gets %s, which is no secret", s.param)
			}
			if workerArgs[s.param] != s.param {
				t.Errorf("main.bicep: module worker gets %s = %q, want %s", s.param, workerArgs[s.param], s.param)
			}
		}
		// The handler reads only the callbacks' allow-list.
		want := map[bool]string{true: s.param, false: ""}[s.env == "APPROVALS_CALLBACK_ALLOW"]
		if apiArgs[s.param] != want {
			t.Errorf("main.bicep: module api gets %s = %q, want %q", s.param, apiArgs[s.param], want)
		}
	}
	fn := files[functionBicep]
	if got := functionAppSettings(t, fn)["APPROVALS_CALLBACK_ALLOW"]; got != "callbackAllow" {
		t.Errorf("%s: APPROVALS_CALLBACK_ALLOW = %q, want callbackAllow", functionBicep, got)
	}
	if p := fn.find("param", "callbackAllow"); p == nil || p.value != "''" {
		t.Errorf("%s: param callbackAllow must default to '' (public addresses only)", functionBicep)
	}
}

// TestNotifySecretsInKeyVault: each notification secret is a Key Vault
// secret that exists only when its value is set, holds that value, and whose
// versioned URI, empty when it is not set, is all that leaves the module.
func TestNotifySecretsInKeyVault(t *testing.T) {
	kv := bicepFiles(t)[keyVaultBicep]
	setOf := objectVar(t, kv, keyVaultBicep, "notifySecretSet")
	out := kv.find("output", "notifySecretUris")
	if out == nil || out.header != "object" {
		t.Fatalf("%s: output notifySecretUris object is missing", keyVaultBicep)
	}
	uriOf := objectOf(t, keyVaultBicep+": notifySecretUris", out.value)
	byName := map[string]*decl{}
	for _, r := range resourcesOf(kv, "Microsoft.KeyVault/vaults/secrets@") {
		byName[unquote(get(r.body(), "name"))] = r
	}
	var secrets []string
	for _, s := range notifySettings {
		if !s.secret {
			continue
		}
		secrets = append(secrets, s.env)
		p := kv.find("param", s.param)
		if p == nil || !slices.Contains(p.decorators, "@secure()") || p.value != "''" {
			t.Errorf("%s: param %s must be @secure() and default to ''", keyVaultBicep, s.param)
		}
		if got, want := setOf[s.env], "!empty("+s.param+")"; got != want {
			t.Errorf("%s: notifySecretSet.%s = %q, want %s", keyVaultBicep, s.env, got, want)
		}
		r := byName[secretName(s.env)]
		if r == nil {
			t.Errorf("%s: no secret %s holds %s", keyVaultBicep, secretName(s.env), s.env)
			continue
		}
		if got, want := r.condition(), "(notifySecretSet."+s.env+")"; got != want {
			t.Errorf("%s: secret %s is deployed if %s, want if %s: only when it is set", keyVaultBicep, r.name, got, want)
		}
		if got := dig(r.body(), "properties", "value"); got != s.param {
			t.Errorf("%s: secret %s holds %s, want %s", keyVaultBicep, r.name, got, s.param)
		}
		if got, want := uriOf[s.env], "notifySecretSet."+s.env+" ? "+r.name+".properties.secretUriWithVersion : ''"; got != want {
			t.Errorf("%s: notifySecretUris.%s = %q, want %s", keyVaultBicep, s.env, got, want)
		}
	}
	for what, keys := range map[string][]string{"notifySecretSet": sortedKeys(setOf), "notifySecretUris": sortedKeys(uriOf)} {
		slices.Sort(secrets)
		if !slices.Equal(keys, secrets) {
			t.Errorf("%s: %s has %v, want the notification secrets %v", keyVaultBicep, what, keys, secrets)
		}
	}
	if slices.Contains(out.decorators, "@secure()") {
		t.Errorf("%s: notifySecretUris is @secure(); it holds URIs, which name the secrets and hold nothing secret", keyVaultBicep)
	}
}

// TestNotifyWorkerSettings: in the worker's container each plain setting is
// a variable there only when it is set, and each secret a Container Apps
// secret read from Key Vault with the worker's identity and a variable that
// refers to it, both there only when the secret is set.
func TestNotifyWorkerSettings(t *testing.T) {
	files := bicepFiles(t)
	wk := files[workerBicep]
	app := workerApp(t, files)
	secrets := containerAppSecrets(t, app)
	env := map[string]arrayEntry{}
	for _, e := range workerEnvEntries(t, app) {
		env[unquote(get(e.text, "name"))] = e
	}
	for _, s := range notifySettings {
		param := s.workerParam()
		if p := wk.find("param", param); p == nil || p.header != "string" || p.value != "''" {
			t.Errorf("%s: param %s must be a string defaulting to ''", workerBicep, param)
		}
		e, ok := env[s.env]
		if !ok {
			t.Errorf("%s: the container does not set %s", workerBicep, s.env)
			continue
		}
		if e.cond != "empty("+param+")" || e.when {
			t.Errorf("%s: env %s is %s, want there when empty(%s) is false: only when it is set", workerBicep, s.env, e, param)
		}
		if !s.secret {
			if get(e.text, "value") != param || get(e.text, "secretRef") != "" {
				t.Errorf("%s: env %s must be {value: %s}, got %s", workerBicep, s.env, param, e.text)
			}
			continue
		}
		name := secretName(s.env)
		if get(e.text, "value") != "" || unquote(get(e.text, "secretRef")) != name {
			t.Errorf("%s: env %s must be {secretRef: '%s'}, got %s", workerBicep, s.env, name, e.text)
		}
		secret, ok := secrets[name]
		if !ok {
			t.Errorf("%s: configuration.secrets has no %s for env %s", workerBicep, name, s.env)
			continue
		}
		if secret.cond != e.cond || secret.when != e.when {
			t.Errorf("%s: secret %s is %s, but its variable %s", workerBicep, name, secret, e)
		}
		if get(secret.text, "keyVaultUrl") != param || get(secret.text, "identity") != "identityId" || get(secret.text, "value") != "" {
			t.Errorf("%s: secret %s must be {keyVaultUrl: %s, identity: identityId}, got %s", workerBicep, name, param, secret.text)
		}
	}
}

// TestNotifyDefaultsLeaveTheWorkerAsItWas: with no notification setting the
// worker's container has exactly the variables and secrets it had before
// notifications could be configured; with all of them, every one.
func TestNotifyDefaultsLeaveTheWorkerAsItWas(t *testing.T) {
	app := workerApp(t, bicepFiles(t))
	notifyNames := configNames[config.Notify]()
	for _, all := range []bool{false, true} {
		values := settingsScenario{}.values()
		if all {
			for _, s := range notifySettings {
				values[s.workerParam()] = "set"
			}
		}
		var names []string
		for _, e := range workerEnvEntries(t, app) {
			there, ok := e.present(values)
			if !ok {
				t.Fatalf("%s: cannot tell whether %s is there: %s", workerBicep, e.text, e.cond)
			}
			if name := unquote(get(e.text, "name")); there && notifyNames[name] {
				names = append(names, name)
			}
		}
		var secrets []string
		for name, e := range containerAppSecrets(t, app) {
			if there, _ := e.present(values); there {
				secrets = append(secrets, name)
			}
		}
		slices.Sort(secrets)
		want, wantSecrets := []string(nil), []string{"approvals-link-key"}
		if all {
			want = sortedKeys(notifyNames)
			for _, s := range notifySettings {
				if s.secret {
					wantSecrets = append(wantSecrets, secretName(s.env))
				}
			}
			slices.Sort(wantSecrets)
		}
		slices.Sort(names)
		if !slices.Equal(names, want) {
			t.Errorf("with every notification setting set = %v, the worker's notification variables are %v, want %v", all, names, want)
		}
		if !slices.Equal(secrets, wantSecrets) {
			t.Errorf("with every notification setting set = %v, the worker's secrets are %v, want %v", all, secrets, wantSecrets)
		}
	}
}
