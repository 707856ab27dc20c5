package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/google/uuid"

	"github.com/approvals-go/approvals/approval"
)

// Security is how the connection to the SMTP server is protected.
type Security string

// The ways to reach an SMTP server.
const (
	// StartTLS connects in plain text and upgrades with STARTTLS before
	// anything else is sent (the submission port 587). A server that does
	// not offer STARTTLS is refused, never used in plain text.
	StartTLS Security = "starttls"
	// ImplicitTLS speaks TLS from the first byte (port 465).
	ImplicitTLS Security = "tls"
	// NoTLS is plain text, for a relay on the same host or network, such
	// as a development mail catcher. No password is sent this way except
	// to localhost.
	NoTLS Security = "none"
)

// Port is the usual port of s.
func (s Security) Port() int {
	switch s {
	case ImplicitTLS:
		return 465
	case NoTLS:
		return 25
	}
	return 587
}

// Email sends each notice as an e-mail with a plain-text and an HTML part.
// It goes to the approver when the approver is an e-mail address, with
// their own (signed) link; otherwise to Fallback, with the plain page link.
type Email struct {
	Host string
	// Port zero means Security's usual port.
	Port     int
	Security Security
	// Username and Password authenticate with AUTH PLAIN or, where the
	// server offers only that, AUTH LOGIN; no username means no AUTH.
	Username string
	Password string
	From     *mail.Address
	Fallback []*mail.Address
	// TLSConfig verifies the server; nil means the system's roots and
	// Host as the name.
	TLSConfig *tls.Config
	// Timeout bounds one delivery; zero means 30 seconds.
	Timeout time.Duration
	// Now is the clock of the Date header; nil means time.Now.
	Now func() time.Time
}

//go:embed templates/email.txt templates/email.html
var templateFiles embed.FS

var (
	textTemplate = texttemplate.Must(texttemplate.ParseFS(templateFiles, "templates/email.txt"))
	htmlTemplate = htmltemplate.Must(htmltemplate.New("email.html").Funcs(htmltemplate.FuncMap{"button": button}).ParseFS(templateFiles, "templates/email.html"))
)

// NotifyApprover implements approval.Notifier.
func (e *Email) NotifyApprover(ctx context.Context, n approval.Notice) error {
	m := messageOf(n)
	if e.From == nil {
		return errors.New("e-mail: no sender address is set")
	}
	to, personal := e.recipients(m)
	if len(to) == 0 {
		return fmt.Errorf("e-mail for %s: approver %q is not an e-mail address and no fallback recipients are set", m.ID, m.Approver)
	}
	if !personal {
		m.Link, m.Signed = m.Page, false
	}
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	msg, err := compose(m, e.From, to, now())
	if err != nil {
		return fmt.Errorf("e-mail for %s: %w", m.ID, err)
	}
	rcpts := make([]string, len(to))
	for i, a := range to {
		rcpts[i] = a.Address
	}
	if err := e.send(ctx, rcpts, msg); err != nil {
		return fmt.Errorf("e-mail for %s via %s: %w", m.ID, e.addr(), err)
	}
	return nil
}

// recipients are the approver, when an e-mail address (personal), or the
// fallback list.
func (e *Email) recipients(m message) (to []*mail.Address, personal bool) {
	who := strings.TrimSpace(m.Approver)
	if a, err := mail.ParseAddress(who); err == nil && a.Name == "" && a.Address == who {
		return []*mail.Address{a}, true
	}
	return e.Fallback, false
}

func (e *Email) security() Security {
	if e.Security == "" {
		return StartTLS
	}
	return e.Security
}

func (e *Email) addr() string {
	port := e.Port
	if port == 0 {
		port = e.security().Port()
	}
	return net.JoinHostPort(e.Host, strconv.Itoa(port))
}

func (e *Email) tlsConfig() *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if e.TLSConfig != nil {
		cfg = e.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = e.Host
	}
	return cfg
}

// send runs one SMTP transaction. net/smtp has no contexts, so the
// connection gets the deadline and is closed if ctx ends first.
func (e *Email) send(ctx context.Context, rcpts []string, msg []byte) error {
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", e.addr())
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	err = e.transact(conn, rcpts, msg)
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return err
}

