package wire

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/audit"
	"github.com/approvals-go/approvals/config"
	"github.com/approvals-go/approvals/internal/smtptest"
	"github.com/approvals-go/approvals/webhook"
)

// notifyEnv loads config.Notify from exactly the given variables.
func notifyEnv(t *testing.T, set map[string]string) (config.Notify, error) {
	t.Helper()
	for _, name := range envVars(reflect.TypeFor[config.Notify]()) {
		t.Setenv(name, "")
		os.Unsetenv(name)
	}
	for k, v := range set {
		t.Setenv(k, v)
	}
	return config.Load[config.Notify]()
}

// envVars lists the variables t and its nested structs are read from.
func envVars(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("env"), ","); name != "" {
			out = append(out, name)
		} else if f.Type.Kind() == reflect.Struct {
			out = append(out, envVars(f.Type)...)
		}
	}
	return out
}

// check builds what the worker builds from the settings at start-up, as
// config.Notify's Validate did before the builders moved here.
func check(n config.Notify) error {
	if _, err := Notifier(n, slog.New(slog.DiscardHandler)); err != nil {
		return err
	}
	_, err := Callbacks(n)
	return err
}

// sink is a plain-http receiver on loopback, reachable when the
// allow-list names 127.0.0.1.
type sink struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	sigs   []string
}

func newSink(t *testing.T, status int) *sink {
	s := &sink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, b)
		s.sigs = append(s.sigs, r.Header.Get(webhook.SignatureHeader))
		s.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.bodies)
}

func notice() approval.Notice {
	return approval.Notice{
		Request:  approval.Request{RequestID: "req-7", Requester: "carol", Item: "A new laptop", Approver: "alice@example.com"},
		Approver: "alice@example.com",
		URL:      "https://approvals.example/api/review/req-7?token=signed-for-alice",
		Signed:   true,
	}
}

