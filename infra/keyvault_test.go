package infra_test

// The approval links' signing key: generated once by the preprovision hook
// (cmd/linkkey), kept in the azd environment, passed to Bicep as a secure
// parameter, written to Key Vault, and read by both apps through Key Vault
// references with their own identities.

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/approvals-go/approvals/config"
)

const (
	keyVaultBicep           = "infra/modules/keyvault.bicep"
	roleKeyVaultSecretsUser = "4633458b-17de-408a-b874-0445c86b69e6"
)

// resourceOf returns the one resource of file whose type starts with typ
// (e.g. "Microsoft.KeyVault/vaults@").
func resourcesOf(f *bicepFile, typ string) []*decl {
	var out []*decl
	for _, r := range f.all("resource") {
		if strings.HasPrefix(r.quoted(), typ) && !strings.HasSuffix(r.header, "existing") {
			out = append(out, r)
		}
	}
	return out
}

func TestKeyVault(t *testing.T) {
	files := bicepFiles(t)
	kv := files[keyVaultBicep]
	if kv == nil {
		t.Fatalf("%s is missing", keyVaultBicep)
	}
	vaults := resourcesOf(kv, "Microsoft.KeyVault/vaults@")
	if len(vaults) != 1 {
		t.Fatalf("%s: want one vault, got %d", keyVaultBicep, len(vaults))
	}
	vault := vaults[0]
	props := get(vault.body(), "properties")
	wantValues(t, keyVaultBicep+": vault", props, map[string]string{
		"enableRbacAuthorization": "true",
		"enableSoftDelete":        "true",
		"tenantId":                "tenant().tenantId",
		"sku.name":                "'standard'",
	})
	// With purge protection `azd down --purge` cannot purge the vault, and
	// the next `azd up` of the environment fails on the name for the whole
	// retention period; the secrets are restored from the azd environment
	// by every provision, so there is nothing for it to protect.
	if got := get(props, "enablePurgeProtection"); got != "" {
		t.Errorf("%s: enablePurgeProtection = %s; leave it unset so `azd down --purge` works", keyVaultBicep, got)
	}
	if get(props, "accessPolicies") != "" {
		t.Errorf("%s: the vault has access policies; access is by RBAC only", keyVaultBicep)
	}

	// The secrets: the two link keys, always there (the previous one holds
	// the current key outside a rotation), and the audit keys and the
	// notification secrets, each when it is set (TestNotifySecretsInKeyVault).
	secrets := map[string]*decl{}
	for _, s := range resourcesOf(kv, "Microsoft.KeyVault/vaults/secrets@") {
		secrets[unquote(get(s.body(), "name"))] = s
		if get(s.body(), "parent") != vault.name {
			t.Errorf("%s: secret %s is not in the vault", keyVaultBicep, s.name)
		}
	}
	want := []string{"approvals-link-key", "approvals-link-key-previous", "approvals-audit-key", "approvals-audit-key-previous"}
	for _, s := range notifySettings {
		if s.secret {
			want = append(want, secretName(s.env))
		}
	}
	slices.Sort(want)
	if got := sortedKeys(secrets); !slices.Equal(got, want) {
		t.Fatalf("%s: secrets %v, want %v", keyVaultBicep, got, want)
	}
	if cur := secrets["approvals-link-key"]; cur.condition() != "" || dig(cur.body(), "properties", "value") != "linkKey" {
		t.Errorf("%s: approvals-link-key must always hold linkKey", keyVaultBicep)
	}
	// Outside a rotation the previous secret holds the current key, so that
	// nothing else depends on whether a rotation is under way.
	if prev := secrets["approvals-link-key-previous"]; prev.condition() != "" ||
		strings.Join(strings.Fields(dig(prev.body(), "properties", "value")), " ") != "empty(linkKeyPrevious) ? linkKey : linkKeyPrevious" {
		t.Errorf("%s: approvals-link-key-previous must always hold linkKeyPrevious, or linkKey when that is empty", keyVaultBicep)
	}
	// The apps reference exact versions, so a changed key reaches both at
	// the provision that changes it.
	for out, secret := range map[string]string{"linkKeySecretUri": "linkKeySecret", "linkKeyPreviousSecretUri": "linkKeyPreviousSecret"} {
		o := kv.find("output", out)
		if o == nil || !strings.Contains(o.value, secret+".properties.secretUriWithVersion") {
			t.Errorf("%s: output %s must be %s.properties.secretUriWithVersion", keyVaultBicep, out, secret)
		}
	}

	// Roles: Key Vault Secrets User on the vault for the two apps'
	// identities, and nothing else.
	assignments := resourcesOf(kv, "Microsoft.Authorization/roleAssignments@")
	var principals []string
	for _, a := range assignments {
		body := a.body()
		principal := dig(body, "properties", "principalId")
		principals = append(principals, principal)
		if role := dig(body, "properties", "roleDefinitionId"); role != "subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)" {
			t.Errorf("%s: %s assigns %s; the apps need Key Vault Secrets User and nothing more", keyVaultBicep, a.name, role)
		}
		if get(body, "scope") != vault.name {
			t.Errorf("%s: %s is scoped to %q, want the vault", keyVaultBicep, a.name, get(body, "scope"))
		}
		if n := get(body, "name"); n != "guid(vault.id, "+principal+", keyVaultSecretsUser)" {
			t.Errorf("%s: %s is named %s, not guid(vault.id, principal, role)", keyVaultBicep, a.name, n)
		}
		if dig(body, "properties", "principalType") != "'ServicePrincipal'" {
			t.Errorf("%s: %s: a managed identity's principalType is ServicePrincipal", keyVaultBicep, a.name)
		}
	}
	slices.Sort(principals)
	if !slices.Equal(principals, []string{"apiPrincipalId", "workerPrincipalId"}) {
		t.Errorf("%s: role assignments for %v, want apiPrincipalId and workerPrincipalId", keyVaultBicep, principals)
	}
	if v := kv.find("var", "keyVaultSecretsUser"); v == nil || unquote(v.value) != roleKeyVaultSecretsUser {
		t.Errorf("%s: var keyVaultSecretsUser must be %s (Key Vault Secrets User)", keyVaultBicep, roleKeyVaultSecretsUser)
	}
	for _, rel := range sortedKeys(files) {
		if rel != keyVaultBicep && strings.Contains(files[rel].code, roleKeyVaultSecretsUser) {
			t.Errorf("%s assigns Key Vault Secrets User; it belongs on the vault, in %s", rel, keyVaultBicep)
		}
	}

	// main.bicep gives the roles to the apps' own identities.
	main := files[mainBicep]
	calls := invocations(t, files, main, keyVaultBicep)
	if len(calls) != 1 {
		t.Fatalf("main.bicep calls %s %d times, want once", keyVaultBicep, len(calls))
	}
	p := moduleParams(t, main, calls[0])
	wantEach(t, "main.bicep: module "+calls[0].name+" passes", func(k string) string { return p[k] }, map[string]string{
		"apiPrincipalId":    "apiIdentity.outputs.principalId",
		"workerPrincipalId": "workerIdentity.outputs.principalId",
		"linkKey":           "linkKey",
		"linkKeyPrevious":   "linkKeyPrevious",
	})
	if n := p["name"]; n != "'kv-${resourceToken}'" {
		t.Errorf("main.bicep: the vault is named %s, want 'kv-${resourceToken}' (at most 24 characters)", n)
	}
}

