// Package wire builds what the handler and the worker run with from their
// settings: the link signer, the audit signer and container, the client
// approval callbacks go through and the notification channels.
//
// It sits between two kinds of package that should not know each other:
// config, which holds the settings and imports nothing of the application,
// and the packages that own the objects (approval, notify, webhook,
// internal/safehttp), which know nothing of environment variables. Keeping
// every "setting to object" step here, rather than a FromConfig in each
// owner, leaves those packages free of config and puts the errors side by
// side, where they are easy to keep alike: each names the variable, never
// its value, which may be a secret.
package wire

import (
	"fmt"
	"log/slog"
	"net/mail"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/audit"
	"github.com/approvals-go/approvals/audit/blobexport"
	"github.com/approvals-go/approvals/config"
	"github.com/approvals-go/approvals/internal/safehttp"
	"github.com/approvals-go/approvals/notify"
	"github.com/approvals-go/approvals/webhook"
)

// LinkSigner returns the signer of the links approvers receive (the worker
// signs with it, the handler checks with it), or nil without a key.
func LinkSigner(k config.LinkKeys) (*approval.LinkSigner, error) {
	if err := k.Validate(); err != nil {
		return nil, err
	}
	s, err := approval.NewLinkSigner(k.Key, k.Previous)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", config.EnvName(k, "Key"), err)
	}
	return s, nil
}

// AuditSigner returns the signer that seals audit trails, or nil without
// a key.
func AuditSigner(k config.AuditKeys) (*audit.Signer, error) {
	if err := k.Validate(); err != nil {
		return nil, err
	}
	// The previous key alone first, so that an error names its variable.
	if _, err := audit.NewSigner(k.AuditKeyPrevious, ""); err != nil {
		return nil, fmt.Errorf("%s: %w", config.EnvName(k, "AuditKeyPrevious"), err)
	}
	s, err := audit.NewSigner(k.AuditKey, k.AuditKeyPrevious)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", config.EnvName(k, "AuditKey"), err)
	}
	return s, nil
}

// AuditExport returns the container the worker's audit export writes to
// and the signer that seals what it writes, or a nil container when the
// export is off. cred is the worker's identity, used unless a storage
// connection string gives an account key.
func AuditExport(x config.AuditExport, k config.AuditKeys, cred azcore.TokenCredential) (*container.Client, *audit.Signer, error) {
	if err := x.Validate(k); err != nil || x.ContainerURL == "" {
		return nil, nil, err
	}
	signer, err := AuditSigner(k)
	if err != nil {
		return nil, nil, err
	}
	c, err := blobexport.NewContainer(x.ContainerURL, x.StorageConnectionString, cred)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", config.EnvName(x, "StorageConnectionString"), err)
	}
	return c, signer, nil
}

// CallbackClient is the client for approval callbacks, which reaches the
// ranges of APPROVALS_CALLBACK_ALLOW beyond public addresses. The handler
// checks a start's callback_url with its CheckURL and the worker sends with
// it; both read the setting here, so they agree on what a callback may
// reach.
func CallbackClient(allow string) (*safehttp.Client, error) {
	list, err := safehttp.ParseAllow(allow)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", config.EnvName(config.Notify{}, "CallbackAllow"), err)
	}
	return safehttp.New(safehttp.Options{Allow: list}), nil
}

// Callbacks is what the worker sends approval callbacks with: the
// CallbackClient, and the secret that signs them (none when none is set).
func Callbacks(n config.Notify) (*webhook.Sender, error) {
	client, err := CallbackClient(n.CallbackAllow)
	if err != nil {
		return nil, err
	}
	if err := signingSecret(config.EnvName(n, "CallbackSecret"), n.CallbackSecret, false); err != nil {
		return nil, err
	}
	var secret []byte
	if n.CallbackSecret != "" {
		secret = []byte(n.CallbackSecret)
	}
	return &webhook.Sender{Client: client, Secret: secret}, nil
}