func TestNotifyDefaultsToTheLog(t *testing.T) {
	cfg, err := notifyEnv(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Notifier(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.Names(), ","); got != "log" {
		t.Fatalf("channels %s, want log", got)
	}
	if cfg.SMTP.Security != "starttls" {
		t.Errorf("SMTP security defaults to %q", cfg.SMTP.Security)
	}
}

func TestNotifySettingsBuildEveryChannel(t *testing.T) {
	mailSrv := smtptest.Start(t, smtptest.Options{Security: smtptest.Plain, Mechanisms: []string{"PLAIN"}, Username: "mailer", Password: "mail-password"})
	teams, slack, hook := newSink(t, http.StatusAccepted), newSink(t, http.StatusOK), newSink(t, http.StatusNoContent)
	const secret = "0123456789abcdef0123456789abcdef"
	cfg, err := notifyEnv(t, map[string]string{
		"APPROVALS_NOTIFY":            " log, Email ,teams,slack,webhook",
		"APPROVALS_SMTP_HOST":         mailSrv.Host,
		"APPROVALS_SMTP_PORT":         strconv.Itoa(mailSrv.Port),
		"APPROVALS_SMTP_SECURITY":     "none",
		"APPROVALS_SMTP_USERNAME":     "mailer",
		"APPROVALS_SMTP_PASSWORD":     "mail-password",
		"APPROVALS_SMTP_FROM":         "Approvals <approvals@example.com>",
		"APPROVALS_TEAMS_WEBHOOK_URL": teams.URL + "/workflows/x",
		"APPROVALS_SLACK_WEBHOOK_URL": slack.URL + "/services/x",
		"APPROVALS_WEBHOOK_URL":       hook.URL + "/notices",
		"APPROVALS_WEBHOOK_SECRET":    secret,
		"APPROVALS_NOTIFY_ALLOW":      "127.0.0.1/32",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := check(cfg); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	m, err := Notifier(cfg, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.Names(), ","); got != "log,email,teams,slack,webhook" {
		t.Fatalf("channels %s", got)
	}
	if err := m.NotifyApprover(context.Background(), notice()); err != nil {
		t.Fatal(err)
	}
	if n := len(mailSrv.Messages()); n != 1 {
		t.Errorf("%d e-mails", n)
	}
	if teams.count() != 1 || slack.count() != 1 || hook.count() != 1 {
		t.Errorf("deliveries: teams %d, slack %d, webhook %d", teams.count(), slack.count(), hook.count())
	}
	if hook.count() == 1 && !webhook.Verify([]byte(secret), hook.bodies[0], hook.sigs[0]) {
		t.Error("the webhook's signature does not verify")
	}
	if !strings.Contains(logs.String(), "req-7") {
		t.Errorf("the log channel logged nothing: %s", logs.String())
	}
}

func TestNotifyRefusesBadSettings(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef"
	email := map[string]string{"APPROVALS_NOTIFY": "email", "APPROVALS_SMTP_HOST": "smtp.azurecomm.net", "APPROVALS_SMTP_FROM": "approvals@example.com"}
	with := func(base map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"unknown channel", map[string]string{"APPROVALS_NOTIFY": "log,pager"}, `APPROVALS_NOTIFY: unknown channel "pager"`},
		{"a channel twice", map[string]string{"APPROVALS_NOTIFY": "log,LOG"}, "APPROVALS_NOTIFY: names log twice"},
		{"no channel", map[string]string{"APPROVALS_NOTIFY": " , "}, "APPROVALS_NOTIFY: names no channel"},
		{"teams without URL", map[string]string{"APPROVALS_NOTIFY": "teams"}, "APPROVALS_TEAMS_WEBHOOK_URL: is required"},
		{"teams over http", map[string]string{"APPROVALS_NOTIFY": "teams", "APPROVALS_TEAMS_WEBHOOK_URL": "http://prod.logic.example/workflows/PLANTED-1"}, "APPROVALS_TEAMS_WEBHOOK_URL: destination refused: plain http"},
		{"slack to a private address", map[string]string{"APPROVALS_NOTIFY": "slack", "APPROVALS_SLACK_WEBHOOK_URL": "https://10.1.2.3/services/PLANTED-1"}, "APPROVALS_SLACK_WEBHOOK_URL: destination refused: 10.1.2.3 is a private address"},
		{"slack URL that does not parse", map[string]string{"APPROVALS_NOTIFY": "slack", "APPROVALS_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/PLANTED-1 \x7f"}, "APPROVALS_SLACK_WEBHOOK_URL: destination refused: not an absolute https URL"},
		{"webhook without secret", map[string]string{"APPROVALS_NOTIFY": "webhook", "APPROVALS_WEBHOOK_URL": "https://hooks.example.com/PLANTED-1"}, "APPROVALS_WEBHOOK_SECRET: is required"},
		{"short webhook secret", map[string]string{"APPROVALS_NOTIFY": "webhook", "APPROVALS_WEBHOOK_URL": "https://hooks.example.com/x", "APPROVALS_WEBHOOK_SECRET": "PLANTED-1"}, "APPROVALS_WEBHOOK_SECRET: must be at least 32 bytes"},
		{"bad allow-list", map[string]string{"APPROVALS_NOTIFY": "slack", "APPROVALS_SLACK_WEBHOOK_URL": "https://hooks.slack.com/x", "APPROVALS_NOTIFY_ALLOW": "10.0.0.0/8,intranet"}, `APPROVALS_NOTIFY_ALLOW: entry 2 ("intranet")`},
		{"no SMTP host", with(email, "APPROVALS_SMTP_HOST", ""), "APPROVALS_SMTP_HOST: is required"},
		{"no sender", with(email, "APPROVALS_SMTP_FROM", ""), "APPROVALS_SMTP_FROM: is required"},
		{"bad sender", with(email, "APPROVALS_SMTP_FROM", "approvals at example"), "APPROVALS_SMTP_FROM: is not an e-mail address"},
		{"bad fallback", with(email, "APPROVALS_SMTP_TO", "team@example.com, ops"), "APPROVALS_SMTP_TO: is not a comma-separated list"},
		{"bad security", with(email, "APPROVALS_SMTP_SECURITY", "ssl"), "APPROVALS_SMTP_SECURITY: must be starttls, tls or none"},
		{"bad port", with(email, "APPROVALS_SMTP_PORT", "70000"), "APPROVALS_SMTP_PORT: must be a port number"},
		{"password without username", with(email, "APPROVALS_SMTP_PASSWORD", "PLANTED-1"), "APPROVALS_SMTP_PASSWORD: is set without APPROVALS_SMTP_USERNAME"},
		{"username without password", with(email, "APPROVALS_SMTP_USERNAME", "mailer"), "APPROVALS_SMTP_PASSWORD: is required with APPROVALS_SMTP_USERNAME"},
		{"password in plain text", with(email, "APPROVALS_SMTP_SECURITY", "none", "APPROVALS_SMTP_USERNAME", "mailer", "APPROVALS_SMTP_PASSWORD", "PLANTED-1"), "APPROVALS_SMTP_SECURITY: none sends the password in plain text"},
		{"bad callback allow-list", map[string]string{"APPROVALS_CALLBACK_ALLOW": "10.0.0.0/40"}, `APPROVALS_CALLBACK_ALLOW: entry 1 ("10.0.0.0/40")`},
		{"short callback secret", map[string]string{"APPROVALS_CALLBACK_SECRET": "PLANTED-1"}, "APPROVALS_CALLBACK_SECRET: must be at least 32 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := notifyEnv(t, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			err = check(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "PLANTED") {
				t.Errorf("error %q echoes a secret", err)
			}
		})
	}
	cfg, err := notifyEnv(t, map[string]string{"APPROVALS_CALLBACK_ALLOW": "127.0.0.1/32, ::1", "APPROVALS_CALLBACK_SECRET": secret})
	if err != nil {
		t.Fatal(err)
	}
	snd, err := Callbacks(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if snd.Client == nil || string(snd.Secret) != secret {
		t.Fatalf("callback client %v, secret %q", snd.Client, snd.Secret)
	}
	if err := snd.Client.CheckURL("http://127.0.0.1:9000/cb"); err != nil {
		t.Errorf("the callback allow-list does not permit loopback: %v", err)
	}
}

// Secrets planted in every secret setting appear in no error and no log
// line, whether the deliveries fail at the server (a refused password, a
// 500, a 403) or are refused before anything is sent (a redirect to a
// private address).
func TestSecretsStayOutOfErrorsAndLogs(t *testing.T) {
	planted := map[string]string{
		"smtp password":    "PLANTED-smtp-password",
		"teams token":      "PLANTED-teams-sig",
		"slack token":      "PLANTED-slack-token",
		"webhook token":    "PLANTED-webhook-token",
		"webhook secret":   "PLANTED-webhook-secret-0123456789abcdef",
		"callback secret":  "PLANTED-callback-secret-0123456789abcdef",
		"approver's token": "PLANTED-link-token",
	}
	mailSrv := smtptest.Start(t, smtptest.Options{Security: smtptest.Plain, Mechanisms: []string{"PLAIN", "LOGIN"}, Username: "mailer", Password: "the right one"})
	failing, forbidden := newSink(t, http.StatusInternalServerError), newSink(t, http.StatusForbidden)
	// Slack's receiver redirects to a private address, with a token in
	// the new location: refused before anything is sent there.
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://10.0.0.1/services/"+planted["slack token"], http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirecting.Close)
	env := map[string]string{
		"APPROVALS_NOTIFY":            "log,email,teams,slack,webhook",
		"APPROVALS_SMTP_HOST":         mailSrv.Host,
		"APPROVALS_SMTP_PORT":         strconv.Itoa(mailSrv.Port),
		"APPROVALS_SMTP_SECURITY":     "none",
		"APPROVALS_SMTP_USERNAME":     "mailer",
		"APPROVALS_SMTP_PASSWORD":     planted["smtp password"],
		"APPROVALS_SMTP_FROM":         "approvals@example.com",
		"APPROVALS_TEAMS_WEBHOOK_URL": failing.URL + "/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=" + planted["teams token"],
		"APPROVALS_SLACK_WEBHOOK_URL": redirecting.URL + "/services/T0/B0/" + planted["slack token"],
		"APPROVALS_WEBHOOK_URL":       forbidden.URL + "/hooks/" + planted["webhook token"],
		"APPROVALS_WEBHOOK_SECRET":    planted["webhook secret"],
		"APPROVALS_CALLBACK_SECRET":   planted["callback secret"],
		"APPROVALS_NOTIFY_ALLOW":      "127.0.0.1/32",
	}
	cfg, err := notifyEnv(t, env)
	if err != nil {
		t.Fatal(err)
	}
	if err := check(cfg); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m, err := Notifier(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	n := notice()
	n.URL = "https://approvals.example/api/review/req-7?token=" + planted["approver's token"]
	sendErr := m.NotifyApprover(context.Background(), n)
	if sendErr == nil {
		t.Fatal("every channel but the log should have failed")
	}
	// What a caller of the notifier does with the error: log it.
	log.Error("notification failed", "err", sendErr)
	for _, ch := range []string{"email: ", "teams: ", "slack: ", "webhook: "} {
		if !strings.Contains(sendErr.Error(), ch) {
			t.Errorf("error %q does not report the %s channel", sendErr, ch)
		}
	}
	if failing.count() != 1 || forbidden.count() != 1 {
		t.Errorf("deliveries: teams %d, webhook %d; want one each", failing.count(), forbidden.count())
	}

	// Settings that do not load or do not check quote no value either.
	t.Setenv("APPROVALS_SMTP_PORT", planted["smtp password"])
	_, loadErr := config.Load[config.Notify]()
	if loadErr == nil {
		t.Fatal("a port that is not a number loaded")
	}
	env["APPROVALS_SMTP_PORT"] = "587"
	env["APPROVALS_TEAMS_WEBHOOK_URL"] = "https://10.9.9.9/workflows/" + planted["teams token"]
	cfg, err = notifyEnv(t, env)
	if err != nil {
		t.Fatal(err)
	}
	validateErr := check(cfg)
	if validateErr == nil {
		t.Fatal("a Teams URL at a private address passed")
	}

	for _, text := range []string{sendErr.Error(), loadErr.Error(), validateErr.Error(), logs.String()} {
		for what, s := range planted {
			if strings.Contains(text, s) {
				t.Errorf("the %s appears in %q", what, text)
			}
		}
	}
	t.Logf("the errors as reported: %v; %v; %v", sendErr, loadErr, validateErr)
}

func TestLinkSigner(t *testing.T) {
	if config.MinLinkKeyBytes != approval.MinLinkKeyBytes {
		t.Fatalf("config.MinLinkKeyBytes is %d, approval.MinLinkKeyBytes %d: config would pass keys the signer refuses, or refuse keys it takes",
			config.MinLinkKeyBytes, approval.MinLinkKeyBytes)
	}
	const key = "0123456789abcdef0123456789abcdef"
	if s, err := LinkSigner(config.LinkKeys{}); s != nil || err != nil {
		t.Errorf("no key: signer %v, error %v; want neither", s, err)
	}
	s, err := LinkSigner(config.LinkKeys{Key: key, Previous: strings.ToUpper(key)})
	if err != nil || s == nil {
		t.Fatalf("signer %v, error %v", s, err)
	}
	now := time.Now()
	if _, err := s.Check(s.Token("req-1", "bob", now.Add(time.Hour)), "req-1", now); err != nil {
		t.Errorf("the signer refuses its own link: %v", err)
	}
	for _, c := range []struct {
		keys config.LinkKeys
		says string
	}{
		{config.LinkKeys{Key: "PLANTED-short"}, "APPROVALS_LINK_KEY: the link key must be at least 32 bytes"},
		{config.LinkKeys{Previous: "PLANTED-0123456789abcdef0123456789abcdef"}, "APPROVALS_LINK_KEY: a previous link key is set without a current one"},
		{config.LinkKeys{Key: key, Previous: "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/PLANTED/1)"}, "APPROVALS_LINK_KEY_PREVIOUS: is an unresolved Key Vault reference"},
	} {
		_, err := LinkSigner(c.keys)
		if err == nil || !strings.Contains(err.Error(), c.says) || strings.Contains(err.Error(), "PLANTED") {
			t.Errorf("error %v, want one saying %q and quoting no key", err, c.says)
		}
	}
}

func TestAuditSigner(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, audit.KeySize))
	if s, err := AuditSigner(config.AuditKeys{}); s != nil || err != nil {
		t.Errorf("no key: signer %v, error %v; want neither", s, err)
	}
	s, err := AuditSigner(config.AuditKeys{AuditKey: key, AuditKeyPrevious: base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{8}, audit.KeySize))})
	if err != nil || s == nil || len(s.PublicKeys()) != 2 {
		t.Fatalf("signer %v, error %v", s, err)
	}
	for _, c := range []struct {
		keys config.AuditKeys
		says string
	}{
		{config.AuditKeys{AuditKey: "PLANTED-short"}, "APPROVALS_AUDIT_KEY: the audit key: it is not base64"},
		{config.AuditKeys{AuditKey: key, AuditKeyPrevious: "UExBTlRFRA=="}, "APPROVALS_AUDIT_KEY_PREVIOUS: the audit key: it is 7 bytes long"},
		{config.AuditKeys{AuditKeyPrevious: key}, "APPROVALS_AUDIT_KEY_PREVIOUS: a previous audit key is set without a current one"},
		{config.AuditKeys{AuditKey: "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/PLANTED/1)"}, "APPROVALS_AUDIT_KEY: is an unresolved Key Vault reference"},
	} {
		_, err := AuditSigner(c.keys)
		if err == nil || !strings.Contains(err.Error(), c.says) || strings.Contains(err.Error(), "PLANTED") {
			t.Errorf("error %v, want one saying %q and quoting no key", err, c.says)
		}
	}
}