// TestLinkKeyIsSecret: the key enters as a secure parameter without a
// default, is passed on only to secure parameters, lands only in a secret's
// value, and reaches no output.
func TestLinkKeyIsSecret(t *testing.T) {
	files := bicepFiles(t)
	main := files[mainBicep]
	kv := files[keyVaultBicep]

	for _, f := range []*bicepFile{main, kv} {
		for name, wantDefault := range map[string]string{"linkKey": "", "linkKeyPrevious": "''"} {
			p := f.find("param", name)
			if p == nil {
				t.Errorf("%s: param %s is missing", f.path, name)
				continue
			}
			if !slices.Contains(p.decorators, "@secure()") {
				t.Errorf("%s: param %s must be @secure(), so the deployment never records its value", f.path, name)
			}
			if p.value != wantDefault {
				t.Errorf("%s: param %s defaults to %q, want %q: a default would be a key in the repository", f.path, name, p.value, wantDefault)
			}
		}
		if p := f.find("param", "linkKey"); p != nil && !slices.Contains(p.decorators, "@minLength(32)") {
			t.Errorf("%s: param linkKey needs @minLength(32), the handler's minimum", f.path)
		}
	}

	// Every secure parameter of every file, and where its value goes.
	for _, rel := range sortedKeys(files) {
		f := files[rel]
		for _, p := range f.all("param") {
			if !slices.Contains(p.decorators, "@secure()") {
				continue
			}
			ref := regexp.MustCompile(`\b` + p.name + `\b`)
			for _, o := range f.all("output") {
				if ref.MatchString(o.value) {
					t.Errorf("%s: output %s shows secure param %s", rel, o.name, p.name)
				}
			}
			for _, m := range f.all("module") {
				for k, v := range moduleParams(t, f, m) {
					if !ref.MatchString(v) {
						continue
					}
					target := moduleTarget(t, files, f, m).find("param", k)
					if target == nil || !slices.Contains(target.decorators, "@secure()") || v != p.name {
						t.Errorf("%s: module %s gets secure %s as %s = %s; pass it as is, to a @secure() param", rel, m.name, p.name, k, v)
					}
				}
			}
			// Where it may appear: its declaration, a module argument
			// passing it on, a secret's value (in keyvault.bicep), and, in
			// keyvault.bicep's notifySecretSet and auditKeySet, whether it
			// is set, which is all that tells of it.
			passOn := regexp.MustCompile(`^\s*[A-Za-z]+:\s*` + p.name + `\s*$`)
			isSet := regexp.MustCompile(`^[A-Z_]+:\s*!empty\(` + p.name + `\)$`)
			inSetVar := func(line int) bool {
				for _, name := range []string{"notifySecretSet", "auditKeySet"} {
					if v := kv.find("var", name); v != nil && v.line < line && line <= v.line+strings.Count(v.value, "\n") {
						return true
					}
				}
				return false
			}
			for i, line := range strings.Split(f.mask, "\n") {
				if !ref.MatchString(line) {
					continue
				}
				trimmed := strings.TrimSpace(line)
				ok := strings.HasPrefix(trimmed, "param "+p.name+" ") ||
					(rel != keyVaultBicep && passOn.MatchString(line)) ||
					(rel == keyVaultBicep && secretValue(trimmed, secureParams(f))) ||
					(rel == keyVaultBicep && isSet.MatchString(trimmed) && inSetVar(i+1))
				if !ok {
					t.Errorf("%s:%d: secure param %s is used outside a secret's value: %s", rel, i+1, p.name, trimmed)
				}
			}
		}
	}

	// The azd environment feeds the parameters, under the names the
	// binaries read the keys by.
	params := parametersFile(t)
	handler, worker := configNames[config.Handler](), configNames[config.Worker]()
	for param, env := range map[string]string{"linkKey": "APPROVALS_LINK_KEY", "linkKeyPrevious": "APPROVALS_LINK_KEY_PREVIOUS"} {
		if got := params[param]; got != "${"+env+"}" {
			t.Errorf("main.parameters.json: %s = %q, want ${%s} (no default: a default would be a key in the repository)", param, got, env)
		}
		if !handler[env] || !worker[env] {
			t.Errorf("%s is not a setting both binaries read (config.LinkKeys)", env)
		}
	}
}

