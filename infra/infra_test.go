package infra_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/approvals-go/approvals/config"
)

// Built-in role definition ids.
const (
	roleDurableTaskDataContributor  = "0ad04412-c4d5-4796-b79c-f76d14c8d402"
	roleDurableTaskWorker           = "80d0d6b0-f522-40a4-8886-a5a11720c375"
	roleDurableTaskDataReader       = "d6a5505f-6ebb-45a4-896e-ac8274cfc0ac"
	roleAcrPull                     = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
	roleStorageBlobDataOwner        = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
	roleStorageTableDataContributor = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
	roleStorageBlobDataContributor  = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
	roleMonitoringMetricsPublisher  = "3913510d-42f4-4e42-8a64-420c390055eb"
)

const (
	mainBicep        = "infra/main.bicep"
	taskHubRoleBicep = "infra/modules/taskhub-role.bicep"
	functionBicep    = "infra/modules/function-app.bicep"
	workerBicep      = "infra/modules/worker-app.bicep"
	schedulerBicep   = "infra/modules/scheduler.bicep"
	durableTaskAPI   = "2025-11-01"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not found from the infra folder: %v", err)
	}
	return root
}

// ---------------------------------------------------------------------------
// Lint of every template

var (
	resourceTypeRE = regexp.MustCompile(`^'[A-Za-z]+\.[A-Za-z]+/[A-Za-z/]+@\d{4}-\d{2}-\d{2}(-preview)?'(\s+existing)?$`)
	outputRefRE    = regexp.MustCompile(`\b([A-Za-z_][A-Za-z0-9_]*)\.outputs\.([A-Za-z_][A-Za-z0-9_]*)`)
	// Text that would put a key or a password into a template. The apps
	// reach storage, telemetry, the registry and the scheduler with their
	// managed identities only.
	secretPatterns = []string{
		"listKeys(", ".listKeys", "listCredentials(", "listConnectionStrings(",
		"AccountKey=", "SharedAccessKey=", "InstrumentationKey=", "primarySharedKey",
		"adminUserEnabled: true", "allowSharedKeyAccess: true", "DisableLocalAuth: false",
	}
)

func TestBicepLint(t *testing.T) {
	files := bicepFiles(t)
	for _, rel := range sortedKeys(files) {
		f := files[rel]
		t.Run(rel, func(t *testing.T) {
			for _, s := range secretPatterns {
				if i := strings.Index(f.code, s); i >= 0 {
					t.Errorf("line %d: %q: use a managed identity instead of keys", lineOf(f.code, i), s)
				}
			}
			symbols := map[string]bool{}
			for _, d := range f.decls {
				if d.name == "" || d.kind == "output" {
					continue // outputs have a namespace of their own
				}
				if symbols[d.name] {
					t.Errorf("line %d: %s is declared twice", d.line, d.name)
				}
				symbols[d.name] = true
			}
			for _, d := range f.decls {
				switch d.kind {
				case "resource":
					if !resourceTypeRE.MatchString(d.header) {
						t.Errorf("line %d: resource %s: type %s lacks a 'Namespace/type@yyyy-mm-dd' API version", d.line, d.name, d.header)
					}
					if d.value == "" {
						t.Errorf("line %d: resource %s has no body", d.line, d.name)
					}
					if strings.HasPrefix(d.quoted(), "Microsoft.DurableTask/") && !strings.HasSuffix(d.quoted(), "@"+durableTaskAPI) {
						t.Errorf("line %d: %s: use API version %s for Durable Task resources", d.line, d.quoted(), durableTaskAPI)
					}
					checkTags(t, f, d)
				case "module":
					checkModule(t, files, f, d)
				case "param", "var":
					// Unused declarations usually mean a value that was meant
					// to reach a resource does not.
					// Count mentions in code (string text and comments blanked),
					// leaving out the declaration and property keys.
					name := regexp.QuoteMeta(d.name)
					uses := len(regexp.MustCompile(`\b`+name+`\b`).FindAllStringIndex(f.mask, -1)) -
						len(regexp.MustCompile(`(?m)^[ \t]*`+name+`[ \t]*:`).FindAllStringIndex(f.mask, -1))
					if uses < 2 {
						t.Errorf("line %d: %s %s is never used", d.line, d.kind, d.name)
					}
				case "output":
					if d.value == "" {
						t.Errorf("line %d: output %s has no value", d.line, d.name)
					}
				}
			}
			for _, m := range outputRefRE.FindAllStringSubmatchIndex(f.mask, -1) {
				sym, out := f.mask[m[2]:m[3]], f.mask[m[4]:m[5]]
				mod := f.find("module", sym)
				if mod == nil {
					if f.find("resource", sym) == nil {
						t.Errorf("line %d: %s.outputs: %s is not a module of this file", lineOf(f.code, m[0]), sym, sym)
					}
					continue
				}
				target := moduleTarget(t, files, f, mod)
				if target.find("output", out) == nil {
					t.Errorf("line %d: %s.outputs.%s: %s declares no output %s", lineOf(f.code, m[0]), sym, out, target.path, out)
				}
			}
		})
	}
}

// checkTags requires tags on every resource that azd creates and can tag,
// so `azd down` and the portal see them as part of the environment.
func checkTags(t *testing.T, f *bicepFile, d *decl) {
	t.Helper()
	typ := d.quoted()
	if strings.HasSuffix(d.header, "existing") || strings.HasPrefix(typ, "Microsoft.Authorization/") ||
		strings.HasPrefix(typ, "Microsoft.Insights/diagnosticSettings") {
		return
	}
	if strings.Count(typ[:strings.Index(typ, "@")], "/") > 1 {
		return // a child resource: tags live on the parent
	}
	if get(d.body(), "tags") == "" {
		t.Errorf("line %d: resource %s (%s) has no tags", d.line, d.name, typ)
	}
}

