package infra_test

// What a first `azd up` and every later `azd deploy` depend on beyond the
// resources' shapes: the worker's scale rules, the API version azd writes
// the worker back with, the azd version the template needs, and the
// deployment guide's advice (docs/deploy.md) on the settings that cannot
// change after the first deployment.

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const (
	scalerType = "azure-durabletask-scheduler"
	// minAzd is the oldest azd that reads `remoteBuild` as a service
	// property; releases before 1.22 also bundle a Bicep without the
	// Durable Task 2025-11-01 types.
	minAzd = "1.23.5"
	// workerAPI is the Microsoft.App version whose scale rules carry an
	// identity.
	workerAPI = "2025-01-01"
)

// workerApp returns the container app resource of worker-app.bicep.
func workerApp(t *testing.T, files map[string]*bicepFile) *decl {
	t.Helper()
	for _, r := range files[workerBicep].all("resource") {
		if strings.HasPrefix(r.quoted(), "Microsoft.App/containerApps@") && !strings.HasSuffix(r.header, "existing") {
			return r
		}
	}
	t.Fatalf("%s declares no container app", workerBicep)
	return nil
}

// workerEnvEntries returns the worker container's environment variables,
// each with when it is there.
func workerEnvEntries(t *testing.T, app *decl) []arrayEntry {
	t.Helper()
	containers, err := items(dig(app.body(), "properties", "template", "containers"))
	if err != nil || len(containers) != 1 {
		t.Fatalf("%s: want one container, got %d (%v)", workerBicep, len(containers), err)
	}
	envs, err := arrayEntries(get(containers[0], "env"))
	if err != nil {
		t.Fatalf("%s: env: %v", workerBicep, err)
	}
	return envs
}

// workerEnv returns the worker container's environment as name -> value
// expression, conditional variables included.
func workerEnv(t *testing.T, app *decl) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range workerEnvEntries(t, app) {
		out[unquote(get(e.text, "name"))] = get(e.text, "value")
	}
	return out
}

