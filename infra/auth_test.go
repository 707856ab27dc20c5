package infra_test

// Who gets in where: each function folder's trigger and authorization level,
// and App Service Authentication (sign-in with Microsoft Entra ID) in front
// of them when an app registration is given. Machines (Logic Apps, scripts,
// the console client) call the /api/approvals routes with a function key,
// and, to decide or withdraw with sign-in on, an access token for the app;
// people open /api/review pages, signed in when sign-in is on.

import (
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/config"
)

// function is one function folder's HTTP trigger.
type function struct {
	folder    string
	authLevel string
	methods   []string
	route     string // as in function.json, without the host's "api" prefix
}

// routePrefix is host.json's extensions.http.routePrefix.
func routePrefix(t *testing.T) string {
	t.Helper()
	var host struct {
		Extensions struct {
			HTTP struct {
				RoutePrefix *string `json:"routePrefix"`
			} `json:"http"`
		} `json:"extensions"`
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(repoRoot(t), "host.json"))), &host); err != nil {
		t.Fatalf("host.json: %v", err)
	}
	if p := host.Extensions.HTTP.RoutePrefix; p != nil {
		return *p
	}
	return "api" // the Functions host's default
}

// functions reads every function folder's function.json and wants exactly
// what the custom handler's request forwarding works with: one httpTrigger
// in and one http out, named res.
func functions(t *testing.T) []function {
	t.Helper()
	root := repoRoot(t)
	var out []function
	for _, folder := range functionFolders(t, root) {
		var fj struct {
			Bindings []struct {
				Type      string   `json:"type"`
				Direction string   `json:"direction"`
				Name      string   `json:"name"`
				AuthLevel string   `json:"authLevel"`
				Methods   []string `json:"methods"`
				Route     string   `json:"route"`
			} `json:"bindings"`
		}
		dec := json.NewDecoder(strings.NewReader(readFile(t, filepath.Join(root, folder, "function.json"))))
		if err := dec.Decode(&fj); err != nil {
			t.Errorf("%s/function.json: %v", folder, err)
			continue
		}
		var in, outs []int
		for i, b := range fj.Bindings {
			switch {
			case b.Type == "httpTrigger" && b.Direction == "in":
				in = append(in, i)
			case b.Type == "http" && b.Direction == "out":
				outs = append(outs, i)
			}
		}
		if len(fj.Bindings) != 2 || len(in) != 1 || len(outs) != 1 {
			t.Errorf("%s/function.json: %d bindings; want exactly one httpTrigger in and one http out, "+
				"the only shape the host forwards to a custom handler (enableForwardingHttpRequest)", folder, len(fj.Bindings))
			continue
		}
		if name := fj.Bindings[outs[0]].Name; name != "res" {
			t.Errorf("%s/function.json: the http output is named %q, want res", folder, name)
		}
		trig := fj.Bindings[in[0]]
		if trig.Route == "" {
			t.Errorf("%s/function.json: the trigger has no route; the host would route it by folder name", folder)
			continue
		}
		methods := make([]string, len(trig.Methods))
		for i, m := range trig.Methods {
			methods[i] = strings.ToUpper(m)
		}
		out = append(out, function{folder: folder, authLevel: trig.AuthLevel, methods: methods, route: trig.Route})
	}
	return out
}

// samplePaths returns request paths that a route template matches: each
// {parameter} filled in, a catch-all {*rest} with two segments, an optional
// {parameter?} both present and absent.
func samplePaths(prefix, route string) []string {
	paths := []string{""}
	for _, seg := range strings.Split(route, "/") {
		var next []string
		for _, p := range paths {
			switch {
			case strings.HasPrefix(seg, "{*"):
				next = append(next, p+"/a/b")
			case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "?}"):
				next = append(next, p, p+"/x")
			case strings.HasPrefix(seg, "{"):
				next = append(next, p+"/x")
			default:
				next = append(next, p+"/"+seg)
			}
		}
		paths = next
	}
	for i, p := range paths {
		paths[i] = "/" + strings.Trim(path.Join(prefix, p), "/")
	}
	return paths
}