// secureParams lists the names of f's @secure() parameters.
func secureParams(f *bicepFile) []string {
	var out []string
	for _, p := range f.all("param") {
		if slices.Contains(p.decorators, "@secure()") {
			out = append(out, p.name)
		}
	}
	return out
}

var identifier = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)

// secretValue reports whether line is a "value:" property made of nothing
// but secure parameters, empty() and the conditional operator.
func secretValue(line string, secure []string) bool {
	expr, ok := strings.CutPrefix(line, "value:")
	if !ok || strings.ContainsAny(expr, "'.[{") {
		return false
	}
	for _, id := range identifier.FindAllString(expr, -1) {
		if id != "empty" && !slices.Contains(secure, id) {
			return false
		}
	}
	return true
}

// TestLinkKeyReferences: each app reads the key from Key Vault with its own
// identity; no value is in the template or the apps' configuration.
func TestLinkKeyReferences(t *testing.T) {
	files := bicepFiles(t)
	main := files[mainBicep]
	fn := files[functionBicep]

	settings := functionAppSettings(t, fn)
	if got, want := settings["APPROVALS_LINK_KEY"], "'@Microsoft.KeyVault(SecretUri=${linkKeySecretUri})'"; got != want {
		t.Errorf("%s: APPROVALS_LINK_KEY = %s, want %s", functionBicep, got, want)
	}
	if got, want := settings["APPROVALS_LINK_KEY_PREVIOUS"], "'@Microsoft.KeyVault(SecretUri=${linkKeyPreviousSecretUri})'"; got != want {
		t.Errorf("%s: APPROVALS_LINK_KEY_PREVIOUS = %s, want %s", functionBicep, got, want)
	}
	sites := resourcesOf(fn, "Microsoft.Web/sites@")
	if len(sites) != 1 || dig(sites[0].body(), "properties", "keyVaultReferenceIdentity") != "identityId" {
		t.Errorf("%s: the site must set keyVaultReferenceIdentity: identityId, or references resolve with a system identity it does not have", functionBicep)
	}

	// The worker's secrets that are always there: the link key alone. The
	// notification secrets, there only when set, are TestNotifyWorkerSettings'.
	app := workerApp(t, files)
	always := map[string]string{}
	for name, e := range containerAppSecrets(t, app) {
		if e.cond == "" {
			always[name] = e.text
		}
	}
	if len(always) != 1 {
		t.Fatalf("%s: want one secret always there, the link key, got %v", workerBicep, sortedKeys(always))
	}
	s := always["approvals-link-key"]
	if get(s, "keyVaultUrl") != "linkKeySecretUri" || get(s, "identity") != "identityId" || get(s, "value") != "" {
		t.Errorf("%s: secret approvals-link-key must be {keyVaultUrl: linkKeySecretUri, identity: identityId}, got %s", workerBicep, s)
	}
	refs := map[string]string{}
	for _, e := range workerEnvEntries(t, app) {
		if r := get(e.text, "secretRef"); r != "" && e.cond == "" {
			refs[unquote(get(e.text, "name"))] = unquote(r)
		}
	}
	if refs["APPROVALS_LINK_KEY"] != "approvals-link-key" || len(refs) != 1 {
		t.Errorf("%s: env secret references always there %v, want APPROVALS_LINK_KEY from approvals-link-key only (the worker only signs)", workerBicep, refs)
	}

	// main.bicep wires the vault's outputs to the apps.
	for module, want := range map[string]map[string]string{
		"api": {
			"linkKeySecretUri":         "keyVault.outputs.linkKeySecretUri",
			"linkKeyPreviousSecretUri": "keyVault.outputs.linkKeyPreviousSecretUri",
		},
		"worker": {"linkKeySecretUri": "keyVault.outputs.linkKeySecretUri"},
	} {
		p := moduleParams(t, main, main.find("module", module))
		for k, v := range want {
			if p[k] != v {
				t.Errorf("main.bicep: module %s passes %s = %q, want %s", module, k, p[k], v)
			}
		}
	}
	if _, ok := moduleParams(t, main, main.find("module", "worker"))["linkKeyPreviousSecretUri"]; ok {
		t.Error("main.bicep: the worker gets the previous key; it only signs, with the current one")
	}
	if o := main.find("output", "AZURE_KEY_VAULT_NAME"); o == nil || o.value != "keyVault.outputs.name" {
		t.Error("main.bicep must output AZURE_KEY_VAULT_NAME = keyVault.outputs.name")
	}
}