var (
	ruleNameRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*[a-z0-9]$`)
	stringParamRE = regexp.MustCompile(`^string\(([A-Za-z_][A-Za-z0-9_]*)\)$`)
)

// TestWorkerScaleRules: the worker scales from one replica up to
// workerMaxReplicas on the task hub's backlog, one rule per work item type,
// with the worker's own identity, aiming per replica at exactly the work
// item limits the worker asks the scheduler for.
func TestWorkerScaleRules(t *testing.T) {
	files := bicepFiles(t)
	wk := files[workerBicep]
	app := workerApp(t, files)
	env := workerEnv(t, app)
	scale := dig(app.body(), "properties", "template", "scale")
	if got := get(scale, "minReplicas"); got != "1" {
		t.Errorf("scale.minReplicas = %q, want 1: a replica is always there for decisions and timers", got)
	}
	if got := get(scale, "maxReplicas"); got != "maxReplicas" || wk.find("param", "maxReplicas") == nil {
		t.Errorf("scale.maxReplicas = %q, want the module's maxReplicas parameter", got)
	}

	rules, err := items(get(scale, "rules"))
	if err != nil {
		t.Fatalf("scale.rules: %v", err)
	}
	limitSetting := map[string]string{
		"Orchestration": "DTS_MAX_CONCURRENT_ORCHESTRATION_WORK_ITEMS",
		"Activity":      "DTS_MAX_CONCURRENT_ACTIVITY_WORK_ITEMS",
	}
	seenTypes, seenNames := map[string]bool{}, map[string]bool{}
	for _, rule := range rules {
		name := unquote(get(rule, "name"))
		if !ruleNameRE.MatchString(name) || seenNames[name] {
			t.Errorf("scale rule name %q must be unique, lower case letters, digits and hyphens", get(rule, "name"))
		}
		seenNames[name] = true
		custom := get(rule, "custom")
		if got := unquote(get(custom, "type")); got != scalerType {
			t.Errorf("rule %s: custom.type = %q, want %s", name, got, scalerType)
		}
		if got := get(custom, "identity"); got != "identityId" {
			t.Errorf("rule %s: identity = %q, want identityId (the worker's user-assigned identity)", name, got)
		}
		meta, err := props(get(custom, "metadata"))
		if err != nil {
			t.Errorf("rule %s: metadata: %v", name, err)
			continue
		}
		m := map[string]string{}
		for _, p := range meta {
			m[p.key] = p.value
		}
		if keys := sortedKeys(m); strings.Join(keys, " ") != "endpoint maxConcurrentWorkItemsCount taskhubName workItemType" {
			t.Errorf("rule %s: metadata keys %v, want exactly endpoint, maxConcurrentWorkItemsCount, taskhubName, workItemType", name, keys)
		}
		if m["endpoint"] != "schedulerEndpoint" || m["taskhubName"] != "taskHubName" {
			t.Errorf("rule %s: endpoint %q, taskhubName %q; want the scheduler's endpoint and the task hub the worker uses", name, m["endpoint"], m["taskhubName"])
		}
		typ := unquote(m["workItemType"])
		setting, known := limitSetting[typ]
		if !known || seenTypes[typ] {
			t.Errorf("rule %s: workItemType %s; want one rule for Orchestration and one for Activity", name, m["workItemType"])
			continue
		}
		seenTypes[typ] = true
		// KEDA metadata values are strings; the target per replica is the
		// limit the worker sends (the same parameter feeds both).
		count := m["maxConcurrentWorkItemsCount"]
		pm := stringParamRE.FindStringSubmatch(count)
		if pm == nil || wk.find("param", pm[1]) == nil {
			t.Errorf("rule %s: maxConcurrentWorkItemsCount = %s, want string(<a parameter>)", name, count)
			continue
		}
		if env[setting] != count {
			t.Errorf("rule %s aims at %s per replica, but the worker's %s is %s: one replica would take a different number than the rule assumes",
				name, count, setting, env[setting])
		}
	}
	if len(seenTypes) != len(limitSetting) || len(rules) != len(limitSetting) {
		t.Errorf("scale rules cover %v in %d rules; want Orchestration and Activity, one rule each", sortedKeys(seenTypes), len(rules))
	}

	// main.bicep wires the rule to the scheduler and the worker's identity,
	// and workerMaxReplicas through to the rule's ceiling.
	main := files[mainBicep]
	p := moduleParams(t, main, main.find("module", "worker"))
	wantEach(t, "main.bicep: module worker passes", func(k string) string { return p[k] }, map[string]string{
		"maxReplicas":       "workerMaxReplicas",
		"identityId":        "workerIdentity.outputs.id",
		"schedulerEndpoint": "scheduler.outputs.endpoint",
		"taskHubName":       "scheduler.outputs.taskHubName",
	})
	mr := main.find("param", "workerMaxReplicas")
	if mr == nil {
		t.Fatal("main.bicep lacks param workerMaxReplicas")
	}
	if n, err := strconv.Atoi(mr.value); err != nil || n < 2 {
		t.Errorf("workerMaxReplicas defaults to %q; with fewer than 2 the scale rules can never add a replica", mr.value)
	}
	if v := parametersFile(t)["workerMaxReplicas"]; !strings.HasPrefix(v, "${WORKER_MAX_REPLICAS") {
		t.Errorf("main.parameters.json: workerMaxReplicas = %q, want it from WORKER_MAX_REPLICAS (azd env set)", v)
	}
}

// TestWorkerAPIVersionPinned: azd deploys the worker by reading the
// Container App and writing it back; azure.yaml pins the version the
// template declares it with, so nothing the template set is dropped.
func TestWorkerAPIVersionPinned(t *testing.T) {
	files := bicepFiles(t)
	typ := workerApp(t, files).quoted()
	declared := typ[strings.Index(typ, "@")+1:]
	if declared != workerAPI {
		t.Errorf("%s declares the worker with %s, want %s (scale rules with an identity)", workerBicep, typ, workerAPI)
	}
	if got := azureYAML(t).str("services", "worker", "apiVersion"); got != declared {
		t.Errorf("azure.yaml: services.worker.apiVersion = %q, want %q, the version %s declares the app with", got, declared, workerBicep)
	}
	// The lookup of the running image reads the same resource.
	for _, r := range files["infra/modules/container-image.bicep"].all("resource") {
		if strings.HasPrefix(r.quoted(), "Microsoft.App/containerApps@") && r.quoted() != typ {
			t.Errorf("container-image.bicep reads the worker as %s, the template declares %s", r.quoted(), typ)
		}
	}
}

// versionAtLeast compares dotted release numbers.
func versionAtLeast(v, floor string) bool {
	a, b := strings.Split(v, "."), strings.Split(floor, ".")
	for i := range max(len(a), len(b)) {
		var x, y int
		if i < len(a) {
			x, _ = strconv.Atoi(a[i])
		}
		if i < len(b) {
			y, _ = strconv.Atoi(b[i])
		}
		if x != y {
			return x > y
		}
	}
	return true
}

func TestRequiredAzdVersion(t *testing.T) {
	req := azureYAML(t).str("requiredVersions", "azd")
	m := regexp.MustCompile(`^>=\s*(\d+\.\d+\.\d+)$`).FindStringSubmatch(req)
	if m == nil {
		t.Fatalf("requiredVersions.azd = %q, want \">= %s\"", req, minAzd)
	}
	if !versionAtLeast(m[1], minAzd) {
		t.Errorf("requiredVersions.azd = %q; the template needs azd %s or later", req, minAzd)
	}
	if !versionAtLeast("1.23.4", "1.23.4") || versionAtLeast("1.22.10", "1.23.5") || !versionAtLeast("1.24.0", "1.23.5") {
		t.Fatal("versionAtLeast is wrong")
	}
	// The deployment guide's prerequisite names the same floor.
	guide := deployGuide(t)
	pre := regexp.MustCompile(`\[Azure Developer CLI\]\([^)]*\)\s+(\d+\.\d+\.\d+) or later`).FindStringSubmatch(guide)
	if pre == nil {
		t.Fatal("docs/deploy.md's prerequisites name no azd version (\"[Azure Developer CLI](...) X.Y.Z or later\")")
	}
	if pre[1] != m[1] {
		t.Errorf("docs/deploy.md asks for azd %s, azure.yaml requires %s", pre[1], m[1])
	}
}

// TestRegionAdvice: a resource group cannot change region, and the region
// seeds every resource name, so the deployment guide must say, wherever it
// tells you to set AZURE_LOCATION or DTS_LOCATION, what to do once the
// environment exists.
func TestRegionAdvice(t *testing.T) {
	guide := deployGuide(t)
	setting := regexp.MustCompile("azd env set (AZURE_LOCATION|DTS_LOCATION)|^\\|\\s*`(AZURE_LOCATION|DTS_LOCATION)")
	remedy := regexp.MustCompile("azd down --purge|azd env new")
	seen := map[string]bool{}
	for _, block := range readmeBlocks(guide) {
		m := setting.FindStringSubmatch(block)
		if m == nil {
			continue
		}
		name := m[1] + m[2]
		seen[name] = true
		if !remedy.MatchString(block) {
			t.Errorf("docs/deploy.md sets %s without saying that an existing environment cannot move (`azd down --purge` first, or `azd env new`):\n%s", name, block)
		}
	}
	for _, name := range []string{"AZURE_LOCATION", "DTS_LOCATION"} {
		if !seen[name] {
			t.Errorf("docs/deploy.md never tells how to set %s; the check above saw nothing", name)
		}
	}
}

