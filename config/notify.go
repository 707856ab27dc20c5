package config

import (
	"fmt"
	"log/slog"
	"net/mail"
	"reflect"
	"strings"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/internal/safehttp"
	"github.com/approvals-go/approvals/notify"
	"github.com/approvals-go/approvals/webhook"
)

// Notify configures how the worker tells approvers about requests, and
// where its outbound HTTP requests (notification webhooks, approval
// callbacks) may go.
//
// The secrets among them are the SMTP password, the three webhook URLs
// (each carries the token that lets anyone post) and the two signing
// secrets; in Azure they are Key Vault references. They are never logged,
// and errors name the variable, never its value.
type Notify struct {
	// Channels are the notifiers, comma-separated: log, email, teams,
	// slack, webhook. Several may be named; each notice goes through all
	// of them.
	Channels string `env:"APPROVALS_NOTIFY" envDefault:"log"`
	SMTP     SMTP
	// TeamsWebhookURL is a Teams Workflows webhook ("Post to a channel
	// when a webhook request is received").
	TeamsWebhookURL string `env:"APPROVALS_TEAMS_WEBHOOK_URL"`
	// SlackWebhookURL is a Slack incoming webhook.
	SlackWebhookURL string `env:"APPROVALS_SLACK_WEBHOOK_URL"`
	// WebhookURL receives each notice as signed JSON; WebhookSecret signs
	// it.
	WebhookURL    string `env:"APPROVALS_WEBHOOK_URL"`
	WebhookSecret string `env:"APPROVALS_WEBHOOK_SECRET"`
	// NotifyAllow lists CIDR ranges, comma-separated, that the three
	// webhooks may reach although they are not public addresses, and by
	// plain http: a receiver inside your own network.
	NotifyAllow string `env:"APPROVALS_NOTIFY_ALLOW"`
	// CallbackAllow is the same for approval callbacks, whose URLs the
	// callers choose; kept apart so that trusting an internal notification
	// receiver does not open the network to every caller.
	CallbackAllow string `env:"APPROVALS_CALLBACK_ALLOW"`
	// CallbackSecret signs approval callbacks.
	CallbackSecret string `env:"APPROVALS_CALLBACK_SECRET"`
}

// SMTP configures the e-mail channel.
type SMTP struct {
	Host string `env:"APPROVALS_SMTP_HOST"`
	// Port zero means the usual port of Security: 587, 465 or 25.
	Port int `env:"APPROVALS_SMTP_PORT"`
	// Security is starttls, tls (TLS from the first byte) or none.
	Security string `env:"APPROVALS_SMTP_SECURITY" envDefault:"starttls"`
	// Username and Password authenticate (AUTH PLAIN or LOGIN); no
	// username means no authentication.
	Username string `env:"APPROVALS_SMTP_USERNAME"`
	Password string `env:"APPROVALS_SMTP_PASSWORD"`
	// From is the sender, "Approvals <approvals@example.com>" or a bare
	// address.
	From string `env:"APPROVALS_SMTP_FROM"`
	// To lists the addresses, comma-separated, that get a notice whose
	// approver is not an e-mail address.
	To string `env:"APPROVALS_SMTP_TO"`
}

// The channel names of APPROVALS_NOTIFY.
const (
	ChannelLog     = "log"
	ChannelEmail   = "email"
	ChannelTeams   = "teams"
	ChannelSlack   = "slack"
	ChannelWebhook = "webhook"
)

// Notifier builds the channels APPROVALS_NOTIFY names, checking the
// settings each needs.
func (n Notify) Notifier(log *slog.Logger) (notify.Multi, error) {
	keys := envKeys(reflect.TypeOf(n))
	names := strings.Split(n.Channels, ",")
	var out notify.Multi
	var client *safehttp.Client
	for _, name := range names {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		for _, ch := range out {
			if ch.Name == name {
				return nil, fmt.Errorf("%s: names %s twice", keys["Channels"], name)
			}
		}
		if client == nil && name != ChannelLog && name != ChannelEmail {
			allow, err := safehttp.ParseAllow(n.NotifyAllow)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", keys["NotifyAllow"], err)
			}
			client = safehttp.New(safehttp.Options{Allow: allow})
		}
		var ch approval.Notifier
		switch name {
		case ChannelLog:
			ch = approval.LogNotifier{Logger: log}
		case ChannelEmail:
			e, err := n.SMTP.email()
			if err != nil {
				return nil, err
			}
			ch = e
		case ChannelTeams:
			if err := webhookURL(client, keys, "TeamsWebhookURL", n.TeamsWebhookURL); err != nil {
				return nil, err
			}
			ch = &notify.Teams{URL: n.TeamsWebhookURL, Client: client}
		case ChannelSlack:
			if err := webhookURL(client, keys, "SlackWebhookURL", n.SlackWebhookURL); err != nil {
				return nil, err
			}
			ch = &notify.Slack{URL: n.SlackWebhookURL, Client: client}
		case ChannelWebhook:
			if err := webhookURL(client, keys, "WebhookURL", n.WebhookURL); err != nil {
				return nil, err
			}
			if err := signingSecret(keys["WebhookSecret"], n.WebhookSecret, true); err != nil {
				return nil, err
			}
			ch = &notify.Webhook{URL: n.WebhookURL, Secret: []byte(n.WebhookSecret), Client: client}
		default:
			return nil, fmt.Errorf("%s: unknown channel %q: use %s, %s, %s, %s or %s, comma-separated",
				keys["Channels"], name, ChannelLog, ChannelEmail, ChannelTeams, ChannelSlack, ChannelWebhook)
		}
		out = append(out, notify.Channel{Name: name, Notifier: ch})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: names no channel; %s logs each notice", keys["Channels"], ChannelLog)
	}
	return out, nil
}

