package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/smtp"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/internal/smtptest"
)

const (
	page       = "https://approvals.example/api/review/req-1"
	signedLink = page + "?token=eyJpZCI6InJlcS0xIn0.c2lnbmF0dXJl"
	// hostileItem tries HTML, a header of its own and Slack and Markdown
	// controls.
	hostileItem = "Laptop <b>bold</b> & \"dock\"\r\nBcc: mallory@example.com\n<!channel> [click](https://evil.example)"
)

func signedNotice(approver string) approval.Notice {
	return approval.Notice{
		Request:  approval.Request{RequestID: "req-1", Requester: "carol", Item: hostileItem, Approver: approver},
		Approver: approver,
		URL:      signedLink,
		Signed:   true,
	}
}

func emailTo(srv *smtptest.Server, security Security) *Email {
	return &Email{
		Host: srv.Host, Port: srv.Port, Security: security,
		Username: "mailer", Password: "correct horse battery staple",
		From:      &mail.Address{Name: "Approvals", Address: "approvals@example.com"},
		TLSConfig: &tls.Config{RootCAs: srv.Roots},
		Now:       func() time.Time { return time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC) },
	}
}

// parsed is a received message taken apart by the standard library's
// readers, which are independent of how compose builds it.
type parsed struct {
	header     mail.Header
	text, html string
	partTypes  []string
	encodings  []string
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("the message does not parse: %v\n%s", err, data)
	}
	p := parsed{header: msg.Header}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type = %q (%v), want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(quotedprintable.NewReader(part))
		if err != nil {
			t.Fatal(err)
		}
		p.partTypes = append(p.partTypes, part.Header.Get("Content-Type"))
		p.encodings = append(p.encodings, part.Header.Get("Content-Transfer-Encoding"))
		// Lines end in CRLF on the wire; compare them as Go text.
		text := strings.ReplaceAll(string(body), "\r\n", "\n")
		switch ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type")); ct {
		case "text/plain":
			p.text = text
		case "text/html":
			p.html = text
		}
	}
	return p
}

func TestEmailOverSTARTTLSWithAuthPlain(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Security: smtptest.StartTLS, Mechanisms: []string{"PLAIN"}, Username: "mailer", Password: "correct horse battery staple"})
	if err := emailTo(srv, StartTLS).NotifyApprover(context.Background(), signedNotice("alice@example.com")); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("the server received %d messages, want 1", len(msgs))
	}
	got := msgs[0]
	if !got.TLS || got.User != "mailer" || got.From != "approvals@example.com" || strings.Join(got.To, ",") != "alice@example.com" {
		t.Fatalf("session: TLS %v, user %q, from %q, to %v", got.TLS, got.User, got.From, got.To)
	}
	p := parse(t, got.Data)

	h := p.header
	if d, err := h.Date(); err != nil || !d.Equal(time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)) {
		t.Errorf("Date %q: %v %v", h.Get("Date"), d, err)
	}
	if !regexp.MustCompile(`^<[0-9a-f-]{36}@example\.com>$`).MatchString(h.Get("Message-ID")) {
		t.Errorf("Message-ID = %q", h.Get("Message-ID"))
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil || !strings.HasPrefix(subject, "Approval requested: Laptop <b>bold</b> & \"dock\" Bcc: mallory@example.com") {
		t.Errorf("Subject = %q (%v)", subject, err)
	}
	if from, err := h.AddressList("From"); err != nil || len(from) != 1 || from[0].Name != "Approvals" || from[0].Address != "approvals@example.com" {
		t.Errorf("From = %q (%v)", h.Get("From"), err)
	}
	if to, err := h.AddressList("To"); err != nil || len(to) != 1 || to[0].Address != "alice@example.com" {
		t.Errorf("To = %q (%v)", h.Get("To"), err)
	}
	if h.Get("MIME-Version") != "1.0" || h.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("MIME-Version %q, Auto-Submitted %q", h.Get("MIME-Version"), h.Get("Auto-Submitted"))
	}
	if h.Get("Bcc") != "" {
		t.Errorf("the request's text added a Bcc header: %q", h.Get("Bcc"))
	}

	if strings.Join(p.partTypes, " | ") != "text/plain; charset=utf-8 | text/html; charset=utf-8" || strings.Join(p.encodings, " ") != "quoted-printable quoted-printable" {
		t.Errorf("parts %v, encodings %v: want plain text then HTML, quoted-printable", p.partTypes, p.encodings)
	}
	for _, want := range []string{"carol asks for your approval.", strings.ReplaceAll(hostileItem, "\r\n", "\n"), "Request:      req-1", signedLink, "decide as alice@example.com"} {
		if !strings.Contains(p.text, want) {
			t.Errorf("the text part lacks %q:\n%s", want, p.text)
		}
	}
	for _, want := range []string{
		`href="` + signedLink + `#approve"`, `href="` + signedLink + `#reject"`, `href="` + signedLink + `"`,
		"Laptop &lt;b&gt;bold&lt;/b&gt; &amp; &#34;dock&#34;",
	} {
		if !strings.Contains(p.html, want) {
			t.Errorf("the HTML part lacks %q:\n%s", want, p.html)
		}
	}
	if strings.Contains(p.html, "<b>bold") {
		t.Errorf("the request's HTML reached the HTML part unescaped:\n%s", p.html)
	}
}