// checkModule makes sure a module call passes exactly parameters the module
// declares, and every one it requires.
func checkModule(t *testing.T, files map[string]*bicepFile, f *bicepFile, m *decl) {
	t.Helper()
	p := m.quoted()
	if strings.HasPrefix(p, "br:") || strings.HasPrefix(p, "br/") || strings.HasPrefix(p, "ts:") {
		t.Errorf("line %d: module %s comes from a registry (%s); keep modules in infra/ so the tests can read them", m.line, m.name, p)
		return
	}
	if _, err := os.Stat(filepath.Join(repoRoot(t), filepath.Dir(f.path), p)); err != nil {
		t.Errorf("line %d: module %s: %v", m.line, m.name, err)
		return
	}
	target := moduleTarget(t, files, f, m)
	if get(m.body(), "name") == "" {
		t.Errorf("line %d: module %s has no deployment name", m.line, m.name)
	}
	given := moduleParams(t, f, m)
	for _, k := range sortedKeys(given) {
		if target.find("param", k) == nil {
			t.Errorf("line %d: module %s passes %s, which %s does not declare", m.line, m.name, k, target.path)
		}
	}
	for _, p := range target.all("param") {
		if _, ok := given[p.name]; !ok && p.value == "" {
			t.Errorf("line %d: module %s does not pass %s, which %s requires", m.line, m.name, p.name, target.path)
		}
	}
}

func TestMainTemplate(t *testing.T) {
	f := bicepFiles(t)[mainBicep]
	if ts := f.find("targetScope", ""); ts == nil || ts.value != "'subscription'" {
		t.Error("main.bicep must target the subscription (targetScope = 'subscription') so it creates its resource group")
	}
	var rg *decl
	for _, r := range f.all("resource") {
		if strings.HasPrefix(r.quoted(), "Microsoft.Resources/resourceGroups@") {
			rg = r
		}
	}
	if rg == nil {
		t.Fatal("main.bicep creates no resource group")
	}
	token := f.find("var", "resourceToken")
	if token == nil || strings.Join(strings.Fields(token.value), "") != "toLower(uniqueString(subscription().id,environmentName,location))" {
		t.Error("var resourceToken must be toLower(uniqueString(subscription().id, environmentName, location))")
	}
	tags := f.find("var", "tags")
	if tags == nil || get(tags.value, "azd-env-name") != "environmentName" {
		t.Error("var tags must hold 'azd-env-name': environmentName")
	}
	if get(rg.body(), "tags") != "tags" {
		t.Error("the resource group must carry the azd tags")
	}
	for _, m := range f.all("module") {
		if get(m.body(), "scope") != rg.name {
			t.Errorf("module %s is not deployed into the resource group %s", m.name, rg.name)
		}
		if tagsArg, ok := moduleParams(t, f, m)["tags"]; ok && tagsArg != "tags" {
			t.Errorf("module %s gets tags %s, not the environment's tags", m.name, tagsArg)
		}
	}
	for _, name := range []string{"environmentName", "location", "principalId"} {
		if f.find("param", name) == nil {
			t.Errorf("main.bicep lacks param %s", name)
		}
	}
	if p := f.find("param", "principalId"); p != nil && p.value != "''" {
		t.Error("param principalId must default to '' (azd leaves it empty for some sign-ins)")
	}
}

// ---------------------------------------------------------------------------
// main.parameters.json