// excluded reports whether App Service Authentication leaves p alone for
// one globalValidation.excludedPaths entry. The matching is Learn's: an
// entry is a path, compared with the request's path (never its query
// string), or a path ending in "/*" for everything below it; no other
// wildcard is documented.
func excluded(entry, p string) bool {
	if prefix, ok := strings.CutSuffix(entry, "/*"); ok {
		return strings.HasPrefix(p, prefix+"/")
	}
	return p == entry
}

func TestExcludedPathMatching(t *testing.T) {
	for _, c := range []struct {
		entry, path string
		want        bool
	}{
		{"/api/approvals", "/api/approvals", true},
		{"/api/approvals", "/api/approvals/x", false},
		{"/api/approvals", "/api/approvalsx", false},
		{"/api/approvals/*", "/api/approvals/x/decision", true},
		{"/api/approvals/*", "/api/approvals", false},
		{"/api/approvals/*", "/api/review/x", false},
	} {
		if got := excluded(c.entry, c.path); got != c.want {
			t.Errorf("excluded(%q, %q) = %v, want %v", c.entry, c.path, got, c.want)
		}
	}
	if got := samplePaths("api", "approvals/{id}/decision"); !slices.Equal(got, []string{"/api/approvals/x/decision"}) {
		t.Errorf("samplePaths = %v", got)
	}
	if got := samplePaths("api", "review/{id?}"); !slices.Equal(got, []string{"/api/review", "/api/review/x"}) {
		t.Errorf("samplePaths = %v", got)
	}
}

// The two kinds of caller, told apart by the route's first segment:
// machines hold a function key (the approvals, the export of their audit
// trails, and delegations given, listed and revoked through the API);
// people have a browser, which opens the review pages, the away page and
// their static files.
const machineRoot = "approvals"

var machineRoots = []string{machineRoot, "audit", "delegations"}

var peopleRoots = []string{"review", "assets", "away"}

// TestFunctionAuthLevels: every route is either a machine route, which
// takes a function key, or a people route, anonymous to the Functions host
// (the sign-in in front of it, or a signed link, says who the person is).
// A route of neither kind must be placed in one before it ships.
func TestFunctionAuthLevels(t *testing.T) {
	fns := functions(t)
	prefix := routePrefix(t)
	// The paths the domain builds links with live under these roots.
	if want := "/" + prefix + "/" + machineRoot; approval.ApprovalsPath != want {
		t.Errorf("approval.ApprovalsPath = %q, want %q", approval.ApprovalsPath, want)
	}
	if want := "/" + prefix + "/" + peopleRoots[0]; approval.ReviewPath != want {
		t.Errorf("approval.ReviewPath = %q, want %q", approval.ReviewPath, want)
	}
	// The page an approval link opens is shown by a GET and decided by a
	// POST on the same route, whichever folders serve them.
	reviewMethods := map[string]bool{}
	for _, f := range fns {
		root, _, _ := strings.Cut(f.route, "/")
		switch {
		case slices.Contains(machineRoots, root):
			if f.authLevel != "function" {
				t.Errorf("%s (route %s) is a machine route: authLevel %q, want function", f.folder, f.route, f.authLevel)
			}
		case slices.Contains(peopleRoots, root):
			if f.authLevel != "anonymous" {
				t.Errorf("%s (route %s) is a people route, opened from a link without a function key: authLevel %q, want anonymous", f.folder, f.route, f.authLevel)
			}
			if slices.Contains(samplePaths(prefix, f.route), approval.ReviewPath+"/x") {
				for _, m := range f.methods {
					reviewMethods[m] = true
				}
			}
		default:
			t.Errorf("%s: route %s is neither under one of %v (machines, function key) nor under one of %v (people); "+
				"place it, and this test and TestExcludedPathsTakeNoPerson's lists follow", f.folder, f.route, machineRoots, peopleRoots)
		}
	}
	if !reviewMethods["GET"] || !reviewMethods["POST"] {
		t.Errorf("functions serve %v on %s/{id}; the page an approval link opens needs GET and POST", sortedKeys(reviewMethods), approval.ReviewPath)
	}
}

