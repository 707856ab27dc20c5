package webhook_test

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/internal/safehttp"
	"github.com/approvals-go/approvals/webhook"
)

// GitHub's documented example of X-Hub-Signature-256, which signs the same
// way: a receiver written for GitHub's scheme verifies ours.
func TestSignMatchesGitHubsExample(t *testing.T) {
	got := webhook.Sign([]byte("It's a Secret to Everybody"), []byte("Hello, World!"))
	if want := "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	secret, body := []byte("0123456789abcdef0123456789abcdef"), []byte(`{"id":"req-1","status":"Approved"}`)
	sig := webhook.Sign(secret, body)
	if !webhook.Verify(secret, body, sig) {
		t.Fatal("a signature does not verify")
	}
	for name, tc := range map[string]struct {
		secret, body []byte
		header       string
	}{
		"changed body": {secret, []byte(`{"id":"req-1","status":"Rejected"}`), sig},
		"other secret": {[]byte("fedcba9876543210fedcba9876543210"), body, sig},
		"no prefix":    {secret, body, sig[len("sha256="):]},
		"other prefix": {secret, body, "sha1=" + sig[len("sha256="):]},
		"not hex":      {secret, body, "sha256=zz"},
		"truncated":    {secret, body, sig[:len(sig)-2]},
		"empty":        {secret, body, ""},
	} {
		if webhook.Verify(tc.secret, tc.body, tc.header) {
			t.Errorf("%s: verified", name)
		}
	}
}

func TestPostSendsTheHeaders(t *testing.T) {
	secret, body := []byte("0123456789abcdef0123456789abcdef"), []byte(`{"id":"req-1","status":"Approved"}`)
	var got http.Header
	var gotBody []byte
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		gotBody, _ = io.ReadAll(r.Body)
	}))
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	c := safehttp.New(safehttp.Options{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, RootCAs: roots})
	sent := time.Unix(1767225600, 0)
	if err := webhook.Post(context.Background(), c, srv.URL+"/cb", secret, body, "d-1", sent); err != nil {
		t.Fatal(err)
	}
	if string(gotBody) != string(body) || !webhook.Verify(secret, gotBody, got.Get(webhook.SignatureHeader)) {
		t.Errorf("body %s with signature %q", gotBody, got.Get(webhook.SignatureHeader))
	}
	if got.Get(webhook.TimestampHeader) != strconv.FormatInt(sent.Unix(), 10) || got.Get(webhook.DeliveryHeader) != "d-1" || got.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", got)
	}
}

var _ approval.CallbackSender = (*webhook.Sender)(nil)

// A callback is sent with its idempotency key as the delivery id, signed
// when a secret is set and unsigned otherwise.
func TestSenderDeliversCallbacks(t *testing.T) {
	var sigs, ids []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sigs = append(sigs, r.Header.Get(webhook.SignatureHeader))
		ids = append(ids, r.Header.Get(webhook.DeliveryHeader))
	}))
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	c := safehttp.New(safehttp.Options{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, RootCAs: roots})
	secret, body := []byte("0123456789abcdef0123456789abcdef"), []byte(`{"id":"req-1","status":"Approved"}`)
	for _, s := range []*webhook.Sender{{Client: c, Secret: secret}, {Client: c}} {
		if err := s.SendCallback(context.Background(), srv.URL+"/cb", body, "approval-req-1"); err != nil {
			t.Fatal(err)
		}
	}
	if len(sigs) != 2 || !webhook.Verify(secret, body, sigs[0]) || sigs[1] != "" {
		t.Errorf("signatures %q: want a valid one, then none", sigs)
	}
	if len(ids) != 2 || ids[0] != "approval-req-1" || ids[1] != "approval-req-1" {
		t.Errorf("delivery ids %q", ids)
	}
	refused := &webhook.Sender{Client: safehttp.New(safehttp.Options{}), Secret: secret}
	if err := refused.SendCallback(context.Background(), srv.URL+"/cb", body, "approval-req-1"); !errors.Is(err, safehttp.ErrRefused) {
		t.Errorf("a loopback callback without the allow-list: %v", err)
	}
	if len(ids) != 2 {
		t.Errorf("the refused callback was delivered")
	}
}