func (e *Email) transact(conn net.Conn, rcpts []string, msg []byte) error {
	sec := e.security()
	if sec == ImplicitTLS {
		tc := tls.Client(conn, e.tlsConfig())
		if err := tc.Handshake(); err != nil {
			return fmt.Errorf("TLS: %w", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, e.Host)
	if err != nil {
		return err
	}
	defer c.Close()
	if sec == StartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("the server does not offer STARTTLS; for a server that speaks TLS from the start (port 465) use the tls security mode")
		}
		if err := c.StartTLS(e.tlsConfig()); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	}
	if e.Username != "" {
		auth, err := e.auth(c)
		if err != nil {
			return err
		}
		if err := c.Auth(auth); err != nil {
			return fmt.Errorf("authenticate as %s: %w", e.Username, err)
		}
	}
	if err := c.Mail(e.From.Address); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r); err != nil {
			return fmt.Errorf("RCPT TO %s: %w", r, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	return c.Quit()
}

// auth picks PLAIN, or LOGIN where the server offers only that (some
// Microsoft endpoints do).
func (e *Email) auth(c *smtp.Client) (smtp.Auth, error) {
	ok, params := c.Extension("AUTH")
	if !ok {
		return nil, errors.New("a username is set but the server offers no authentication")
	}
	mechs := strings.Fields(strings.ToUpper(params))
	for _, m := range mechs {
		if m == "PLAIN" {
			return smtp.PlainAuth("", e.Username, e.Password, e.Host), nil
		}
	}
	for _, m := range mechs {
		if m == "LOGIN" {
			return &loginAuth{user: e.Username, pass: e.Password, host: e.Host}, nil
		}
	}
	return nil, fmt.Errorf("the server offers neither AUTH PLAIN nor AUTH LOGIN (it offers %s)", params)
}

// loginAuth is AUTH LOGIN, which net/smtp lacks: the username and then the
// password, each in answer to a prompt. Like net/smtp's PLAIN it sends
// nothing over an unencrypted connection except to localhost.
type loginAuth struct {
	user, pass, host string
	step             int
}

func (a *loginAuth) Start(s *smtp.ServerInfo) (string, []byte, error) {
	if !s.TLS && s.Name != "localhost" && s.Name != "127.0.0.1" && s.Name != "::1" {
		return "", nil, errors.New("refusing to send a password over an unencrypted connection")
	}
	if s.Name != a.host {
		return "", nil, errors.New("wrong host name")
	}
	a.step = 0
	return "LOGIN", nil, nil
}

func (a *loginAuth) Next(_ []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	a.step++
	switch a.step {
	case 1:
		return []byte(a.user), nil
	case 2:
		return []byte(a.pass), nil
	}
	return nil, errors.New("the server asked for more than a username and a password")
}

// compose builds the message: headers and a multipart/alternative body
// with the plain-text part first and the HTML part, which mail clients
// prefer, last.
func compose(m message, from *mail.Address, to []*mail.Address, now time.Time) ([]byte, error) {
	var text, html bytes.Buffer
	if err := textTemplate.Execute(&text, m); err != nil {
		return nil, fmt.Errorf("render text: %w", err)
	}
	if err := htmlTemplate.Execute(&html, m); err != nil {
		return nil, fmt.Errorf("render HTML: %w", err)
	}

	var body bytes.Buffer
	mp := multipart.NewWriter(&body)
	for _, part := range []struct {
		contentType string
		content     []byte
	}{{"text/plain; charset=utf-8", text.Bytes()}, {"text/html; charset=utf-8", html.Bytes()}} {
		w, err := mp.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.contentType},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		qp := quotedprintable.NewWriter(w)
		if _, err := qp.Write(part.content); err != nil {
			return nil, err
		}
		if err := qp.Close(); err != nil {
			return nil, err
		}
	}
	if err := mp.Close(); err != nil {
		return nil, err
	}

	tos := make([]string, len(to))
	for i, a := range to {
		tos[i] = a.String()
	}
	_, domain, _ := strings.Cut(from.Address, "@")
	var msg bytes.Buffer
	for _, h := range [][2]string{
		{"Date", now.Format(time.RFC1123Z)},
		{"Message-ID", "<" + uuid.NewString() + "@" + domain + ">"},
		{"From", from.String()},
		{"To", strings.Join(tos, ",\r\n ")},
		{"Subject", fold(mime.QEncoding.Encode("utf-8", m.Title()))},
		{"MIME-Version", "1.0"},
		{"Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mp.Boundary()})},
		// Ask for no out-of-office or other automatic replies (RFC 3834,
		// and Exchange's own header).
		{"Auto-Submitted", "auto-generated"},
		{"X-Auto-Response-Suppress", "All"},
	} {
		msg.WriteString(h[0] + ": " + h[1] + "\r\n")
	}
	msg.WriteString("\r\n")
	msg.Write(body.Bytes())
	return msg.Bytes(), nil
}

// fold puts each encoded word of a header on its own line, keeping lines
// short however long the subject.
func fold(encoded string) string {
	return strings.ReplaceAll(encoded, "?= =?", "?=\r\n =?")
}