// Notifier builds the channels APPROVALS_NOTIFY names, checking the
// settings each needs, so that a mistake stops the worker at start-up
// rather than failing each notice.
func Notifier(n config.Notify, log *slog.Logger) (notify.Multi, error) {
	channels := config.EnvName(n, "Channels")
	var out notify.Multi
	var client *safehttp.Client
	for _, name := range strings.Split(n.Channels, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		for _, ch := range out {
			if ch.Name == name {
				return nil, fmt.Errorf("%s: names %s twice", channels, name)
			}
		}
		if client == nil && name != config.ChannelLog && name != config.ChannelEmail {
			allow, err := safehttp.ParseAllow(n.NotifyAllow)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", config.EnvName(n, "NotifyAllow"), err)
			}
			client = safehttp.New(safehttp.Options{Allow: allow})
		}
		var ch approval.Notifier
		switch name {
		case config.ChannelLog:
			ch = approval.LogNotifier{Logger: log}
		case config.ChannelEmail:
			e, err := email(n.SMTP)
			if err != nil {
				return nil, err
			}
			ch = e
		case config.ChannelTeams:
			if err := webhookURL(client, n, "TeamsWebhookURL", n.TeamsWebhookURL); err != nil {
				return nil, err
			}
			ch = &notify.Teams{URL: n.TeamsWebhookURL, Client: client}
		case config.ChannelSlack:
			if err := webhookURL(client, n, "SlackWebhookURL", n.SlackWebhookURL); err != nil {
				return nil, err
			}
			ch = &notify.Slack{URL: n.SlackWebhookURL, Client: client}
		case config.ChannelWebhook:
			if err := webhookURL(client, n, "WebhookURL", n.WebhookURL); err != nil {
				return nil, err
			}
			if err := signingSecret(config.EnvName(n, "WebhookSecret"), n.WebhookSecret, true); err != nil {
				return nil, err
			}
			ch = &notify.Webhook{URL: n.WebhookURL, Secret: []byte(n.WebhookSecret), Client: client}
		default:
			return nil, fmt.Errorf("%s: unknown channel %q: use %s, %s, %s, %s or %s, comma-separated", channels, name,
				config.ChannelLog, config.ChannelEmail, config.ChannelTeams, config.ChannelSlack, config.ChannelWebhook)
		}
		out = append(out, notify.Channel{Name: name, Notifier: ch})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: names no channel; %s logs each notice", channels, config.ChannelLog)
	}
	return out, nil
}

// webhookURL checks a webhook URL without quoting it: its path and query
// are the secret.
func webhookURL(c *safehttp.Client, n config.Notify, field, raw string) error {
	name := config.EnvName(n, field)
	if raw == "" {
		return fmt.Errorf("%s: is required by the channel %s names", name, config.EnvName(n, "Channels"))
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

// email builds the e-mail channel from its settings.
func email(s config.SMTP) (*notify.Email, error) {
	name := func(field string) string { return config.EnvName(s, field) }
	sec := notify.Security(strings.ToLower(strings.TrimSpace(s.Security)))
	switch {
	case s.Host == "":
		return nil, fmt.Errorf("%s: is required by the email channel", name("Host"))
	case sec != notify.StartTLS && sec != notify.ImplicitTLS && sec != notify.NoTLS:
		return nil, fmt.Errorf("%s: must be %s, %s or %s", name("Security"), notify.StartTLS, notify.ImplicitTLS, notify.NoTLS)
	case s.Port < 0 || s.Port > 65535:
		return nil, fmt.Errorf("%s: must be a port number", name("Port"))
	case s.Username == "" && s.Password != "":
		return nil, fmt.Errorf("%s: is set without %s", name("Password"), name("Username"))
	case s.Username != "" && s.Password == "":
		return nil, fmt.Errorf("%s: is required with %s", name("Password"), name("Username"))
	case sec == notify.NoTLS && s.Username != "" && s.Host != "localhost" && s.Host != "127.0.0.1" && s.Host != "::1":
		return nil, fmt.Errorf("%s: %s sends the password in plain text; use %s or %s", name("Security"), notify.NoTLS, notify.StartTLS, notify.ImplicitTLS)
	}
	if s.From == "" {
		return nil, fmt.Errorf("%s: is required by the email channel", name("From"))
	}
	from, err := mail.ParseAddress(s.From)
	if err != nil {
		return nil, fmt.Errorf("%s: is not an e-mail address such as \"Approvals <approvals@example.com>\"", name("From"))
	}
	var to []*mail.Address
	if strings.TrimSpace(s.To) != "" {
		if to, err = mail.ParseAddressList(s.To); err != nil {
			return nil, fmt.Errorf("%s: is not a comma-separated list of e-mail addresses", name("To"))
		}
	}
	return &notify.Email{
		Host: s.Host, Port: s.Port, Security: sec,
		Username: s.Username, Password: s.Password,
		From: from, Fallback: to,
	}, nil
}

// Groups reads the groups file (APPROVALS_GROUPS_FILE): who is in which
// approver group where no identity provider says it (the handler), and
// whom the worker tells of a group's approvals. Nil when none is set.
func Groups(path string) (*approval.Directory, error) {
	if path == "" {
		return nil, nil
	}
	name := config.EnvName(config.Handler{}, "GroupsFile")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: read the groups file: %w", name, err)
	}
	d, err := approval.ParseDirectory(data)
	if err != nil {
		return nil, fmt.Errorf("%s: the groups file %w", name, err)
	}
	return d, nil
}