func TestParametersFile(t *testing.T) {
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, "infra", "main.parameters.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Parameters map[string]struct {
			Value any `json:"value"`
		} `json:"parameters"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatalf("main.parameters.json: %v", err)
	}
	f := bicepFiles(t)[mainBicep]
	for _, name := range sortedKeys(file.Parameters) {
		if f.find("param", name) == nil {
			t.Errorf("main.parameters.json sets %s, which main.bicep does not declare", name)
		}
	}
	for _, p := range f.all("param") {
		if _, ok := file.Parameters[p.name]; !ok && p.value == "" {
			t.Errorf("main.bicep requires %s, but main.parameters.json gives it no value", p.name)
		}
	}
	for name, want := range map[string]string{
		"environmentName": "${AZURE_ENV_NAME}",
		"location":        "${AZURE_LOCATION}",
		"principalId":     "${AZURE_PRINCIPAL_ID}",
	} {
		if got, _ := file.Parameters[name].Value.(string); got != want {
			t.Errorf("parameter %s = %q, want %q", name, got, want)
		}
	}
	// azd sets SERVICE_<NAME>_RESOURCE_EXISTS for container app services.
	services := azureYAML(t).sub("services")
	exists := regexp.MustCompile(`\$\{SERVICE_([A-Z0-9_]+)_RESOURCE_EXISTS`)
	for _, m := range exists.FindAllStringSubmatch(string(data), -1) {
		found := false
		for name, svc := range services {
			if strings.ToUpper(strings.ReplaceAll(name, "-", "_")) == m[1] {
				found = true
				if svc.(yamlMap).str("host") != "containerapp" {
					t.Errorf("%s refers to service %s, which is not a containerapp", m[0], name)
				}
			}
		}
		if !found {
			t.Errorf("%s refers to no service of azure.yaml", m[0])
		}
	}
}

// ---------------------------------------------------------------------------
// Outputs

// Outputs azd needs (AZURE_CONTAINER_REGISTRY_ENDPOINT for container
// builds, AZURE_LOCATION and AZURE_TENANT_ID, AZURE_RESOURCE_GROUP) and the
// ones the deployment guide (docs/deploy.md) uses.
var requiredOutputs = []string{
	"AZURE_LOCATION",
	"AZURE_TENANT_ID",
	"AZURE_RESOURCE_GROUP",
	"AZURE_CONTAINER_REGISTRY_ENDPOINT",
	"API_BASE_URL",
	"FUNCTION_APP_NAME",
	"DURABLE_TASK_SCHEDULER_ENDPOINT",
	"TASKHUB_NAME",
	"DURABLE_TASK_SCHEDULER_DASHBOARD_URL",
}

// Values azd itself keeps in every environment.
var azdBuiltins = []string{"AZURE_ENV_NAME", "AZURE_SUBSCRIPTION_ID", "AZURE_LOCATION", "AZURE_PRINCIPAL_ID"}

func TestOutputs(t *testing.T) {
	files := bicepFiles(t)
	f := files[mainBicep]
	for _, name := range requiredOutputs {
		o := f.find("output", name)
		if o == nil {
			t.Errorf("main.bicep lacks output %s", name)
			continue
		}
		if o.header != "string" {
			t.Errorf("output %s is %s, want string", name, o.header)
		}
		for _, dec := range o.decorators {
			if strings.HasPrefix(dec, "@secure") {
				t.Errorf("output %s is secure; azd would not store it", name)
			}
		}
	}
	// The values behind the names.
	want := map[string]*regexp.Regexp{
		"AZURE_RESOURCE_GROUP":                 regexp.MustCompile(`^rg\.name$`),
		"AZURE_TENANT_ID":                      regexp.MustCompile(`^tenant\(\)\.tenantId$`),
		"AZURE_CONTAINER_REGISTRY_ENDPOINT":    regexp.MustCompile(`^registry\.outputs\.loginServer$`),
		"API_BASE_URL":                         regexp.MustCompile(`^api\.outputs\.url$`),
		"DURABLE_TASK_SCHEDULER_DASHBOARD_URL": regexp.MustCompile(`^scheduler\.outputs\.dashboardUrl$`),
	}
	for name, re := range want {
		if o := f.find("output", name); o != nil && !re.MatchString(o.value) {
			t.Errorf("output %s = %s, want %s", name, o.value, re)
		}
	}
	fn := files[functionBicep]
	if o := fn.find("output", "url"); o == nil || o.value != "siteUrl" || fn.find("var", "siteUrl").value != "'https://${site.properties.defaultHostName}'" {
		t.Error("function-app.bicep must output url = 'https://<defaultHostName>'")
	}
	sch := files[schedulerBicep]
	if o := sch.find("output", "dashboardUrl"); o == nil || o.value != "taskHub.properties.dashboardUrl" {
		t.Error("scheduler.bicep must output dashboardUrl = taskHub.properties.dashboardUrl")
	}
	if o := sch.find("output", "endpoint"); o == nil || o.value != "scheduler.properties.endpoint" {
		t.Error("scheduler.bicep must output endpoint = scheduler.properties.endpoint")
	}

	// Every `azd env get-value NAME` in the deployment guide must exist:
	// an output, a value azd keeps itself, or one the guide has you set.
	getValue := regexp.MustCompile(`azd env get-value ([A-Za-z_][A-Za-z0-9_]*)`)
	setByGuide := map[string]bool{}
	for _, m := range regexp.MustCompile(`azd env set ([A-Za-z_][A-Za-z0-9_]*)`).FindAllStringSubmatch(deployGuide(t), -1) {
		setByGuide[m[1]] = true
	}
	seen := 0
	for _, m := range getValue.FindAllStringSubmatch(deployGuide(t), -1) {
		seen++
		if f.find("output", m[1]) == nil && !slices.Contains(azdBuiltins, m[1]) && !setByGuide[m[1]] {
			t.Errorf("the deployment guide reads %s, which main.bicep does not output", m[1])
		}
	}
	if seen == 0 {
		t.Error("the deployment guide uses no `azd env get-value`; the check above saw nothing")
	}
}

// deployGuide returns the deployment guide, docs/deploy.md ("Deploy to
// Azure").
func deployGuide(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "azd up") {
		t.Fatal("docs/deploy.md does not explain `azd up`")
	}
	return string(data)
}

// ---------------------------------------------------------------------------
// azure.yaml and the azd-service-name tags

// hostResourceType is the resource type azd deploys each host to.
var hostResourceType = map[string]string{
	"function":     "Microsoft.Web/sites",
	"appservice":   "Microsoft.Web/sites",
	"containerapp": "Microsoft.App/containerApps",
}

func TestServiceTags(t *testing.T) {
	files := bicepFiles(t)
	main := files[mainBicep]
	services := azureYAML(t).sub("services")

	// service name -> resource types carrying its tag
	tagged := map[string][]string{}
	tagRE := regexp.MustCompile(`'azd-service-name'\s*:\s*([^}\s,]+)`)
	for _, rel := range sortedKeys(files) {
		f := files[rel]
		for _, i := range tagRE.FindAllStringSubmatchIndex(f.code, -1) {
			line := lineOf(f.code, i[0])
			value := f.code[i[2]:i[3]]
			// Which resource is this tag on?
			var res *decl
			for _, r := range f.all("resource") {
				if r.line <= line && strings.Contains(get(r.body(), "tags"), "azd-service-name") {
					res = r
				}
			}
			if res == nil {
				t.Errorf("%s:%d: azd-service-name is not in a resource's tags", rel, line)
				continue
			}
			var names []string
			if lit := unquote(value); lit != "" {
				names = []string{lit}
			} else if f.find("param", value) != nil {
				// A module parameter: the service names are what main.bicep
				// passes to it.
				calls := invocations(t, files, main, rel)
				if len(calls) == 0 {
					t.Errorf("%s:%d: azd-service-name comes from param %s, but main.bicep never calls %s", rel, line, value, rel)
				}
				for _, c := range calls {
					lit := unquote(moduleParams(t, main, c)[value])
					if lit == "" {
						t.Errorf("main.bicep: module %s must pass %s as a literal service name", c.name, value)
						continue
					}
					names = append(names, lit)
				}
			} else {
				t.Errorf("%s:%d: azd-service-name: %s is neither a literal nor a parameter", rel, line, value)
			}
			typ := res.quoted()
			typ = typ[:strings.Index(typ, "@")]
			for _, n := range names {
				tagged[n] = append(tagged[n], typ)
			}
		}
	}
	for _, name := range sortedKeys(services) {
		host := services[name].(yamlMap).str("host")
		types := tagged[name]
		switch {
		case len(types) == 0:
			t.Errorf("azure.yaml service %s: no resource carries 'azd-service-name': '%s'", name, name)
		case len(types) > 1:
			t.Errorf("azure.yaml service %s: %d resources carry its tag (%v); azd needs exactly one", name, len(types), types)
		case hostResourceType[host] != types[0]:
			t.Errorf("azure.yaml service %s (host %s) is tagged on a %s, want %s", name, host, types[0], hostResourceType[host])
		}
	}
	for _, name := range sortedKeys(tagged) {
		if _, ok := services[name]; !ok {
			t.Errorf("resources are tagged azd-service-name %q, which azure.yaml does not declare", name)
		}
	}
}

func TestAzureYAMLServices(t *testing.T) {
	root := repoRoot(t)
	y := azureYAML(t)
	services := y.sub("services")
	if got := sortedKeys(services); !slices.Equal(got, []string{"api", "worker"}) {
		t.Errorf("services = %v, want [api worker]", got)
	}

	api := services.sub("api")
	if api.str("host") != "function" {
		t.Errorf("api: host = %q, want function", api.str("host"))
	}
	// `language: go` means Microsoft's native Go worker: azd would build a
	// binary named "app" and ship it without the function folders.
	switch lang := api.str("language"); lang {
	case "go", "golang":
		t.Errorf("api: language %s packages a native Go worker named app, not this custom handler", lang)
	case "custom":
	default:
		t.Errorf("api: language = %q, want custom", lang)
	}
	if api.str("project") != "." {
		t.Errorf("api: project = %q, want . (host.json and the function folders live at the root)", api.str("project"))
	}
	dist := api.str("dist")
	if !strings.HasSuffix(dist, ".zip") {
		t.Errorf("api: dist = %q: name the zip, so azd deploys it as built (a folder would be re-zipped without the handler's executable bit on Windows)", dist)
	}
	hooks := api.sub("hooks", "prepackage")
	if hooks == nil {
		t.Fatal("api: no prepackage hook builds the zip")
	}
	for _, platform := range []string{"posix", "windows"} {
		run := hooks.str(platform, "run")
		fields := strings.Fields(run)
		if len(fields) < 3 || fields[0] != "go" || fields[1] != "run" || fields[2] != "./cmd/package" {
			t.Errorf("api: prepackage %s hook runs %q, want go run ./cmd/package", platform, run)
			continue
		}
		out := "dist"
		for i, f := range fields {
			if f == "-out" && i+1 < len(fields) {
				out = fields[i+1]
			}
		}
		if want := out + "/api.zip"; dist != want {
			t.Errorf("api: the %s hook writes %s, but dist is %s", platform, want, dist)
		}
		if hooks.str(platform, "shell") == "" {
			t.Errorf("api: prepackage %s hook names no shell", platform)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "package", "main.go")); err != nil {
		t.Errorf("the prepackage hook needs cmd/package: %v", err)
	}

	worker := services.sub("worker")
	if worker.str("host") != "containerapp" {
		t.Errorf("worker: host = %q, want containerapp", worker.str("host"))
	}
	if worker.str("language") != "docker" {
		t.Errorf("worker: language = %q, want docker (azd builds the image from the Dockerfile)", worker.str("language"))
	}
	docker := worker.sub("docker")
	if docker.str("remoteBuild") != "true" {
		t.Error("worker: docker.remoteBuild must be true, so deploying needs no local Docker")
	}
	if docker.str("context") != "." {
		t.Errorf("worker: docker.context = %q, want .", docker.str("context"))
	}
	if _, err := os.Stat(filepath.Join(root, worker.str("project"), docker.str("path"))); docker.str("path") == "" || err != nil {
		t.Errorf("worker: docker.path %q does not exist: %v", docker.str("path"), err)
	}
}

// ---------------------------------------------------------------------------
// Roles

type roleCall struct {
	module, principal, role, principalType, condition string
}

func TestTaskHubRoleAssignments(t *testing.T) {
	files := bicepFiles(t)
	main := files[mainBicep]

	var calls []roleCall
	for _, m := range invocations(t, files, main, taskHubRoleBicep) {
		p := moduleParams(t, main, m)
		calls = append(calls, roleCall{m.name, p["principalId"], unquote(p["roleDefinitionId"]), p["principalType"], m.condition()})
		if p["schedulerName"] != "scheduler.outputs.schedulerName" || p["taskHubName"] != "scheduler.outputs.taskHubName" {
			t.Errorf("module %s must scope its role to the task hub made by the scheduler module (got %s / %s)", m.name, p["schedulerName"], p["taskHubName"])
		}
	}
	want := []struct {
		principal string
		roles     []string
		why       string
	}{
		{"apiIdentity.outputs.principalId", []string{roleDurableTaskDataContributor},
			"the handler starts, queries and raises events: Durable Task Data Contributor"},
		{"workerIdentity.outputs.principalId", []string{roleDurableTaskWorker, roleDurableTaskDataReader},
			"the worker processes work items (Durable Task Worker) and its scale rules read the backlog with its identity (Durable Task Data Reader), nothing that can start, raise or purge"},
		{"principalId", []string{roleDurableTaskDataContributor},
			"the person running azd: Durable Task Data Contributor"},
	}
	total := 0
	for _, w := range want {
		total += len(w.roles)
		var got []roleCall
		var roles []string
		for _, c := range calls {
			if c.principal == w.principal {
				got = append(got, c)
				roles = append(roles, c.role)
			}
		}
		slices.Sort(roles)
		wantRoles := slices.Sorted(slices.Values(w.roles))
		if !slices.Equal(roles, wantRoles) {
			t.Errorf("%s has task hub roles %v; want exactly %v (%s)", w.principal, got, wantRoles, w.why)
			continue
		}
		for _, c := range got {
			if w.principal == "principalId" {
				if strings.ReplaceAll(c.condition, " ", "") != "(!empty(principalId))" {
					t.Errorf("module %s must be conditional on if (!empty(principalId)), got %q", c.module, c.condition)
				}
				if c.principalType != "principalType" {
					t.Errorf("module %s must pass principalType through (users and CI service principals both run azd)", c.module)
				}
			} else if c.principalType != "'ServicePrincipal'" {
				t.Errorf("module %s: a managed identity's principalType is ServicePrincipal", c.module)
			}
		}
	}
	if len(calls) != total {
		t.Errorf("main.bicep makes %d task hub role assignments, want %d: %v", len(calls), total, calls)
	}

	// The module: one assignment, scoped to the task hub, named
	// deterministically from scope, principal and role.
	role := files[taskHubRoleBicep]
	hub := role.find("resource", "taskHub")
	if hub == nil || hub.quoted() != "Microsoft.DurableTask/schedulers/taskHubs@"+durableTaskAPI || !strings.HasSuffix(hub.header, "existing") {
		t.Fatalf("%s must reference the existing task hub as resource taskHub", taskHubRoleBicep)
	}
	var assignments []*decl
	for _, r := range role.all("resource") {
		if strings.HasPrefix(r.quoted(), "Microsoft.Authorization/roleAssignments@") {
			assignments = append(assignments, r)
		}
	}
	if len(assignments) != 1 {
		t.Fatalf("%s has %d role assignments, want 1", taskHubRoleBicep, len(assignments))
	}
	a := assignments[0].body()
	wantValues(t, taskHubRoleBicep+":", a, map[string]string{
		"scope":                       "taskHub",
		"name":                        "guid(taskHub.id, principalId, roleDefinitionId)",
		"properties.roleDefinitionId": "subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionId)",
		"properties.principalId":      "principalId",
		"properties.principalType":    "principalType",
	})

	// The Durable Task role ids appear nowhere else: no identity gets them
	// on a wider scope.
	for _, rel := range sortedKeys(files) {
		if rel == mainBicep {
			continue
		}
		for _, id := range []string{roleDurableTaskDataContributor, roleDurableTaskWorker, roleDurableTaskDataReader} {
			if strings.Contains(files[rel].code, id) {
				t.Errorf("%s assigns Durable Task role %s; task hub roles belong in main.bicep through %s", rel, id, taskHubRoleBicep)
			}
		}
	}
}

// TestOtherRoleAssignments checks the remaining assignments: each in the
// module of the resource it is scoped to, for the identity that needs it.
func TestOtherRoleAssignments(t *testing.T) {
	files := bicepFiles(t)
	main := files[mainBicep]
	cases := []struct {
		file, role, scope, principalParam, module, principal string
	}{
		{"infra/modules/registry.bicep", roleAcrPull, "registry", "pullPrincipalId", "registry", "workerIdentity.outputs.principalId"},
		{"infra/modules/storage.bicep", roleStorageBlobDataOwner, "storage", "functionPrincipalId", "storage", "apiIdentity.outputs.principalId"},
		// The Functions host writes its diagnostic events to a table; with
		// shared keys off only the identity can.
		{"infra/modules/storage.bicep", roleStorageTableDataContributor, "storage", "functionPrincipalId", "storage", "apiIdentity.outputs.principalId"},
		// The worker writes audit blobs to their container, and nowhere else.
		{"infra/modules/storage.bicep", roleStorageBlobDataContributor, "auditContainer", "workerPrincipalId", "storage", "workerIdentity.outputs.principalId"},
		{functionBicep, roleMonitoringMetricsPublisher, "applicationInsights", "identityPrincipalId", "api", "apiIdentity.outputs.principalId"},
	}
	for _, c := range cases {
		f := files[c.file]
		if f == nil {
			t.Errorf("%s is missing", c.file)
			continue
		}
		found := false
		for _, r := range f.all("resource") {
			if !strings.HasPrefix(r.quoted(), "Microsoft.Authorization/roleAssignments@") {
				continue
			}
			body := r.body()
			roleExpr := dig(body, "properties", "roleDefinitionId")
			// The role id may sit in a var of the module.
			roleID := ""
			if m := regexp.MustCompile(`roleDefinitions',\s*([A-Za-z_]+|'[^']+')\)`).FindStringSubmatch(roleExpr); m != nil {
				roleID = unquote(m[1])
				if v := f.find("var", m[1]); v != nil {
					roleID = unquote(v.value)
				}
			}
			if roleID != c.role {
				continue
			}
			found = true
			if get(body, "scope") != c.scope {
				t.Errorf("%s: role %s is scoped to %s, want %s", c.file, c.role, get(body, "scope"), c.scope)
			}
			if dig(body, "properties", "principalId") != c.principalParam {
				t.Errorf("%s: role %s goes to %s, want %s", c.file, c.role, dig(body, "properties", "principalId"), c.principalParam)
			}
			if n := get(body, "name"); !strings.HasPrefix(n, "guid("+c.scope+".id, "+c.principalParam+", ") {
				t.Errorf("%s: role assignment name %s is not guid(scope, principal, role)", c.file, n)
			}
		}
		if !found {
			t.Errorf("%s assigns no role %s", c.file, c.role)
			continue
		}
		m := main.find("module", c.module)
		if m == nil {
			t.Errorf("main.bicep has no module %s", c.module)
			continue
		}
		if got := moduleParams(t, main, m)[c.principalParam]; got != c.principal {
			t.Errorf("main.bicep: module %s gives %s = %s, want %s", c.module, c.principalParam, got, c.principal)
		}
	}
	// Each app runs as its own identity.
	for module, identity := range map[string]string{"api": "apiIdentity", "worker": "workerIdentity"} {
		m := main.find("module", module)
		if m == nil {
			t.Errorf("main.bicep has no module %s", module)
			continue
		}
		p := moduleParams(t, main, m)
		if p["identityId"] != identity+".outputs.id" || p["identityClientId"] != identity+".outputs.clientId" {
			t.Errorf("module %s must run as %s (identityId %s, identityClientId %s)", module, identity, p["identityId"], p["identityClientId"])
		}
	}
}

// ---------------------------------------------------------------------------
// App settings against the configuration the binaries read

// envNames collects the environment variable names that caarlos0/env reads
// into T: every `env` tag, descending into nested structs (with their
// envPrefix).
func envNames(typ reflect.Type, prefix string, into map[string]bool) {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		if !f.IsExported() {
			continue
		}
		if tag, ok := f.Tag.Lookup("env"); ok {
			if name := strings.Split(tag, ",")[0]; name != "" {
				into[prefix+name] = true
				continue
			}
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			envNames(ft, prefix+f.Tag.Get("envPrefix"), into)
		}
	}
}

func configNames[T any]() map[string]bool {
	names := map[string]bool{}
	envNames(reflect.TypeFor[T](), "", names)
	return names
}

type settingsRule struct {
	app        string
	configured map[string]bool // names the binary reads
	platform   []string        // prefixes the platform reads
	required   []string
	forbidden  map[string]string // name -> why
}

func (r settingsRule) check(t *testing.T, names []string) {
	t.Helper()
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Errorf("%s: setting %s is set twice", r.app, n)
		}
		seen[n] = true
		if why, bad := r.forbidden[n]; bad {
			t.Errorf("%s: setting %s must not be set: %s", r.app, n, why)
			continue
		}
		if r.configured[n] {
			continue
		}
		platform := false
		for _, p := range r.platform {
			if strings.HasPrefix(n, p) {
				platform = true
			}
		}
		if !platform {
			t.Errorf("%s: setting %s is read by nothing: it is not a configuration name of the binary (%v) nor a platform setting (%v)",
				r.app, n, sortedKeys(r.configured), r.platform)
		}
	}
	for _, n := range r.required {
		if !seen[n] {
			t.Errorf("%s: setting %s is missing", r.app, n)
		}
	}
}

func TestAppSettingsMatchConfiguration(t *testing.T) {
	files := bicepFiles(t)
	handlerNames := configNames[config.Handler]()
	workerNames := configNames[config.Worker]()

	// The names the apps cannot work without must still be names the
	// binaries read; if the Go side renames one, this says so.
	for _, n := range []string{"DURABLE_TASK_SCHEDULER_CONNECTION_STRING", "TASKHUB_NAME", "APPROVALS_PUBLIC_BASE_URL"} {
		if !handlerNames[n] {
			t.Errorf("config.Handler no longer reads %s, which function-app.bicep sets", n)
		}
	}
	for _, n := range []string{"DURABLE_TASK_SCHEDULER_CONNECTION_STRING", "APPROVALS_API_BASE_URL"} {
		if !workerNames[n] {
			t.Errorf("config.Worker no longer reads %s, which worker-app.bicep sets", n)
		}
	}

	// Function App settings: the config/appsettings resource's properties.
	fn := files[functionBicep]
	var settingsObj string
	for _, r := range fn.all("resource") {
		if strings.HasPrefix(r.quoted(), "Microsoft.Web/sites/config@") && unquote(get(r.body(), "name")) == "appsettings" {
			settingsObj = get(r.body(), "properties")
			if v := fn.find("var", settingsObj); v != nil {
				settingsObj = v.value
			}
		}
	}
	fnProps, err := props(settingsObj)
	if err != nil {
		t.Fatalf("%s: app settings must be one object literal: %v", functionBicep, err)
	}
	fnSettings := map[string]string{}
	var fnNames []string
	for _, p := range fnProps {
		fnNames = append(fnNames, p.key)
		fnSettings[p.key] = p.value
	}
	settingsRule{
		app:        "Function App",
		configured: handlerNames,
		platform:   []string{"AzureWebJobsStorage__", "APPLICATIONINSIGHTS_", "FUNCTIONS_", "WEBSITE_"},
		required: []string{
			"DURABLE_TASK_SCHEDULER_CONNECTION_STRING", "TASKHUB_NAME", "APPROVALS_PUBLIC_BASE_URL",
			"APPROVALS_IDENTITY", "APPROVALS_LINK_KEY", "APPROVALS_LINK_KEY_PREVIOUS",
			"AzureWebJobsStorage__accountName", "AzureWebJobsStorage__credential", "AzureWebJobsStorage__clientId",
			"APPLICATIONINSIGHTS_CONNECTION_STRING", "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
		},
		forbidden: map[string]string{
			"FUNCTIONS_WORKER_RUNTIME":                 "Flex Consumption takes the runtime from functionAppConfig.runtime and rejects this setting",
			"FUNCTIONS_EXTENSION_VERSION":              "Flex Consumption rejects it",
			"WEBSITE_RUN_FROM_PACKAGE":                 "Flex Consumption deploys from its blob container",
			"WEBSITE_CONTENTSHARE":                     "Flex Consumption has no content share",
			"WEBSITE_CONTENTAZUREFILECONNECTIONSTRING": "it needs a storage key",
			"AzureWebJobsStorage":                      "a connection string carries the account key; use the __accountName/__credential/__clientId form",
			"FUNCTIONS_CUSTOMHANDLER_PORT":             "the Functions host sets it when it starts the handler",
		},
	}.check(t, fnNames)

	if v := fnSettings["AzureWebJobsStorage__credential"]; v != "'managedidentity'" {
		t.Errorf("AzureWebJobsStorage__credential = %s, want 'managedidentity'", v)
	}
	if v := fnSettings["AzureWebJobsStorage__clientId"]; v != "identityClientId" {
		t.Errorf("AzureWebJobsStorage__clientId = %s, want the app identity's client id", v)
	}
	if v := fnSettings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]; v != "'ClientId=${identityClientId};Authorization=AAD'" {
		t.Errorf("APPLICATIONINSIGHTS_AUTHENTICATION_STRING = %s, want 'ClientId=${identityClientId};Authorization=AAD'", v)
	}
	checkConnectionString(t, "Function App", fnSettings["DURABLE_TASK_SCHEDULER_CONNECTION_STRING"])

	// Container App environment variables.
	wk := files[workerBicep]
	var app *decl
	for _, r := range wk.all("resource") {
		if strings.HasPrefix(r.quoted(), "Microsoft.App/containerApps@") && !strings.HasSuffix(r.header, "existing") {
			app = r
		}
	}
	if app == nil {
		t.Fatalf("%s declares no container app", workerBicep)
	}
	wkSettings := map[string]string{}
	var wkNames []string
	secrets := containerAppSecrets(t, app)
	// The secrets the worker reads, the link key and the notification
	// secrets that are set, are Key Vault references read with the worker's
	// own identity: no secret value is ever in the template or the app's
	// configuration.
	secretNames := map[string]bool{"APPROVALS_LINK_KEY": true, "APPROVALS_AUDIT_KEY": true}
	for _, s := range notifySettings {
		if s.secret {
			secretNames[s.env] = true
		}
	}
	always := map[string]bool{}
	for _, entry := range workerEnvEntries(t, app) {
		e := entry.text
		name := unquote(get(e, "name"))
		if name == "" {
			t.Errorf("%s: env entry without a literal name: %s", workerBicep, e)
			continue
		}
		if entry.cond == "" {
			always[name] = true
		}
		ref := unquote(get(e, "secretRef"))
		if ref == "" && get(e, "secretRef") != "" {
			t.Errorf("%s: env %s: secretRef must name a secret literally", workerBicep, name)
		} else if ref == "" {
			if secretNames[name] {
				t.Errorf("%s: env %s is a secret given as a value; read it from Key Vault with a secretRef", workerBicep, name)
			}
		} else {
			secret, ok := secrets[ref]
			switch {
			case !secretNames[name]:
				t.Errorf("%s: env %s uses a secret; only the link key, the audit key and the notification secrets are secret", workerBicep, name)
			case !ok:
				t.Errorf("%s: env %s refers to secret %s, which configuration.secrets lacks", workerBicep, name, ref)
			case get(secret.text, "value") != "" || get(secret.text, "keyVaultUrl") == "" || get(secret.text, "identity") != "identityId":
				t.Errorf("%s: secret %s must be a Key Vault reference (keyVaultUrl, identity: identityId) with no value: %s", workerBicep, ref, secret.text)
			case secret.cond != "" && (secret.cond != entry.cond || secret.when != entry.when):
				t.Errorf("%s: env %s is %s, but its secret %s is %s", workerBicep, name, entry, ref, secret)
			}
		}
		wkNames = append(wkNames, name)
		wkSettings[name] = get(e, "value")
	}
	for name, secret := range secrets {
		if get(secret.text, "value") != "" {
			t.Errorf("%s: secret %s holds a value; secrets come from Key Vault", workerBicep, name)
		}
	}
	required := []string{"DURABLE_TASK_SCHEDULER_CONNECTION_STRING", "APPROVALS_API_BASE_URL", "APPROVALS_LINK_KEY"}
	for _, n := range required {
		if !always[n] {
			t.Errorf("%s: env %s must always be set", workerBicep, n)
		}
	}
	settingsRule{
		app:        "worker Container App",
		configured: workerNames,
		platform:   []string{"APPLICATIONINSIGHTS_"},
		required:   required,
	}.check(t, wkNames)
	checkConnectionString(t, "worker Container App", wkSettings["DURABLE_TASK_SCHEDULER_CONNECTION_STRING"])

	// The worker's links point at the API's public URL.
	if got := moduleParams(t, files[mainBicep], files[mainBicep].find("module", "worker"))["apiBaseUrl"]; got != "api.outputs.publicUrl" {
		t.Errorf("main.bicep: the worker's apiBaseUrl = %s, want api.outputs.publicUrl", got)
	}
	if v := wkSettings["APPROVALS_API_BASE_URL"]; v != "apiBaseUrl" {
		t.Errorf("worker: APPROVALS_API_BASE_URL = %s, want apiBaseUrl", v)
	}
}

// checkConnectionString wants the scheduler's endpoint, the task hub and the
// app's own user-assigned identity, with no secret.
func checkConnectionString(t *testing.T, app, value string) {
	t.Helper()
	want := "'Endpoint=${schedulerEndpoint};TaskHub=${taskHubName};Authentication=ManagedIdentity;ClientID=${identityClientId}'"
	if value != want {
		t.Errorf("%s: DURABLE_TASK_SCHEDULER_CONNECTION_STRING = %s, want %s", app, value, want)
	}
}

// ---------------------------------------------------------------------------
// Resource shapes

func TestResourceShapes(t *testing.T) {
	files := bicepFiles(t)
	res := func(file, typePrefix string) string {
		t.Helper()
		f := files[file]
		if f == nil {
			t.Fatalf("%s is missing", file)
		}
		for _, r := range f.all("resource") {
			if strings.HasPrefix(r.quoted(), typePrefix+"@") && !strings.HasSuffix(r.header, "existing") {
				return r.body()
			}
		}
		t.Fatalf("%s declares no %s", file, typePrefix)
		return ""
	}
	expect := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %q, want %q", what, got, want)
		}
	}

	// Flex Consumption with the custom handler runtime.
	plan := res(functionBicep, "Microsoft.Web/serverfarms")
	expect("plan sku.name", unquote(dig(plan, "sku", "name")), "FC1")
	expect("plan sku.tier", unquote(dig(plan, "sku", "tier")), "FlexConsumption")
	expect("plan properties.reserved (Linux)", dig(plan, "properties", "reserved"), "true")
	site := res(functionBicep, "Microsoft.Web/sites")
	expect("site kind", unquote(get(site, "kind")), "functionapp,linux")
	expect("site identity.type", unquote(dig(site, "identity", "type")), "UserAssigned")
	expect("site httpsOnly", dig(site, "properties", "httpsOnly"), "true")
	cfg := dig(site, "properties", "functionAppConfig")
	expect("runtime.name", unquote(dig(cfg, "runtime", "name")), "custom")
	expect("runtime.version", unquote(dig(cfg, "runtime", "version")), "1.0")
	expect("deployment storage type", unquote(dig(cfg, "deployment", "storage", "type")), "blobContainer")
	expect("deployment storage authentication", unquote(dig(cfg, "deployment", "storage", "authentication", "type")), "UserAssignedIdentity")
	expect("deployment storage identity", dig(cfg, "deployment", "storage", "authentication", "userAssignedIdentityResourceId"), "identityId")

	st := res("infra/modules/storage.bicep", "Microsoft.Storage/storageAccounts")
	expect("storage allowSharedKeyAccess", dig(st, "properties", "allowSharedKeyAccess"), "false")
	expect("storage allowBlobPublicAccess", dig(st, "properties", "allowBlobPublicAccess"), "false")

	appi := res("infra/modules/monitoring.bicep", "Microsoft.Insights/components")
	expect("Application Insights DisableLocalAuth", dig(appi, "properties", "DisableLocalAuth"), "true")

	acr := res("infra/modules/registry.bicep", "Microsoft.ContainerRegistry/registries")
	expect("registry adminUserEnabled", dig(acr, "properties", "adminUserEnabled"), "false")

	// The scheduler: SKU choice, capacity for Dedicated, non-empty allow-list.
	sch := files[schedulerBicep]
	s := res(schedulerBicep, "Microsoft.DurableTask/schedulers")
	expect("scheduler ipAllowlist", dig(s, "properties", "ipAllowlist"), "ipAllowlist")
	for _, f := range []*bicepFile{sch, files[mainBicep]} {
		name := "ipAllowlist"
		if f.path == mainBicep {
			name = "schedulerIpAllowlist"
		}
		p := f.find("param", name)
		if p == nil || !slices.Contains(p.decorators, "@minLength(1)") {
			t.Errorf("%s: param %s needs @minLength(1): an empty allow-list denies everyone", f.path, name)
		}
	}
	if p := files[mainBicep].find("param", "schedulerIpAllowlist"); p != nil && !strings.Contains(p.value, "'0.0.0.0/0'") {
		t.Errorf("main.bicep: schedulerIpAllowlist defaults to %s; the samples' default is ['0.0.0.0/0']", p.value)
	}
	if p := files[mainBicep].find("param", "schedulerSkuName"); p == nil || p.value != "'Consumption'" ||
		!strings.Contains(strings.Join(p.decorators, " "), "'Dedicated'") {
		t.Error("main.bicep: schedulerSkuName must default to 'Consumption' and allow 'Dedicated'")
	}
	if v := sch.find("var", "dedicatedSku"); v == nil || get(v.value, "capacity") != "capacity" {
		t.Error("scheduler.bicep: the Dedicated SKU must carry the capacity")
	}
	hub := res(schedulerBicep, "Microsoft.DurableTask/schedulers/taskHubs")
	expect("task hub parent", get(hub, "parent"), "scheduler")

	// The worker: at least one replica (TestWorkerScaleRules covers the
	// rest of its scaling), no ingress, graceful stop, pulls with its
	// identity.
	w := res(workerBicep, "Microsoft.App/containerApps")
	expect("worker identity.type", unquote(dig(w, "identity", "type")), "UserAssigned")
	if dig(w, "properties", "configuration", "ingress") != "" {
		t.Error("the worker serves no HTTP: its container app needs no ingress")
	}
	expect("worker scale.minReplicas", dig(w, "properties", "template", "scale", "minReplicas"), "1")
	if dig(w, "properties", "template", "terminationGracePeriodSeconds") == "" {
		t.Error("the worker needs terminationGracePeriodSeconds for a graceful stop")
	}
	regs, err := items(dig(w, "properties", "configuration", "registries"))
	if err != nil || len(regs) != 1 || get(regs[0], "identity") != "identityId" || get(regs[0], "server") != "registryLoginServer" {
		t.Errorf("the worker must pull from the registry with its identity, got %v (%v)", regs, err)
	}
	env := res("infra/modules/container-apps-environment.bicep", "Microsoft.App/managedEnvironments")
	expect("environment logs destination", unquote(dig(env, "properties", "appLogsConfiguration", "destination")), "azure-monitor")
}