// TestPreprovisionHook: azd runs cmd/linkkey before every provision, on
// every OS, and it keeps the values main.parameters.json reads.
func TestPreprovisionHook(t *testing.T) {
	hook := azureYAML(t).sub("hooks", "preprovision")
	if hook == nil {
		t.Fatal("azure.yaml: no preprovision hook keeps the link key")
	}
	for _, platform := range []string{"posix", "windows"} {
		if run := strings.Join(strings.Fields(hook.str(platform, "run")), " "); run != "go run ./cmd/linkkey" {
			t.Errorf("azure.yaml: preprovision %s hook runs %q, want go run ./cmd/linkkey", platform, run)
		}
		if hook.str(platform, "shell") == "" {
			t.Errorf("azure.yaml: preprovision %s hook names no shell", platform)
		}
	}
	src, err := os.ReadFile(filepath.Join(repoRoot(t), "cmd", "linkkey", "main.go"))
	if err != nil {
		t.Fatalf("the preprovision hook needs cmd/linkkey: %v", err)
	}
	params := parametersFile(t)
	for constName, param := range map[string]string{"envKey": "linkKey", "envPrevious": "linkKeyPrevious"} {
		want := strings.TrimSuffix(strings.TrimPrefix(params[param], "${"), "}")
		if !regexp.MustCompile(constName + `\s*=\s*"` + regexp.QuoteMeta(want) + `"`).Match(src) {
			t.Errorf("cmd/linkkey: %s is not %q, the value main.parameters.json passes as %s", constName, want, param)
		}
	}
}