// Callback is the client approval callbacks are sent with, which reaches
// the ranges of APPROVALS_CALLBACK_ALLOW beyond public addresses, and the
// secret that signs them (nil when none is set).
func (n Notify) Callback() (*safehttp.Client, []byte, error) {
	keys := envKeys(reflect.TypeOf(n))
	allow, err := safehttp.ParseAllow(n.CallbackAllow)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keys["CallbackAllow"], err)
	}
	if err := signingSecret(keys["CallbackSecret"], n.CallbackSecret, false); err != nil {
		return nil, nil, err
	}
	var secret []byte
	if n.CallbackSecret != "" {
		secret = []byte(n.CallbackSecret)
	}
	return safehttp.New(safehttp.Options{Allow: allow}), secret, nil
}

// Validate checks every setting Notifier and Callback use, so that a
// mistake stops the worker at start-up rather than failing each notice.
func (n Notify) Validate() error {
	if _, err := n.Notifier(slog.New(slog.DiscardHandler)); err != nil {
		return err
	}
	_, _, err := n.Callback()
	return err
}

// webhookURL checks a webhook URL without quoting it: its path and query
// are the secret.
func webhookURL(c *safehttp.Client, keys map[string]string, field, raw string) error {
	name := keys[field]
	if raw == "" {
		return fmt.Errorf("%s: is required by the channel %s names", name, keys["Channels"])
	}
	if err := c.CheckURL(raw); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func signingSecret(name, secret string, required bool) error {
	switch {
	case secret == "" && required:
		return fmt.Errorf("%s: is required: receivers check each delivery's signature with it (for example `openssl rand -hex 32`)", name)
	case secret != "" && len(secret) < webhook.MinSecretBytes:
		return fmt.Errorf("%s: must be at least %d bytes long (for example `openssl rand -hex 32`)", name, webhook.MinSecretBytes)
	}
	return nil
}

func (s SMTP) email() (*notify.Email, error) {
	keys := envKeys(reflect.TypeOf(s))
	sec := notify.Security(strings.ToLower(strings.TrimSpace(s.Security)))
	switch {
	case s.Host == "":
		return nil, fmt.Errorf("%s: is required by the email channel", keys["Host"])
	case sec != notify.StartTLS && sec != notify.ImplicitTLS && sec != notify.NoTLS:
		return nil, fmt.Errorf("%s: must be %s, %s or %s", keys["Security"], notify.StartTLS, notify.ImplicitTLS, notify.NoTLS)
	case s.Port < 0 || s.Port > 65535:
		return nil, fmt.Errorf("%s: must be a port number", keys["Port"])
	case s.Username == "" && s.Password != "":
		return nil, fmt.Errorf("%s: is set without %s", keys["Password"], keys["Username"])
	case s.Username != "" && s.Password == "":
		return nil, fmt.Errorf("%s: is required with %s", keys["Password"], keys["Username"])
	case sec == notify.NoTLS && s.Username != "" && s.Host != "localhost" && s.Host != "127.0.0.1" && s.Host != "::1":
		return nil, fmt.Errorf("%s: %s sends the password in plain text; use %s or %s", keys["Security"], notify.NoTLS, notify.StartTLS, notify.ImplicitTLS)
	}
	if s.From == "" {
		return nil, fmt.Errorf("%s: is required by the email channel", keys["From"])
	}
	from, err := mail.ParseAddress(s.From)
	if err != nil {
		return nil, fmt.Errorf("%s: is not an e-mail address such as \"Approvals <approvals@example.com>\"", keys["From"])
	}
	var to []*mail.Address
	if strings.TrimSpace(s.To) != "" {
		if to, err = mail.ParseAddressList(s.To); err != nil {
			return nil, fmt.Errorf("%s: is not a comma-separated list of e-mail addresses", keys["To"])
		}
	}
	return &notify.Email{
		Host: s.Host, Port: s.Port, Security: sec,
		Username: s.Username, Password: s.Password,
		From: from, Fallback: to,
	}, nil
}
