package config

// Notify configures how the worker tells approvers about requests, and
// where its outbound HTTP requests (notification webhooks, approval
// callbacks) may go.
//
// The secrets among them are the SMTP password, the three webhook URLs
// (each carries the token that lets anyone post) and the two signing
// secrets; in Azure they are Key Vault references. They are never logged,
// and errors name the variable, never its value.
//
// internal/wire builds the channels (wire.Notifier) and the callback
// sender (wire.Callbacks) from these settings, and checks them as it does.
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
