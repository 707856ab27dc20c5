// Package smtptest runs a real SMTP server on a loopback port for tests
// (github.com/emersion/go-smtp): plain, STARTTLS or implicit TLS with a
// certificate made for the test, AUTH PLAIN and LOGIN, and every message it
// accepts kept for the test to read.
package smtptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// The ways a Server protects its connections.
const (
	Plain    = "none"
	StartTLS = "starttls"
	TLS      = "tls"
)

// Options configure a Server.
type Options struct {
	// Security is Plain, StartTLS or TLS.
	Security string
	// Mechanisms are the AUTH mechanisms offered: "PLAIN", "LOGIN".
	// None means no AUTH.
	Mechanisms []string
	// Username and Password are the only credentials accepted.
	Username, Password string
	// Fail, when set, refuses every message with a 554.
	Fail bool
}

// Message is one message the server accepted.
type Message struct {
	From string
	To   []string
	Data []byte
	// User is who authenticated, TLS whether the session was encrypted.
	User string
	TLS  bool
}

// Server is a running SMTP server.
type Server struct {
	Host string
	Port int
	// Roots trust the server's certificate, made for 127.0.0.1.
	Roots *x509.CertPool

	mu       sync.Mutex
	messages []Message
	opts     Options
}

// Start runs a server on 127.0.0.1 until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	cert, roots := certificate(t)
	s := &Server{Host: "127.0.0.1", Roots: roots, opts: opts}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, encrypted := c.TLSConnectionState()
		return &session{srv: s, tls: encrypted}, nil
	}))
	srv.Domain = "smtptest.local"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.ErrorLog = discard{}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	switch opts.Security {
	case StartTLS:
		srv.TLSConfig = tlsCfg
	case TLS:
		lis = tls.NewListener(lis, tlsCfg)
	default:
		// AUTH in plain text, so that tests can check the client refuses
		// to use it.
		srv.AllowInsecureAuth = true
	}
	s.Port = lis.Addr().(*net.TCPAddr).Port
	go srv.Serve(lis)
	t.Cleanup(func() { srv.Close() })
	return s
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Messages are the messages accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

type session struct {
	srv  *Server
	tls  bool
	user string
	msg  Message
}

var errAuth = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication failed"}

func (s *session) AuthMechanisms() []string { return s.srv.opts.Mechanisms }

func (s *session) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if user != s.srv.opts.Username || pass != s.srv.opts.Password {
			return errAuth
		}
		s.user = user
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if len(s.srv.opts.Mechanisms) > 0 && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.msg = Message{From: from, User: s.user, TLS: s.tls}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.msg.To = append(s.msg.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.srv.opts.Fail {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 0, 0}, Message: "Transaction failed"}
	}
	s.msg.Data = data
	s.srv.mu.Lock()
	s.srv.messages = append(s.srv.messages, s.msg)
	s.srv.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.msg = Message{} }
func (s *session) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN, which go-sasl lacks.
type loginServer struct {
	check func(user, pass string) error
	user  string
	step  int
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		if len(response) > 0 {
			// The username came with the command.
			l.user = string(response)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 2:
		l.user = string(response)
		return []byte("Password:"), false, nil
	case 3:
		return nil, true, l.check(l.user, string(response))
	}
	return nil, true, errors.New("unexpected response")
}

// certificate makes a self-signed certificate for 127.0.0.1 and localhost.
func certificate(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, roots
}

type discard struct{}

func (discard) Printf(string, ...any) {}
func (discard) Println(...any)        {}