// The handler checks a start's callback_url with CallbackClient and the
// worker sends with it; the two read the same variable, which its errors
// name.
func TestCallbackClient(t *testing.T) {
	if h, w := config.EnvName(config.Handler{}, "CallbackAllow"), config.EnvName(config.Worker{}, "CallbackAllow"); h != w || h != "APPROVALS_CALLBACK_ALLOW" {
		t.Fatalf("the handler reads the callback allow-list from %s, the worker from %s", h, w)
	}
	c, err := CallbackClient("127.0.0.1/32")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckURL("http://127.0.0.1:9000/cb"); err != nil {
		t.Errorf("the allow-list does not permit loopback: %v", err)
	}
	if c, _ := CallbackClient(""); c.CheckURL("http://127.0.0.1:9000/cb") == nil {
		t.Error("without an allow-list a callback may reach loopback")
	}
	if _, err := CallbackClient("10.0.0.0/8, intranet"); err == nil || !strings.HasPrefix(err.Error(), `APPROVALS_CALLBACK_ALLOW: entry 2 ("intranet")`) {
		t.Errorf("error %v, want one naming APPROVALS_CALLBACK_ALLOW and the entry", err)
	}
}

// The groups file is read once, and every fault names the variable, not
// the file's content.
func TestGroups(t *testing.T) {
	if d, err := Groups(""); d != nil || err != nil {
		t.Fatalf("no file = %v, %v", d, err)
	}
	dir := t.TempDir()
	good, bad := dir+"/good.json", dir+"/bad.json"
	os.WriteFile(good, []byte(`{"finance": ["bob"]}`), 0o600)
	os.WriteFile(bad, []byte(`{"finance": ["secret\u200bname"]}`), 0o600)
	d, err := Groups(good)
	if err != nil || len(d.GroupsOf("Bob")) != 1 {
		t.Fatalf("good file = %v, %v", d, err)
	}
	for _, path := range []string{bad, dir + "/missing.json"} {
		_, err := Groups(path)
		if err == nil || !strings.HasPrefix(err.Error(), "APPROVALS_GROUPS_FILE: ") || strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: %v", path, err)
		}
	}
}
