package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/internal/safehttp"
)

type obj = map[string]any

var jsonHeader = http.Header{"Content-Type": {"application/json"}}

// Teams posts each notice to a Microsoft Teams channel or chat through a
// Workflows webhook ("Post to a channel when a webhook request is
// received"): an Adaptive Card with the request and Approve and Reject
// buttons that open the review page.
type Teams struct {
	// URL is the workflow's webhook URL. It is a secret: its sig
	// parameter is all it takes to post.
	URL    string
	Client *safehttp.Client
}

// NotifyApprover implements approval.Notifier.
func (t *Teams) NotifyApprover(ctx context.Context, n approval.Notice) error {
	m := messageOf(n)
	return post(ctx, t.Client, t.URL, "teams card for "+m.ID, teamsMessage(m))
}

// post sends a chat payload to a webhook; what names it in errors.
func post(ctx context.Context, c *safehttp.Client, url, what string, payload obj) error {
	body, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := c.Post(ctx, url, jsonHeader, body); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// teamsMessage is the card in the message envelope Workflows expects.
// Text people typed is put in TextRuns, which Teams shows as it is: a
// TextBlock would read it as Markdown, so a request could carry a link
// dressed up as something else.
func teamsMessage(m message) obj {
	body := []any{
		obj{"type": "RichTextBlock", "inlines": []any{
			obj{"type": "TextRun", "text": m.Title(), "weight": "Bolder", "size": "Medium"},
		}},
		obj{"type": "RichTextBlock", "inlines": []any{obj{"type": "TextRun", "text": m.Lead()}}},
		obj{"type": "Container", "style": "emphasis", "items": []any{
			obj{"type": "RichTextBlock", "inlines": []any{obj{"type": "TextRun", "text": m.Item}}},
		}},
	}
	for _, f := range facts(m) {
		body = append(body, obj{"type": "RichTextBlock", "inlines": []any{
			obj{"type": "TextRun", "text": f[0] + ": ", "weight": "Bolder"},
			obj{"type": "TextRun", "text": f[1]},
		}})
	}
	card := obj{
		"$schema":      "http://adaptivecards.io/schemas/adaptive-card.json",
		"type":         "AdaptiveCard",
		"version":      "1.4",
		"fallbackText": m.Title(),
		"body":         body,
		"actions": []any{
			obj{"type": "Action.OpenUrl", "title": "Approve", "url": button(m.Page, "approve"), "style": "positive"},
			obj{"type": "Action.OpenUrl", "title": "Reject", "url": button(m.Page, "reject"), "style": "destructive"},
		},
		"msteams": obj{"width": "Full"},
	}
	return obj{
		"type": "message",
		"attachments": []any{obj{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"contentUrl":  nil,
			"content":     card,
		}},
	}
}

// facts are the labelled lines of a notice.
func facts(m message) [][2]string {
	out := [][2]string{{"Requested by", m.Requester}}
	if m.Approver != "" {
		out = append(out, [2]string{"Approver", m.Approver})
	}
	out = append(out, [2]string{"Request", m.ID})
	if d := m.DeadlineText(); d != "" {
		out = append(out, [2]string{"Decide by", d})
	}
	return out
}

// Slack posts each notice to a Slack channel through an incoming webhook:
// Block Kit with the request and Approve and Reject buttons that open the
// review page.
type Slack struct {
	// URL is the incoming webhook's URL, https://hooks.slack.com/services/…
	// It is a secret: it is all it takes to post.
	URL    string
	Client *safehttp.Client
}

// NotifyApprover implements approval.Notifier.
func (s *Slack) NotifyApprover(ctx context.Context, n approval.Notice) error {
	m := messageOf(n)
	return post(ctx, s.Client, s.URL, "slack message for "+m.ID, slackMessage(m))
}

// slackMessage is the Block Kit payload. Text people typed goes in
// plain_text objects, which Slack shows as they are; the top-level text,
// shown in notifications, is mrkdwn and so escaped. Lengths stay within
// Block Kit's limits (a header 150 characters, a field 2000, a section
// 3000).
func slackMessage(m message) obj {
	plain := func(s string, max int) obj {
		return obj{"type": "plain_text", "text": truncate(s, max), "emoji": false}
	}
	fields := []any{}
	for _, f := range facts(m) {
		fields = append(fields, plain(f[0]+": "+f[1], 2000))
	}
	return obj{
		"text": slackEscape(m.Title()),
		"blocks": []any{
			obj{"type": "header", "text": plain(m.Title(), 150)},
			obj{"type": "section", "text": plain(m.Lead(), 3000)},
			obj{"type": "section", "text": plain(m.Item, 3000)},
			obj{"type": "section", "fields": fields},
			obj{"type": "actions", "elements": []any{
				obj{"type": "button", "action_id": "approve", "text": plain("Approve", 75), "url": button(m.Page, "approve"), "style": "primary"},
				obj{"type": "button", "action_id": "reject", "text": plain("Reject", 75), "url": button(m.Page, "reject"), "style": "danger"},
			}},
		},
		"unfurl_links": false,
		"unfurl_media": false,
	}
}

// slackEscape escapes the three characters Slack's mrkdwn gives meaning
// to as controls (links, mentions).
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace
