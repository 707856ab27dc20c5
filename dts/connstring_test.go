package dts

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseConnectionStringModes(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Config
	}{
		{"emulator", "Endpoint=http://localhost:8080;TaskHub=default;Authentication=None",
			Config{Address: "localhost:8080", TaskHub: "default", Authentication: AuthNone}},
		{"managed identity", "Endpoint=https://s.westus2.durabletask.io;TaskHub=hub;Authentication=ManagedIdentity;ClientID=00000000-0000-0000-0000-000000000001",
			Config{Address: "s.westus2.durabletask.io:443", TLS: true, TaskHub: "hub", Authentication: AuthManagedIdentity, ClientID: "00000000-0000-0000-0000-000000000001"}},
		{"system managed identity", "Endpoint=https://s.durabletask.io;TaskHub=hub;Authentication=ManagedIdentity",
			Config{Address: "s.durabletask.io:443", TLS: true, TaskHub: "hub", Authentication: AuthManagedIdentity}},
		{"keys and mode case-insensitive", "ENDPOINT=https://s;taskhub=hub;authentication=managedidentity;clientid=c",
			Config{Address: "s:443", TLS: true, TaskHub: "hub", Authentication: AuthManagedIdentity, ClientID: "c"}},
		{"default azure", "Endpoint=https://s;TaskHub=h;Authentication=DefaultAzure;TenantId=t;AdditionallyAllowedTenants=a, b ,*",
			Config{Address: "s:443", TLS: true, TaskHub: "h", Authentication: AuthDefaultAzure, TenantID: "t", AdditionallyAllowedTenants: []string{"a", "b", "*"}}},
		{"workload identity", "Endpoint=https://s;TaskHub=h;Authentication=WorkloadIdentity;ClientID=c;TenantId=t;TokenFilePath=/var/run/token;AdditionallyAllowedTenants=x",
			Config{Address: "s:443", TLS: true, TaskHub: "h", Authentication: AuthWorkloadIdentity, ClientID: "c", TenantID: "t", TokenFilePath: "/var/run/token", AdditionallyAllowedTenants: []string{"x"}}},
		{"environment", "Endpoint=https://s;TaskHub=h;Authentication=Environment",
			Config{Address: "s:443", TLS: true, TaskHub: "h", Authentication: AuthEnvironment}},
		{"azure cli", "Endpoint=https://s;TaskHub=h;Authentication=AzureCli;TenantId=t",
			Config{Address: "s:443", TLS: true, TaskHub: "h", Authentication: AuthAzureCLI, TenantID: "t"}},
		{"azure powershell", "Endpoint=https://s;TaskHub=h;Authentication=AzurePowerShell;AdditionallyAllowedTenants=*",
			Config{Address: "s:443", TLS: true, TaskHub: "h", Authentication: AuthAzurePowerShell, AdditionallyAllowedTenants: []string{"*"}}},
		{"interactive browser", "Endpoint=https://s;TaskHub=h;Authentication=InteractiveBrowser;ClientID=c;TenantId=t",
			Config{Address: "s:443", TLS: true, TaskHub: "h", Authentication: AuthInteractiveBrowser, ClientID: "c", TenantID: "t"}},
		{"task hub left to TASKHUB_NAME", "Endpoint=https://s;Authentication=ManagedIdentity",
			Config{Address: "s:443", TLS: true, Authentication: AuthManagedIdentity}},
		{"static token", "Endpoint=https://s:8443;TaskHub=h;Authentication=None;Token=abc==",
			Config{Address: "s:8443", TLS: true, TaskHub: "h", Authentication: AuthNone, Token: "abc=="}},
		{"bare host means https", "Endpoint=s.durabletask.io;TaskHub=h;Authentication=DefaultAzure",
			Config{Address: "s.durabletask.io:443", TLS: true, TaskHub: "h", Authentication: AuthDefaultAzure}},
		{"http default port, spaces, empty pairs, trailing slash", " Endpoint = http://h/ ;; TaskHub = h ; Authentication = none ;",
			Config{Address: "h:80", TaskHub: "h", Authentication: AuthNone}},
		{"ipv6", "Endpoint=http://[::1]:8080;TaskHub=h;Authentication=None",
			Config{Address: "[::1]:8080", TaskHub: "h", Authentication: AuthNone}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseConnectionString(tc.in)
			if err != nil {
				t.Fatalf("ParseConnectionString: %v", err)
			}
			if got.String() != tc.want.String() || got.ClientID != tc.want.ClientID || got.TenantID != tc.want.TenantID ||
				got.TokenFilePath != tc.want.TokenFilePath || got.Token != tc.want.Token ||
				!slices.Equal(got.AdditionallyAllowedTenants, tc.want.AdditionallyAllowedTenants) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseConnectionStringRejects(t *testing.T) {
	const secret = "SuperSecretValue123"
	tests := []struct {
		name    string
		in      string
		key     string
		problem string
	}{
		{"empty", "", KeyEndpoint, probRequired},
		{"no equals", "Endpoint=https://s;" + secret, "", probNoEquals},
		{"empty key", "=" + secret, "", probEmptyKey},
		{"unknown key", "Endpoint=https://s;Password=" + secret, `"Password"`, probUnknownKey},
		{"long unknown key is cut", "Endpoint=https://s;" + strings.Repeat("k", 40) + "=v", `"` + strings.Repeat("k", 32) + `…"`, probUnknownKey},
		{"duplicate key", "Endpoint=https://a;endpoint=https://b;Authentication=None", KeyEndpoint, probDuplicate},
		{"empty value", "Endpoint=;Authentication=None", KeyEndpoint, probEmptyValue},
		{"control character", "Endpoint=https://s;Authentication=None;Token=a\x01" + secret, KeyToken, probControl},
		{"missing endpoint", "TaskHub=h;Authentication=None", KeyEndpoint, probRequired},
		{"missing authentication", "Endpoint=https://s;TaskHub=h", KeyAuthentication, probRequired},
		{"unknown mode", "Endpoint=https://s;Authentication=" + secret, KeyAuthentication, probUnknownMode},
		{"client id with azure cli", "Endpoint=https://s;Authentication=AzureCLI;ClientID=" + secret, KeyClientID, probNotUsedByMode},
		{"client id with default azure", "Endpoint=https://s;Authentication=DefaultAzure;ClientID=" + secret, KeyClientID, probDefaultClientID},
		{"token file with managed identity", "Endpoint=https://s;Authentication=ManagedIdentity;TokenFilePath=" + secret, KeyTokenFilePath, probNotUsedByMode},
		{"tenant with environment", "Endpoint=https://s;Authentication=Environment;TenantId=" + secret, KeyTenantID, probNotUsedByMode},
		{"tenant with none", "Endpoint=https://s;Authentication=None;TenantId=" + secret, KeyTenantID, probNotUsedByMode},
		{"token with managed identity", "Endpoint=https://s;Authentication=ManagedIdentity;Token=" + secret, KeyToken, probTokenNeedsNone},
		{"credential over http", "Endpoint=http://s;Authentication=ManagedIdentity", KeyEndpoint, probPlaintextAuth},
		{"token over http", "Endpoint=http://s;Authentication=None;Token=" + secret, KeyEndpoint, probPlaintextToken},
		{"scheme", "Endpoint=ftp://s;Authentication=None", KeyEndpoint, probEndpointScheme},
		{"path", "Endpoint=https://s/api;Authentication=None", KeyEndpoint, probEndpointExtra},
		{"query", "Endpoint=https://s?x=1;Authentication=None", KeyEndpoint, probEndpointExtra},
		{"user info", "Endpoint=https://user:" + secret + "@s;Authentication=None", KeyEndpoint, probEndpointExtra},
		{"port zero", "Endpoint=https://s:0;Authentication=None", KeyEndpoint, probEndpointPort},
		{"port too big", "Endpoint=https://s:99999;Authentication=None", KeyEndpoint, probEndpointPort},
		{"port empty", "Endpoint=https://s:;Authentication=None", KeyEndpoint, probEndpointPort},
		{"no host", "Endpoint=https://;Authentication=None", KeyEndpoint, probEndpointHost},
		{"bracket host", "Endpoint=];Authentication=None", KeyEndpoint, probEndpointURL},
		{"ipv6 zone", "Endpoint=https://[fe80::1%25eth0]:443;Authentication=None", KeyEndpoint, probEndpointURL},
		{"host with odd characters", "Endpoint=https://a*b;Authentication=None", KeyEndpoint, probEndpointURL},
		{"bad url", "Endpoint=https://s%zz" + secret + ";Authentication=None", KeyEndpoint, probEndpointURL},
		{"task hub with space", "Endpoint=https://s;Authentication=None;TaskHub=a b", KeyTaskHub, probTaskHubInvalid},
		{"empty tenant", "Endpoint=https://s;Authentication=AzureCLI;AdditionallyAllowedTenants=a,,b", KeyAdditionallyAllowedTenants, probTenantEmpty},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConnectionString(tc.in)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a *ConfigError", err)
			}
			if ce.Key != tc.key || ce.Problem != tc.problem {
				t.Fatalf("got key %q problem %q, want key %q problem %q", ce.Key, ce.Problem, tc.key, tc.problem)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error repeats a value: %v", err)
			}
			if !strings.HasPrefix(err.Error(), "connection string") {
				t.Fatalf("error does not name its source: %v", err)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	const cs = "Endpoint=https://s.durabletask.io;Authentication=ManagedIdentity;ClientID=c"
	tests := []struct {
		name string
		s    Settings
		want string // Config.String()
		err  string // substring of the error
	}{
		{name: "zero settings mean the local emulator", s: Settings{},
			want: "dts.Config{http://localhost:8080, TaskHub:default, Authentication:None, Token:\"\"}"},
		{name: "env defaults", s: Settings{Endpoint: DefaultEndpoint, TaskHub: DefaultTaskHub},
			want: "dts.Config{http://localhost:8080, TaskHub:default, Authentication:None, Token:\"\"}"},
		{name: "https endpoint means DefaultAzure", s: Settings{Endpoint: "https://s.durabletask.io", TaskHub: "h"},
			want: "dts.Config{https://s.durabletask.io:443, TaskHub:h, Authentication:DefaultAzure, Token:\"\"}"},
		{name: "managed identity client id", s: Settings{Endpoint: "https://s", TaskHub: "h", ManagedIdentityClientID: "c"},
			want: "dts.Config{https://s:443, TaskHub:h, Authentication:ManagedIdentity, Token:\"\"}"},
		{name: "TASKHUB_NAME beats TASKHUB", s: Settings{Endpoint: "http://h:1", TaskHub: "a", TaskHubName: "b"},
			want: "dts.Config{http://h:1, TaskHub:b, Authentication:None, Token:\"\"}"},
		{name: "managed identity over http", s: Settings{Endpoint: "http://h", ManagedIdentityClientID: "c"},
			err: "ENDPOINT is plaintext http"},
		{name: "token env over https", s: Settings{Endpoint: "https://h", Token: "secret-1"},
			want: "dts.Config{https://h:443, TaskHub:default, Authentication:None, Token:[redacted]}"},
		{name: "token env over http", s: Settings{Endpoint: "http://h", Token: "secret-1"},
			err: "would expose the bearer token"},
		{name: "token env with managed identity", s: Settings{Endpoint: "https://h", Token: "secret-1", ManagedIdentityClientID: "c"},
			err: EnvToken + " needs Authentication=None"},
		{name: "bad endpoint", s: Settings{Endpoint: "ftp://h"}, err: "ENDPOINT must use the http or https scheme"},
		{name: "bad task hub", s: Settings{TaskHub: "a;b"}, err: "TASKHUB must be"},
		{name: "connection string with TASKHUB_NAME", s: Settings{ConnectionString: cs, TaskHubName: "h"},
			want: "dts.Config{https://s.durabletask.io:443, TaskHub:h, Authentication:ManagedIdentity, Token:\"\"}"},
		{name: "connection string and TASKHUB_NAME agree", s: Settings{ConnectionString: cs + ";TaskHub=h", TaskHubName: "h"},
			want: "dts.Config{https://s.durabletask.io:443, TaskHub:h, Authentication:ManagedIdentity, Token:\"\"}"},
		{name: "connection string and TASKHUB_NAME disagree", s: Settings{ConnectionString: cs + ";TaskHub=h", TaskHubName: "other"},
			err: "TASKHUB_NAME disagrees"},
		{name: "no task hub anywhere", s: Settings{ConnectionString: cs, TaskHub: "ignored"},
			err: "TaskHub is required (in the connection string or in TASKHUB_NAME)"},
		{name: "connection string error names the variable", s: Settings{ConnectionString: "Endpoint=https://s"},
			err: EnvConnectionString + ": Authentication is required"},
		{name: "token env with connection string", s: Settings{ConnectionString: "Endpoint=https://s;TaskHub=h;Authentication=None", Token: "secret-1"},
			want: "dts.Config{https://s:443, TaskHub:h, Authentication:None, Token:[redacted]}"},
		{name: "token env conflicts with connection string", s: Settings{ConnectionString: "Endpoint=https://s;TaskHub=h;Authentication=None;Token=a", Token: "secret-1"},
			err: EnvToken + " disagrees"},
		{name: "token env with entra connection string", s: Settings{ConnectionString: cs + ";TaskHub=h", Token: "secret-1"},
			err: EnvToken + " needs Authentication=None"},
		{name: "token env with http connection string", s: Settings{ConnectionString: "Endpoint=http://s;TaskHub=h;Authentication=None", Token: "secret-1"},
			err: "would expose the bearer token"},
		{name: "negative limit", s: Settings{MaxActivityWorkItems: -1}, err: EnvMaxActivityWorkItems + " must be a positive number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.s.Resolve()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got error %v, want one containing %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "secret-1") {
					t.Fatalf("error repeats the token: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if got.String() != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestResolveCarriesWorkerSettings(t *testing.T) {
	cfg, err := Settings{MaxOrchestrationWorkItems: 7, MaxActivityWorkItems: 9, WorkItemStreamTimeout: 42}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxOrchestrationWorkItems != 7 || cfg.MaxActivityWorkItems != 9 || cfg.WorkItemStreamTimeout != 42 {
		t.Fatalf("worker settings lost: %+v", cfg)
	}
}

func TestSecretsNotPrinted(t *testing.T) {
	const secret = "very-secret-token"
	s := Settings{ConnectionString: "Endpoint=https://s;TaskHub=h;Authentication=None;Token=" + secret, Token: secret}
	cfg, err := s.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{s.String(), cfg.String(), s.LogValue().String(), cfg.LogValue().String()} {
		if strings.Contains(out, secret) {
			t.Fatalf("secret printed: %s", out)
		}
	}
}

func TestParseAuthMode(t *testing.T) {
	for _, m := range authModes {
		for _, spelled := range []string{string(m), strings.ToLower(string(m)), strings.ToUpper(string(m)), " " + string(m) + " "} {
			if got, ok := ParseAuthMode(spelled); !ok || got != m {
				t.Errorf("ParseAuthMode(%q) = %q, %v", spelled, got, ok)
			}
		}
	}
	if _, ok := ParseAuthMode("Password"); ok {
		t.Error("ParseAuthMode accepted an unknown mode")
	}
}
