package config

import (
	"strings"
	"testing"
	"time"
)

func TestValidatePublicBaseURL(t *testing.T) {
	for _, ok := range []string{
		"", "https://approvals.example.com", "http://localhost:7071/", "HTTPS://Approvals.Example.com",
		"https://func-approvals.azurewebsites.net/base", "https://[2001:db8::1]:8443", "https://203.0.113.7",
	} {
		if err := (Handler{PublicBaseURL: ok}).Validate(); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, c := range []struct{ url, says string }{
		{"approvals.example.com", "absolute http or https URL"},
		{"/api", "absolute http or https URL"},
		{"ftp://approvals.example.com", "absolute http or https URL"},
		{"javascript:alert(1)", "absolute http or https URL"},
		{"https://", "absolute http or https URL"},
		{"https://:8443", "absolute http or https URL"},
		{"https:approvals.example.com", "absolute http or https URL"},
		{"https://approvals.example.com:port", "absolute http or https URL"},
		{"https://exa mple.com", "absolute http or https URL"},
		{"https://bob:hunter2@approvals.example.com", "user name or password"},
		{"https://approvals.example.com/?code=abc", "query or fragment"},
		{"https://approvals.example.com/?", "query or fragment"},
		{"https://approvals.example.com/#top", "query or fragment"},
		{"https://approvals.example.com/a b", "percent-encoded"},
		{"https://bücher.example", "xn--"},
	} {
		err := (Handler{PublicBaseURL: c.url}).Validate()
		if err == nil {
			t.Errorf("%q accepted", c.url)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "APPROVALS_PUBLIC_BASE_URL: ") || !strings.Contains(msg, c.says) {
			t.Errorf("%q: error %q, want the variable and %q", c.url, msg, c.says)
		}
		if strings.Contains(msg, "hunter2") || strings.Contains(msg, "abc") {
			t.Errorf("%q: error %q echoes the value", c.url, msg)
		}
	}
}

func TestValidateIdentityAndLinkKeys(t *testing.T) {
	for _, ok := range []Handler{{}, {Identity: IdentityBody}, {Identity: IdentityAppService},
		{Links: LinkKeys{Key: "0123456789abcdef0123456789abcdef"}}} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%+v refused: %v", ok.Identity, err)
		}
	}
	for _, bad := range []Handler{{Identity: "easyauth"}, {Links: LinkKeys{Key: "s3cr3t-but-short"}}, {Links: LinkKeys{Previous: "0123456789abcdef0123456789abcdef"}},
		{Links: LinkKeys{Key: "@Microsoft.KeyVault(SecretUri=https://kv-s3cr3t.vault.azure.net/secrets/approvals-link-key/0123456789)"}}} {
		err := bad.Validate()
		if err == nil || strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "0123456789") {
			t.Errorf("%+v: err = %v, want a refusal naming no secret", bad.Identity, err)
		}
	}
}

// The audit export runs only as it can: a container's URL without a SAS
// token, the key that seals what it writes, positive durations. Off, it
// asks for nothing.
func TestValidateAuditExport(t *testing.T) {
	key := AuditKeys{AuditKey: "s3cr3t-key"}
	on := AuditExport{ContainerURL: "https://st.blob.core.windows.net/audit", ExportEvery: time.Minute, ExportLookback: time.Hour}
	if err := (AuditExport{}).Validate(AuditKeys{}); err != nil {
		t.Errorf("off: %v", err)
	}
	if err := on.Validate(key); err != nil {
		t.Errorf("on: %v", err)
	}
	for _, c := range []struct {
		export AuditExport
		keys   AuditKeys
		says   string
	}{
		{on, AuditKeys{}, "APPROVALS_AUDIT_CONTAINER_URL: is set, but APPROVALS_AUDIT_KEY is not"},
		{AuditExport{ContainerURL: "https://st.blob.core.windows.net", ExportEvery: time.Minute, ExportLookback: time.Hour}, key, "APPROVALS_AUDIT_CONTAINER_URL: must be a container's URL"},
		{AuditExport{ContainerURL: "https://st.blob.core.windows.net/audit?sig=s3cr3t", ExportEvery: time.Minute, ExportLookback: time.Hour}, key, "must not hold a query"},
		{AuditExport{ContainerURL: on.ContainerURL, ExportLookback: time.Hour}, key, "APPROVALS_AUDIT_EXPORT_EVERY: must be positive"},
		{on, AuditKeys{AuditKey: "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/s3cr3t/1)"}, "APPROVALS_AUDIT_KEY: is an unresolved Key Vault reference"},
	} {
		err := c.export.Validate(c.keys)
		if err == nil || !strings.Contains(err.Error(), c.says) || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%+v: err = %v, want one saying %q and naming no secret", c.export, err, c.says)
		}
	}
}