// authResource returns function-app.bicep's authsettingsV2 resource.
func authResource(t *testing.T, fn *bicepFile) *decl {
	t.Helper()
	var found []*decl
	for _, r := range fn.all("resource") {
		if strings.HasPrefix(r.quoted(), "Microsoft.Web/sites/config@") && strings.HasPrefix(unquote(get(r.body(), "name")), "authsettings") {
			found = append(found, r)
		}
	}
	if len(found) != 1 || unquote(get(found[0].body(), "name")) != "authsettingsV2" {
		t.Fatalf("%s: want one sites/config authsettingsV2 resource (App Service Authentication v2), got %d", functionBicep, len(found))
	}
	return found[0]
}

// TestSignIn: with an app registration (AUTH_CLIENT_ID), App Service
// Authentication signs people in with Microsoft Entra ID and validates
// machine callers' access tokens, in front of every route, letting
// anonymous requests through so that the machine routes keep taking
// function keys; the handler takes the decider from the authenticated
// principal and sends people to sign in before a page. Without one, there
// is no authentication resource and the handler takes the identity from
// the request.
func TestSignIn(t *testing.T) {
	files := bicepFiles(t)
	fn := files[functionBicep]
	main := files[mainBicep]

	// The switch: AUTH_CLIENT_ID, empty by default.
	if p := main.find("param", "authClientId"); p == nil || p.value != "''" {
		t.Fatal("main.bicep: param authClientId must default to '' (sign-in off)")
	}
	if p := main.find("param", "authTenantId"); p == nil || p.value != "''" {
		t.Error("main.bicep: param authTenantId must default to '' (the deploying tenant)")
	}
	api := moduleParams(t, main, main.find("module", "api"))
	if api["authClientId"] != "authClientId" {
		t.Errorf("main.bicep: module api gets authClientId = %q, want authClientId", api["authClientId"])
	}
	if got := strings.Join(strings.Fields(api["authTenantId"]), " "); got != "empty(authTenantId) ? tenant().tenantId : authTenantId" {
		t.Errorf("main.bicep: module api gets authTenantId = %q, want the given tenant or else the deploying one", got)
	}
	params := parametersFile(t)
	for name, want := range map[string]string{"authClientId": "${AUTH_CLIENT_ID}", "authTenantId": "${AUTH_TENANT_ID}"} {
		if got := params[name]; got != want {
			t.Errorf("main.parameters.json: %s = %q, want %q", name, got, want)
		}
	}
	if v := fn.find("var", "authEnabled"); v == nil || v.value != "!empty(authClientId)" {
		t.Fatalf("%s: var authEnabled must be !empty(authClientId)", functionBicep)
	}

	// The resource exists only with an app registration.
	auth := authResource(t, fn)
	if auth.condition() != "(authEnabled)" {
		t.Errorf("%s: the authsettingsV2 resource is conditional on %q, want (authEnabled)", functionBicep, auth.condition())
	}
	if get(auth.body(), "parent") != "site" {
		t.Errorf("%s: authsettingsV2 belongs to %q, want the site", functionBicep, get(auth.body(), "parent"))
	}
	body := get(auth.body(), "properties")
	wantValues(t, functionBicep+": authsettingsV2", body, map[string]string{
		"platform.enabled": "true",
		// Anonymous requests reach the Functions host, where a function
		// key alone starts, reads and lists; the handler refuses the rest
		// without a principal (TestExcludedPathsTakeNoPerson).
		"globalValidation.requireAuthentication":                       "false",
		"globalValidation.unauthenticatedClientAction":                 "'AllowAnonymous'",
		"httpSettings.requireHttps":                                    "true",
		"identityProviders.azureActiveDirectory.enabled":               "true",
		"identityProviders.azureActiveDirectory.registration.clientId": "authClientId",
		// The tenant's v2.0 issuer, on the cloud's own login host.
		"identityProviders.azureActiveDirectory.registration.openIdIssuer": "'${environment().authentication.loginEndpoint}${authTenantId}/v2.0'",
		// Nothing reads stored tokens, and Flex Consumption has no file
		// system to keep them in.
		"login.tokenStore.enabled": "false",
	})
	// Sign-in only: no client secret to keep, rotate or leak. Without one,
	// Easy Auth signs in with the ID token alone.
	reg := dig(body, "identityProviders", "azureActiveDirectory", "registration")
	for _, k := range []string{"clientSecretSettingName", "clientSecretCertificateThumbprint", "clientSecretCertificateSubjectAlternativeName"} {
		if get(reg, k) != "" {
			t.Errorf("%s: the Entra registration sets %s; sign-in needs no client credential", functionBicep, k)
		}
	}
	if ps, err := props(dig(body, "identityProviders")); err != nil || len(ps) != 1 {
		t.Errorf("%s: want Microsoft Entra ID as the only identity provider, got %v (%v)", functionBicep, ps, err)
	}
	// Machine callers' access tokens: asked for the Application ID URI
	// (a v1.0 token's aud) or carrying the client id (a v2.0 token's).
	audiences, err := items(dig(body, "identityProviders", "azureActiveDirectory", "validation", "allowedAudiences"))
	if err != nil || !slices.Equal(audiences, []string{"'api://${authClientId}'", "authClientId"}) {
		t.Errorf("%s: validation.allowedAudiences = %q (%v), want ['api://${authClientId}', authClientId]", functionBicep, audiences, err)
	}

	// The handler's identity mode follows, and is written only once the
	// authentication that sets the principal headers is in place.
	settings := functionAppSettings(t, fn)
	want := "authEnabled ? '" + config.IdentityAppService + "' : '" + config.IdentityBody + "'"
	if got := settings["APPROVALS_IDENTITY"]; got != want {
		t.Errorf("%s: APPROVALS_IDENTITY = %s, want %s", functionBicep, got, want)
	}
	var appSettings *decl
	for _, r := range fn.all("resource") {
		if strings.HasPrefix(r.quoted(), "Microsoft.Web/sites/config@") && unquote(get(r.body(), "name")) == "appsettings" {
			appSettings = r
		}
	}
	if appSettings == nil || !regexp.MustCompile(`^\[\s*auth\s*\]$`).MatchString(get(appSettings.body(), "dependsOn")) {
		t.Errorf("%s: the appsettings resource must dependsOn [auth], so appservice is never trusted before the sign-in is there", functionBicep)
	}

	// The redirect URI to register, as an output.
	if o := main.find("output", "AUTH_REDIRECT_URI"); o == nil || o.value != "'${api.outputs.url}/.auth/login/aad/callback'" {
		t.Error("main.bicep must output AUTH_REDIRECT_URI = '${api.outputs.url}/.auth/login/aad/callback', the URI the app registration needs")
	}
}

