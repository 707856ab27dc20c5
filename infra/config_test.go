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

	"github.com/approvals-go/approvals/config"
	"github.com/approvals-go/approvals/dts"
)

// Sample values of the Bicep parameters the settings are built from.
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
}

var stringCall = regexp.MustCompile(`^string\(([A-Za-z_][A-Za-z0-9_]*)\)$`)

var interpolation = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// evalSetting evaluates the Bicep expressions settings are made of: a
// parameter or variable of sampleValues, string() of one, or a string
// literal interpolating them. ok is false for anything else.
func evalSetting(expr string) (value string, ok bool) {
	expr = strings.TrimSpace(expr)
	if m := stringCall.FindStringSubmatch(expr); m != nil {
		expr = m[1]
	}
	if v, found := sampleValues[expr]; found {
		return v, true
	}
	if len(expr) < 2 || expr[0] != '\'' || expr[len(expr)-1] != '\'' {
		return "", false
	}
	ok = true
	value = interpolation.ReplaceAllStringFunc(expr[1:len(expr)-1], func(m string) string {
		v, found := sampleValues[m[2:len(m)-1]]
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
	files := bicepFiles(t)
	handlerNames := configNames[config.Handler]()
	workerNames := configNames[config.Worker]()

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
		v, ok := evalSetting(p.value)
		if !ok {
			t.Errorf("Function App: cannot evaluate %s = %s", p.key, p.value)
			continue
		}
		fnEnv[p.key] = v
	}
	withEnvironment(t, handlerNames, fnEnv, func() {
		cfg, err := config.Load[config.Handler]()
		if err != nil {
			t.Fatalf("the handler rejects the Function App's settings: %v", err)
		}
		if cfg.PublicBaseURL != sampleValues["publicUrl"] {
			t.Errorf("handler PublicBaseURL = %q, want %q", cfg.PublicBaseURL, sampleValues["publicUrl"])
		}
		checkResolved(t, "Function App", cfg.Scheduler, "ManagedIdentity", sampleValues["identityClientId"])
	})

	// Worker.
	wk := files[workerBicep]
	var app *decl
	for _, r := range wk.all("resource") {
		if strings.HasPrefix(r.quoted(), "Microsoft.App/containerApps@") {
			app = r
		}
	}
	containers, err := items(dig(app.body(), "properties", "template", "containers"))
	if err != nil || len(containers) == 0 {
		t.Fatalf("worker containers: %v", err)
	}
	envs, err := items(get(containers[0], "env"))
	if err != nil {
		t.Fatal(err)
	}
	wkEnv := map[string]string{}
	for _, e := range envs {
		name := unquote(get(e, "name"))
		if !workerNames[name] {
			continue
		}
		v, ok := evalSetting(get(e, "value"))
		if !ok {
			t.Errorf("worker: cannot evaluate %s = %s", name, get(e, "value"))
			continue
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
	})
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
