package infra_test

// What a first `azd provision` (or `azd up`) asks for. There is no azd on
// the machines these tests run on, so this file restates the part of azd's
// Bicep provider that decides, parameter by parameter, whether to prompt,
// and runs main.bicep and main.parameters.json through it for a new
// environment. The rules are those of azd 1.23.x (the version azure.yaml
// requires), read from its source, cli/azd/pkg/infra/provisioning/bicep:
//
//   - loadParameters substitutes ${NAME} and ${NAME=default} in each value
//     of main.parameters.json, and drops a value that comes out empty when
//     a variable in it is unset.
//   - ensureParameters then takes, for each parameter of the template, the
//     first of: a non-empty value from the file (an empty one only when the
//     template has a default); the template's default; nothing, for a
//     nullable type; a value saved in the environment's config
//     (infra.parameters.<name>) by an earlier run; a value it generates, for
//     a string parameter whose metadata is {azd: {type: 'generate', config:
//     {...}}}, saved to that config; otherwise a prompt, which under
//     --no-prompt is an error.
//
// azd runs this pass once before the preprovision hook and once after it,
// right before it deploys; the first pass is what a new environment must
// get through without input, since the hook has not yet stored anything.

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// firstProvision is the environment of a provision in a new azd
// environment: what `azd env new` (or AZURE_ENV_NAME, AZURE_LOCATION and
// AZURE_SUBSCRIPTION_ID in CI) puts there, plus the signed-in principal,
// which azd fills in itself.
var firstProvision = map[string]string{
	"AZURE_ENV_NAME":        "approvals-ci",
	"AZURE_LOCATION":        "westeurope",
	"AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
	"AZURE_PRINCIPAL_ID":    "00000000-0000-0000-0000-000000000001",
	"AZURE_PRINCIPAL_TYPE":  "ServicePrincipal",
}

var envRefRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(=([^}]*))?\}`)

// substitute is azd's substitution of one parameter value: the value and
// whether a variable it names is unset.
func substitute(value string, env map[string]string) (string, bool, error) {
	unset := false
	out := envRefRE.ReplaceAllStringFunc(value, func(ref string) string {
		m := envRefRE.FindStringSubmatch(ref)
		v, ok := env[m[1]]
		if !ok {
			unset = true
		}
		if v == "" && m[2] != "" {
			return m[3]
		}
		return v
	})
	if strings.Contains(out, "${") || strings.Contains(out, "$(") {
		return "", false, fmt.Errorf("%q uses a substitution this test does not know", value)
	}
	return out, unset, nil
}

// azdGenerateKeys are the fields of azd's generate config (AutoGenInput).
var azdGenerateKeys = []string{"length", "noLower", "noUpper", "noNumeric", "noSpecial", "minLower", "minUpper", "minNumeric", "minSpecial"}

// azdMetadata returns a parameter's @metadata({azd: {...}}) object literal,
// or "".
func azdMetadata(p *decl) string {
	for _, d := range p.decorators {
		if inner, ok := strings.CutPrefix(d, "@metadata("); ok {
			return get(strings.TrimSuffix(inner, ")"), "azd")
		}
	}
	return ""
}

// generatedLength checks a generate config as azd's password.Generate
// does, and returns the length of the values it makes.
func generatedLength(cfg string) (int, error) {
	ps, err := props(cfg)
	if err != nil {
		return 0, err
	}
	values := map[string]string{}
	for _, p := range ps {
		if !slices.Contains(azdGenerateKeys, p.key) {
			return 0, fmt.Errorf("config has %s, which azd does not read (it reads %v)", p.key, azdGenerateKeys)
		}
		values[p.key] = p.value
	}
	number := func(k string) (int, error) {
		if values[k] == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(values[k])
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%s = %s, want a whole number", k, values[k])
		}
		return n, nil
	}
	classes := map[string]string{"Lower": "", "Upper": "", "Numeric": "", "Special": ""}
	allowed, mins := 0, 0
	for class := range classes {
		switch v := values["no"+class]; v {
		case "", "false", "true":
		default:
			return 0, fmt.Errorf("no%s = %s, want true or false", class, v)
		}
		n, err := number("min" + class)
		if err != nil {
			return 0, err
		}
		if values["no"+class] == "true" {
			if n > 0 {
				return 0, fmt.Errorf("min%s with no%s: azd refuses it", class, class)
			}
			continue
		}
		allowed++
		mins += n
	}
	length, err := number("length")
	if err != nil {
		return 0, err
	}
	if length == 0 {
		length = mins
	}
	switch {
	case length == 0:
		return 0, fmt.Errorf("neither length nor a min*: azd generates nothing")
	case mins > length:
		return 0, fmt.Errorf("the min* add up to more than length")
	case allowed == 0:
		return 0, fmt.Errorf("every kind of character is disallowed")
	}
	return length, nil
}

// prompts returns the parameters of main.bicep that azd would ask for in
// an environment holding env, with why.
func prompts(t *testing.T, params []*decl, file map[string]string, env map[string]string) []string {
	t.Helper()
	var out []string
	for _, p := range params {
		typ := strings.TrimSpace(p.header)
		if raw, ok := file[p.name]; ok {
			v, unset, err := substitute(raw, env)
			if err != nil {
				t.Fatalf("main.parameters.json: %s: %v", p.name, err)
			}
			if v != "" || (!unset && p.value != "") {
				continue
			}
		}
		if p.value != "" || strings.HasSuffix(typ, "?") {
			continue
		}
		if md := azdMetadata(p); unquote(get(md, "type")) == "generate" && typ == "string" {
			n, err := generatedLength(get(md, "config"))
			if err != nil {
				out = append(out, p.name+" (generate: "+err.Error()+")")
				continue
			}
			if bad := lengthBounds(p, n); bad != "" {
				out = append(out, p.name+" (generate: "+bad+")")
			}
			continue
		}
		out = append(out, p.name)
	}
	return out
}

// lengthBounds says why a generated value of n characters would break
// p's @minLength or @maxLength, or "".
func lengthBounds(p *decl, n int) string {
	for _, d := range p.decorators {
		for _, c := range []struct {
			prefix string
			ok     func(bound int) bool
		}{
			{"@minLength(", func(b int) bool { return n >= b }},
			{"@maxLength(", func(b int) bool { return n <= b }},
		} {
			if arg, found := strings.CutPrefix(d, c.prefix); found {
				b, err := strconv.Atoi(strings.TrimSuffix(arg, ")"))
				if err != nil || !c.ok(b) {
					return fmt.Sprintf("%d characters break %s", n, d)
				}
			}
		}
	}
	return ""
}

// TestFirstProvisionNeedsNoInput: a new environment provisions without a
// single prompt, so `azd up --no-prompt` and CI get through, and no one is
// asked for a link key that the hook would replace anyway. Only the
// environment's name and region (and subscription) are azd's to ask for.
func TestFirstProvisionNeedsNoInput(t *testing.T) {
	main := bicepFiles(t)[mainBicep]
	file := parametersFile(t)
	params := main.all("param")
	if got := prompts(t, params, file, firstProvision); len(got) > 0 {
		t.Errorf("a first provision would prompt for %v, and fail under --no-prompt before the preprovision hook runs: "+
			"give each a default, a value from main.parameters.json with a default (${NAME=default}), "+
			"or azd's generate metadata", got)
	}

	// The check sees the prompt this replaces: linkKey without its
	// metadata is what a new user used to be asked for.
	var stripped []*decl
	for _, p := range params {
		if p.name == "linkKey" {
			c := *p
			c.decorators = slices.DeleteFunc(slices.Clone(p.decorators), func(d string) bool { return strings.HasPrefix(d, "@metadata(") })
			p = &c
		}
		stripped = append(stripped, p)
	}
	if got := prompts(t, stripped, file, firstProvision); !slices.Equal(got, []string{"linkKey"}) {
		t.Errorf("without its generate metadata, linkKey should be the one prompt; the check found %v", got)
	}

	// Once the hook has stored a key, the file's value is there: the same
	// pass after the hook (and every later provision) needs nothing
	// generated.
	later := map[string]string{"APPROVALS_LINK_KEY": strings.Repeat("k", 43)}
	for k, v := range firstProvision {
		later[k] = v
	}
	if got := prompts(t, stripped, file, later); len(got) > 0 {
		t.Errorf("with APPROVALS_LINK_KEY stored, a provision would still prompt for %v", got)
	}
}

// TestLinkKeyGeneratedOnlyAsAStandIn: azd's generate metadata on linkKey
// has the keys azd reads, and what it makes passes the parameter's own
// checks; the hook's key, which the parameters file maps with no default,
// comes first whenever it is set.
func TestLinkKeyGeneratedOnlyAsAStandIn(t *testing.T) {
	p := bicepFiles(t)[mainBicep].find("param", "linkKey")
	if p == nil {
		t.Fatal("main.bicep: param linkKey is missing")
	}
	md := azdMetadata(p)
	if got := unquote(get(md, "type")); got != "generate" {
		t.Fatalf("main.bicep: linkKey's metadata azd.type = %q, want 'generate' (azd's AzdMetadataTypeGenerate); "+
			"generateOrManual would still prompt", got)
	}
	if strings.TrimSpace(p.header) != "string" {
		t.Errorf("main.bicep: linkKey is %q; azd generates values for string parameters only", p.header)
	}
	n, err := generatedLength(get(md, "config"))
	if err != nil {
		t.Fatalf("main.bicep: linkKey's generate config: %v", err)
	}
	if bad := lengthBounds(p, n); bad != "" {
		t.Errorf("main.bicep: linkKey: %s", bad)
	}
	// Letters and digits only: a generated key never needs quoting, in a
	// .env file or on a command line.
	cfg := get(md, "config")
	if get(cfg, "noSpecial") != "true" {
		t.Errorf("main.bicep: linkKey's generate config should set noSpecial: true")
	}
	if n < 43 {
		t.Errorf("main.bicep: linkKey is generated with %d characters; want at least the 43 of the hook's base64url key", n)
	}
	if got := parametersFile(t)["linkKey"]; got != "${APPROVALS_LINK_KEY}" {
		t.Errorf("main.parameters.json: linkKey = %q, want ${APPROVALS_LINK_KEY}: the hook's key must come first, and a default would be a key in the repository", got)
	}
}