// Which function folders serve a route whose answer depends on who is
// asking, read from the X-MS-CLIENT-PRINCIPAL headers with sign-in on: a
// decider (SubmitDecision, SubmitBulkDecisions, ReviewDecision, RequestChanges), a withdrawer
// or resubmitter (WithdrawApproval, ResubmitApproval), the person whose page or inbox it is (ReviewApproval,
// ReviewInbox), or "me" in a list (ListApprovals' approver=me). The others
// read no principal: a function key alone may start, read and export audit trails, and the
// pages' assets are the same for everyone. Every folder must be in one
// list, so a new route is placed before it ships.
var (
	principalFunctions = []string{"SubmitDecision", "SubmitBulkDecisions", "WithdrawApproval", "RequestChanges", "ResubmitApproval",
		"ReviewDecision", "ReviewApproval", "ReviewInbox", "ListApprovals", "CreateDelegation", "ListDelegations", "RevokeDelegation", "AwayPage"}
	noPrincipalFunctions = []string{"StartApproval", "GetApproval", "PageAssets", "GetAuditTrail", "ExportAudit"}
	// What a function key alone must still do with sign-in on.
	keyOnlyFunctions = []string{"StartApproval", "GetApproval", "ListApprovals", "GetAuditTrail", "ExportAudit"}
)