// readmeBlocks splits Markdown outside code fences into what a reader takes
// in at once: a paragraph, one list item, or one table row.
func readmeBlocks(md string) []string {
	var blocks []string
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			blocks = append(blocks, strings.Join(cur, "\n"))
			cur = nil
		}
	}
	fenced := false
	for _, line := range strings.Split(md, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "```"):
			flush()
			fenced = !fenced
		case fenced:
		case trimmed == "":
			flush()
		case strings.HasPrefix(trimmed, "|"):
			flush()
			blocks = append(blocks, trimmed)
		case strings.HasPrefix(trimmed, "- ") || strings.HasPrefix(trimmed, "* ") || strings.HasPrefix(trimmed, "#"):
			flush()
			cur = append(cur, line)
		default:
			cur = append(cur, line)
		}
	}
	flush()
	return blocks
}

func TestReadmeBlocks(t *testing.T) {
	md := "para one\nstill one\n\n- item a\n  more a\n- item b\n\n| x | y |\n| z | w |\n```sh\nazd env set AZURE_LOCATION x\n```\n"
	got := readmeBlocks(md)
	want := []string{"para one\nstill one", "- item a\n  more a", "- item b", "| x | y |", "| z | w |"}
	if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
		t.Errorf("readmeBlocks = %q, want %q", got, want)
	}
}

// TestModuleOutputsAreRead: an output no caller reads is a value someone
// meant to use and did not, or one left behind.
func TestModuleOutputsAreRead(t *testing.T) {
	files := bicepFiles(t)
	main := files[mainBicep]
	for _, rel := range sortedKeys(files) {
		if rel == mainBicep {
			continue
		}
		calls := invocations(t, files, main, rel)
		if len(calls) == 0 {
			t.Errorf("%s is never used by main.bicep", rel)
			continue
		}
		for _, o := range files[rel].all("output") {
			read := false
			for _, c := range calls {
				if regexp.MustCompile(`\b` + c.name + `\.outputs\.` + o.name + `\b`).MatchString(main.mask) {
					read = true
				}
			}
			if !read {
				t.Errorf("%s:%d: output %s is read by no caller", rel, o.line, o.name)
			}
		}
	}
}

// TestFunctionAppHTTPConcurrency: the HTTP concurrency per instance is set
// by the template, not left to a platform default sized for other
// languages' workers.
func TestFunctionAppHTTPConcurrency(t *testing.T) {
	fn := bicepFiles(t)[functionBicep]
	var site *decl
	for _, r := range fn.all("resource") {
		if strings.HasPrefix(r.quoted(), "Microsoft.Web/sites@") {
			site = r
		}
	}
	if site == nil {
		t.Fatalf("%s declares no site", functionBicep)
	}
	v := dig(site.body(), "properties", "functionAppConfig", "scaleAndConcurrency", "triggers", "http", "perInstanceConcurrency")
	if v == "" {
		t.Fatal("functionAppConfig.scaleAndConcurrency.triggers.http.perInstanceConcurrency is not set")
	}
	p := fn.find("param", v)
	if p == nil {
		t.Fatalf("perInstanceConcurrency = %s, want a parameter", v)
	}
	n, err := strconv.Atoi(p.value)
	decorators := strings.Join(p.decorators, " ")
	if err != nil || n < 1 || n > 1000 || !strings.Contains(decorators, "@minValue(1)") || !strings.Contains(decorators, "@maxValue(1000)") {
		t.Errorf("param %s = %q %v; want a default within 1..1000, the range Flex Consumption accepts, and those bounds declared", v, p.value, p.decorators)
	}
}
