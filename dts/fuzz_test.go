package dts

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// FuzzParseConnectionString checks that the parser never panics, that its
// errors are built only from fixed texts and key names (so they cannot
// leak a value), and that whatever it accepts is a consistent Config that
// parses back to itself.
func FuzzParseConnectionString(f *testing.F) {
	for _, s := range []string{
		"",
		"Endpoint=http://localhost:8080;TaskHub=default;Authentication=None",
		"Endpoint=https://s.westus2.durabletask.io;TaskHub=hub;Authentication=ManagedIdentity;ClientID=00000000-0000-0000-0000-000000000001",
		"endpoint=s.durabletask.io;authentication=defaultazure;tenantid=t;additionallyallowedtenants=a,b,*",
		"Endpoint=https://s;TaskHub=h;Authentication=WorkloadIdentity;ClientID=c;TenantId=t;TokenFilePath=/t",
		"Endpoint=https://[::1]:8443/;TaskHub=h;Authentication=None;Token=abc==",
		"Endpoint=http://s;Authentication=AzureCLI",
		"Endpoint;=;;Foo=bar",
	} {
		f.Add(s)
	}
	known := map[string]bool{}
	for _, k := range knownKeys {
		known[k] = true
	}
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := ParseConnectionString(s)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error is not a *ConfigError: %v", err)
			}
			if !slices.Contains(allProblems, ce.Problem) {
				t.Fatalf("problem text %q is not one of the fixed texts", ce.Problem)
			}
			if ce.Mode != "" {
				if _, ok := ParseAuthMode(string(ce.Mode)); !ok {
					t.Fatalf("error names unknown mode %q", ce.Mode)
				}
			}
			switch {
			case ce.Key == "", known[ce.Key]:
			case ce.Problem == probUnknownKey:
				if !inputHasQuotedKey(s, ce.Key) {
					t.Fatalf("unknown-key error names %s, which is no key of the input", ce.Key)
				}
			default:
				t.Fatalf("error names key %q for problem %q", ce.Key, ce.Problem)
			}
			return
		}

		if _, _, err := splitHostPort(cfg.Address); err != nil {
			t.Fatalf("accepted address %q: %v", cfg.Address, err)
		}
		if _, ok := ParseAuthMode(string(cfg.Authentication)); !ok {
			t.Fatalf("accepted unknown mode %q", cfg.Authentication)
		}
		if err := cfg.checkTransport("fuzz", ""); err != nil {
			t.Fatalf("accepted credentials over plaintext: %v", err)
		}
		if cfg.TaskHub != "" && !validTaskHub(cfg.TaskHub) {
			t.Fatalf("accepted task hub %q", cfg.TaskHub)
		}
		for _, v := range append([]string{cfg.ClientID, cfg.TenantID, cfg.TokenFilePath, cfg.Token}, cfg.AdditionallyAllowedTenants...) {
			if hasControl(v) || strings.ContainsRune(v, ';') || v != strings.TrimSpace(v) {
				t.Fatalf("accepted value %q", v)
			}
		}

		// Round trip through a canonical rendering.
		again, err := ParseConnectionString(render(cfg))
		if err != nil {
			t.Fatalf("rendering %q of an accepted string is rejected: %v", render(cfg), err)
		}
		if again.String() != cfg.String() || again.ClientID != cfg.ClientID || again.TenantID != cfg.TenantID ||
			again.TokenFilePath != cfg.TokenFilePath || again.Token != cfg.Token ||
			!slices.Equal(again.AdditionallyAllowedTenants, cfg.AdditionallyAllowedTenants) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v", cfg, again)
		}
	})
}

func inputHasQuotedKey(s, quoted string) bool {
	for _, pair := range strings.Split(s, ";") {
		if k, _, ok := strings.Cut(pair, "="); ok && quoteKey(strings.TrimSpace(k)) == quoted {
			return true
		}
	}
	return false
}

func render(c Config) string {
	scheme := "http://"
	if c.TLS {
		scheme = "https://"
	}
	parts := []string{"Endpoint=" + scheme + c.Address, "Authentication=" + string(c.Authentication)}
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add(KeyTaskHub, c.TaskHub)
	add(KeyClientID, c.ClientID)
	add(KeyTenantID, c.TenantID)
	add(KeyTokenFilePath, c.TokenFilePath)
	add(KeyAdditionallyAllowedTenants, strings.Join(c.AdditionallyAllowedTenants, ","))
	add(KeyToken, c.Token)
	return strings.Join(parts, ";")
}