// TestExcludedPathsTakeNoPerson: App Service Authentication's
// excludedPaths are documented only as paths an unauthenticated request is
// not redirected from; nothing says the platform strips client-sent
// X-MS-CLIENT-PRINCIPAL headers there. So no path that takes a person (a
// decider, a withdrawer, whose page or inbox it is) may be excluded, read
// from the function.json routes; and the routes a function key alone uses
// must still be reachable without signing in, by an exclusion or by
// letting anonymous requests through.
func TestExcludedPathsTakeNoPerson(t *testing.T) {
	fn := bicepFiles(t)[functionBicep]
	body := get(authResource(t, fn).body(), "properties")
	raw := dig(body, "globalValidation", "excludedPaths")
	if v := fn.find("var", raw); v != nil {
		raw = v.value
	}
	var entries []string
	if raw != "" {
		list, err := items(raw)
		if err != nil {
			t.Fatalf("%s: excludedPaths: %v", functionBicep, err)
		}
		for _, e := range list {
			lit := unquote(e)
			if lit == "" || strings.Contains(strings.TrimSuffix(lit, "/*"), "*") || strings.Contains(lit, "?") {
				t.Errorf("%s: excluded path %s must be a literal path, optionally ending in /*", functionBicep, e)
				continue
			}
			entries = append(entries, lit)
		}
	}
	anonymous := dig(body, "globalValidation", "unauthenticatedClientAction") == "'AllowAnonymous'"

	prefix := routePrefix(t)
	checked := 0
	for _, f := range functions(t) {
		takesPerson := slices.Contains(principalFunctions, f.folder)
		if !takesPerson && !slices.Contains(noPrincipalFunctions, f.folder) {
			t.Errorf("%s (route %s) is in neither principalFunctions nor noPrincipalFunctions: say whether it reads who is asking", f.folder, f.route)
			continue
		}
		for _, p := range samplePaths(prefix, f.route) {
			hit := slices.ContainsFunc(entries, func(e string) bool { return excluded(e, p) })
			if takesPerson {
				checked++
				if hit {
					t.Errorf("%s reads who is asking on %s, but %s excludes that path from App Service Authentication, "+
						"where nothing documents that client-sent X-MS-CLIENT-PRINCIPAL headers are stripped", f.folder, p, functionBicep)
				}
			}
			if slices.Contains(keyOnlyFunctions, f.folder) && !hit && !anonymous {
				t.Errorf("%s: a function key alone must reach %s with sign-in on, but the path is not excluded and anonymous requests are redirected to sign in", f.folder, p)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no route reads who is asking; the check above saw nothing")
	}
	for _, name := range slices.Concat(principalFunctions, noPrincipalFunctions) {
		if !slices.ContainsFunc(functions(t), func(f function) bool { return f.folder == name }) {
			t.Errorf("%s is listed here but is no function folder", name)
		}
	}
}

// functionAppSettings returns the Function App's app settings, name to
// expression.
func functionAppSettings(t *testing.T, fn *bicepFile) map[string]string {
	t.Helper()
	return objectVar(t, fn, functionBicep, "appSettings")
}

// objectVar returns the properties of the object var name of f, which is
// file, name to expression.
func objectVar(t *testing.T, f *bicepFile, file, name string) map[string]string {
	t.Helper()
	v := f.find("var", name)
	if v == nil {
		t.Fatalf("%s: var %s is missing", file, name)
	}
	return objectOf(t, file+": "+name, v.value)
}

// parametersFile returns main.parameters.json's values as written.
func parametersFile(t *testing.T) map[string]string {
	t.Helper()
	var file struct {
		Parameters map[string]struct {
			Value any `json:"value"`
		} `json:"parameters"`
	}
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "infra", "main.parameters.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for k, p := range file.Parameters {
		if s, ok := p.Value.(string); ok {
			out[k] = s
		}
	}
	return out
}
