package config

import (
	"go/build"
	"strings"
	"testing"
)

// config is data: it imports the standard library and caarlos0/env, and
// nothing of the application. What builds objects from the settings lives
// in internal/wire.
func TestConfigImportsNothingOfTheApp(t *testing.T) {
	pkg, err := build.Default.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkg.Imports) == 0 {
		t.Fatal("found no imports: the check reads the wrong directory")
	}
	for _, path := range pkg.Imports {
		std := !strings.Contains(strings.SplitN(path, "/", 2)[0], ".")
		if !std && path != "github.com/caarlos0/env/v11" {
			t.Errorf("config imports %s: keep it to the standard library and caarlos0/env, and build objects from the settings in internal/wire", path)
		}
	}
}

func TestEnvName(t *testing.T) {
	for _, c := range []struct {
		settings any
		field    string
		want     string
	}{
		{Notify{}, "WebhookURL", "APPROVALS_WEBHOOK_URL"},
		{SMTP{}, "Host", "APPROVALS_SMTP_HOST"},
		{Notify{}, "Host", "APPROVALS_SMTP_HOST"},
		{Worker{}, "CallbackSecret", "APPROVALS_CALLBACK_SECRET"},
		{Handler{}, "Key", "APPROVALS_LINK_KEY"},
		{LinkKeys{}, "Previous", "APPROVALS_LINK_KEY_PREVIOUS"},
		{Handler{}, "Endpoint", "ENDPOINT"},
		{Handler{}, "NoSuchField", "NoSuchField"},
	} {
		if got := EnvName(c.settings, c.field); got != c.want {
			t.Errorf("EnvName(%T, %s) = %s, want %s", c.settings, c.field, got, c.want)
		}
	}
}
