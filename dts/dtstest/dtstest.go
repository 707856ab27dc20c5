// Package dtstest provides helpers for tests that talk to a scheduler over
// real gRPC connections: a self-signed TLS certificate, a fake Entra ID
// credential and a log recorder; and the context an activity is called
// with.
package dtstest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// SelfSigned returns a server TLS configuration with a fresh self-signed
// certificate for hosts (names or IP addresses; by default localhost and
// 127.0.0.1), and a pool that trusts it.
func SelfSigned(t testing.TB, hosts ...string) (*tls.Config, *x509.CertPool) {
	t.Helper()
	if len(hosts) == 0 {
		hosts = []string{"localhost", "127.0.0.1"}
	}
	var (
		names []string
		ips   []net.IP
	)
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
		} else {
			names = append(names, h)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatalf("serial: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: hosts[0]},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              names,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
		MinVersion:   tls.VersionTLS12,
	}, pool
}

// FakeCredential is an azcore.TokenCredential that hands out numbered
// tokens ("token-1", "token-2", ...) valid for Lifetime, counting fetches.
type FakeCredential struct {
	// Lifetime of each token; zero means an hour.
	Lifetime time.Duration
	// Now is the clock used for expiry; nil means time.Now.
	Now func() time.Time
	// Gate, when set, holds every fetch until it is closed, so a test can
	// pile up concurrent callers behind one fetch.
	Gate chan struct{}

	fetches atomic.Int64
	mu      sync.Mutex
	fail    error
	scopes  []string
}

// GetToken implements azcore.TokenCredential.
func (c *FakeCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if c.Gate != nil {
		select {
		case <-c.Gate:
		case <-ctx.Done():
			return azcore.AccessToken{}, ctx.Err()
		}
	}
	n := c.fetches.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.scopes = append(c.scopes, opts.Scopes...)
	if c.fail != nil {
		return azcore.AccessToken{}, c.fail
	}
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}
	life := c.Lifetime
	if life == 0 {
		life = time.Hour
	}
	return azcore.AccessToken{Token: "token-" + strconv.FormatInt(n, 10), ExpiresOn: now.Add(life)}, nil
}

// Fetches is how many tokens were requested.
func (c *FakeCredential) Fetches() int { return int(c.fetches.Load()) }

// Scopes lists the scopes requested so far.
func (c *FakeCredential) Scopes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.scopes...)
}

// Fail makes later fetches fail with err (nil restores success).
func (c *FakeCredential) Fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail = err
}

// ErrFake is a stand-in for a token endpoint failure.
var ErrFake = errors.New("fake token endpoint unavailable")

// Logs records log output for assertions. Its zero value is ready.
type Logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// Logger returns a debug-level text logger writing to l.
func (l *Logs) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// String returns everything logged so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Count returns how many logged lines contain s.
func (l *Logs) Count(s string) int {
	n := 0
	for _, line := range strings.Split(l.String(), "\n") {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// WritePEM writes the certificate and key of a SelfSigned configuration to
// dir as PEM files, for a server in another process, and returns their
// paths.
func WritePEM(t testing.TB, cfg *tls.Config, dir string) (certFile, keyFile string) {
	t.Helper()
	c := cfg.Certificates[0]
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatalf("encode key: %v", err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// NewMessage makes an empty message of one of durabletask-go's generated
// protocol types, which code outside that module cannot name. The caller
// must import durabletask-go's backend package so the types are registered.
func NewMessage(t testing.TB, name protoreflect.FullName) protoreflect.Message {
	t.Helper()
	mt, err := protoregistry.GlobalTypes.FindMessageByName(name)
	if err != nil {
		t.Fatalf("find %s: %v", name, err)
	}
	return mt.New()
}

// Reread reads m's wire form as the message name, as the other end of a
// connection that knows name does.
func Reread(t testing.TB, m proto.Message, name protoreflect.FullName) protoreflect.Message {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	into := NewMessage(t, name)
	if err := proto.Unmarshal(b, into.Interface()); err != nil {
		t.Fatal(err)
	}
	return into
}

// SetField sets a known field of m by name.
func SetField(m protoreflect.Message, name protoreflect.Name, v protoreflect.Value) {
	m.Set(m.Descriptor().Fields().ByName(name), v)
}

// Activity is the ActivityContext an activity sees when it is given Input,
// for calling an activity as a plain function.
type Activity struct{ Input any }

// GetInput reads Input into v as the worker would, through JSON.
func (a Activity) GetInput(v any) error {
	raw, err := json.Marshal(a.Input)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}

// Context is the background context.
func (Activity) Context() context.Context { return context.Background() }