func TestEmailOverImplicitTLSWithAuthLogin(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Security: smtptest.TLS, Mechanisms: []string{"LOGIN"}, Username: "mailer", Password: "correct horse battery staple"})
	if err := emailTo(srv, ImplicitTLS).NotifyApprover(context.Background(), signedNotice("alice@example.com")); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || !msgs[0].TLS || msgs[0].User != "mailer" {
		t.Fatalf("messages %+v: want one, over TLS, from user mailer", msgs)
	}
	if p := parse(t, msgs[0].Data); !strings.Contains(p.text, signedLink) {
		t.Errorf("the text part lacks the link:\n%s", p.text)
	}
}

func TestEmailFallbackRecipientsGetThePlainPage(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Security: smtptest.StartTLS})
	e := emailTo(srv, StartTLS)
	e.Username, e.Password = "", ""
	e.Fallback = []*mail.Address{{Address: "team@example.com"}, {Name: "Ops", Address: "ops@example.com"}}
	if err := e.NotifyApprover(context.Background(), signedNotice("bob")); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || strings.Join(msgs[0].To, ",") != "team@example.com,ops@example.com" {
		t.Fatalf("messages %+v: want one to the fallback list", msgs)
	}
	p := parse(t, msgs[0].Data)
	if to, err := p.header.AddressList("To"); err != nil || len(to) != 2 {
		t.Errorf("To = %q (%v)", p.header.Get("To"), err)
	}
	for _, part := range []string{p.text, p.html} {
		if strings.Contains(part, "token=") {
			t.Errorf("a shared list received bob's signed link:\n%s", part)
		}
		if !strings.Contains(part, page) {
			t.Errorf("the message lacks the review page:\n%s", part)
		}
	}
}

func TestEmailRefusals(t *testing.T) {
	const password = "correct horse battery staple"
	cases := []struct {
		name   string
		opts   smtptest.Options
		sec    Security
		notice approval.Notice
		want   string
	}{
		{"no STARTTLS offered", smtptest.Options{Security: smtptest.Plain}, StartTLS, signedNotice("alice@example.com"), "does not offer STARTTLS"},
		{"wrong password", smtptest.Options{Security: smtptest.StartTLS, Mechanisms: []string{"PLAIN"}, Username: "mailer", Password: "another"}, StartTLS, signedNotice("alice@example.com"), "535"},
		{"no AUTH offered", smtptest.Options{Security: smtptest.StartTLS}, StartTLS, signedNotice("alice@example.com"), "offers no authentication"},
		{"no recipient", smtptest.Options{Security: smtptest.StartTLS, Mechanisms: []string{"PLAIN"}, Username: "mailer", Password: password}, StartTLS, signedNotice("bob"), "not an e-mail address"},
		{"message refused", smtptest.Options{Security: smtptest.StartTLS, Mechanisms: []string{"PLAIN"}, Username: "mailer", Password: password, Fail: true}, StartTLS, signedNotice("alice@example.com"), "554"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.Start(t, tc.opts)
			err := emailTo(srv, tc.sec).NotifyApprover(context.Background(), tc.notice)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), password) || strings.Contains(err.Error(), "token=") {
				t.Errorf("error %q holds a secret", err)
			}
			if n := len(srv.Messages()); n != 0 {
				t.Errorf("%d messages accepted", n)
			}
		})
	}
}

// net/smtp's PLAIN refuses to send a password in plain text to anything
// but localhost; LOGIN, ours, must too.
func TestLoginAuthRefusesPlainText(t *testing.T) {
	a := &loginAuth{user: "mailer", pass: "pw", host: "mail.example.com"}
	if _, _, err := a.Start(&smtp.ServerInfo{Name: "mail.example.com", TLS: false}); err == nil {
		t.Fatal("LOGIN would send a password over an unencrypted connection")
	}
	if _, _, err := a.Start(&smtp.ServerInfo{Name: "mail.example.com", TLS: true}); err != nil {
		t.Fatalf("LOGIN refused over TLS: %v", err)
	}
}

func TestKindsChangeTheWording(t *testing.T) {
	for kind, want := range map[approval.NoticeKind]string{
		"":                        "Approval requested: ",
		approval.NoticeRequest:    "Approval requested: ",
		approval.NoticeReminder:   "Reminder: approval still waiting: ",
		approval.NoticeEscalation: "Escalated to you: approval waiting: ",
		approval.NoticeChanges:    "Changes requested: ",
	} {
		n := signedNotice("alice@example.com")
		n.Kind = kind
		n.ExpiresAt = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
		m := messageOf(n)
		data, err := compose(m, &mail.Address{Address: "approvals@example.com"}, []*mail.Address{{Address: "alice@example.com"}}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		p := parse(t, data)
		subject, _ := new(mime.WordDecoder).DecodeHeader(p.header.Get("Subject"))
		if !strings.HasPrefix(subject, want) {
			t.Errorf("kind %q: subject %q, want it to start %q", kind, subject, want)
		}
		if !strings.Contains(p.text, "Decide by:    Mon 2 Mar 2026 09:30 UTC") || !strings.Contains(p.html, "Mon 2 Mar 2026 09:30 UTC") {
			t.Errorf("kind %q: the deadline is missing:\n%s", kind, p.text)
		}
	}
}
