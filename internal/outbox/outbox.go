// Package outbox keeps the notices a development worker sends, so that a
// person trying the app locally opens them as an approver would open the
// e-mail, signed links included, like Mailpit or MailHog do for mail.
//
// The notices hold secrets: a signed link lets whoever holds it decide as
// its approver. So the outbox lives in memory only, is served only by
// cmd/dev (whose HTTP port is on loopback unless told otherwise), and
// answers only requests addressed to localhost or an IP address, so that
// a page elsewhere cannot read it by rebinding a domain.
package outbox

import (
	"context"
	"encoding/json"
	"html/template"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/internal/exposure"
)

// Path is where cmd/dev serves the outbox.
const Path = "/dev/outbox"

// Entry is one notice as the outbox shows it.
type Entry struct {
	At        time.Time           `json:"at"`
	Kind      approval.NoticeKind `json:"kind"`
	Occasion  int                 `json:"occasion,omitempty"`
	RequestID string              `json:"request_id"`
	Requester string              `json:"requester"`
	Item      string              `json:"item"`
	// Approver is who the notice is for; empty when the request names
	// nobody and anyone but the requester may decide.
	Approver string `json:"approver,omitempty"`
	// URL opens the review page: a link signed for Approver when Signed.
	URL       string    `json:"url"`
	Signed    bool      `json:"signed"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Outbox is an approval.Notifier that keeps what it is given, the newest
// Max entries.
type Outbox struct {
	// Max bounds the entries kept; zero means 1000.
	Max int
	mu  sync.Mutex
	// entries are oldest first.
	entries []Entry
}

// NotifyApprover implements approval.Notifier.
func (o *Outbox) NotifyApprover(_ context.Context, n approval.Notice) error {
	kind := n.Kind
	if kind == "" {
		kind = approval.NoticeRequest
	}
	e := Entry{At: time.Now().UTC(), Kind: kind, Occasion: n.Occasion, RequestID: n.Request.RequestID, Requester: n.Request.Requester,
		Item: n.Request.Item, Approver: n.Approver, URL: n.URL, Signed: n.Signed, ExpiresAt: n.ExpiresAt.UTC()}
	max := o.Max
	if max <= 0 {
		max = 1000
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.entries = append(o.entries, e)
	if len(o.entries) > max {
		o.entries = append([]Entry(nil), o.entries[len(o.entries)-max:]...)
	}
	return nil
}

// Entries are the notices kept, newest first.
func (o *Outbox) Entries() []Entry {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]Entry, len(o.entries))
	for i, e := range o.entries {
		out[len(out)-1-i] = e
	}
	return out
}

// ServeHTTP answers GET with the notices, newest first: a page to a
// browser, JSON to everyone else (or with ?format=json).
func (o *Outbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Vary", "Accept")
	if hosts := exposure.NewHosts(); !hosts.Serves(r.Host) {
		http.Error(w, hosts.Refusal(r.Host), http.StatusMisdirectedRequest)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	entries := o.Entries()
	if r.URL.Query().Get("format") == "json" || !strings.Contains(r.Header.Get("Accept"), "text/html") {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(struct {
			Notices []Entry `json:"notices"`
		}{entries})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
	page.Execute(w, entries)
}

var page = template.Must(template.New("outbox").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Outbox: notices sent in development</title>
<link rel="icon" href="data:,">
<style>
body { font: 16px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 48rem; padding: 1rem; color: #1f2328; }
li { border-bottom: 1px solid #d0d7de; padding: .75rem 0; list-style: none; }
ul { padding: 0; }
.meta { color: #57606a; font-size: .875rem; }
a { color: #0550ae; }
</style>
</head>
<body>
<main>
<h1>Outbox</h1>
<p>Every notice the development worker sent, newest first, as its approver would receive it. Signed links are credentials: this page is served only by <code>go run ./cmd/dev</code>, on loopback.</p>
{{- if .}}
<ul>
{{- range .}}
<li>
<strong>{{.Kind}}{{if .Occasion}} #{{.Occasion}}{{end}}</strong> to {{if .Approver}}{{.Approver}}{{else}}anyone but the requester{{end}}:
{{.Requester}} asks for <em>{{.Item}}</em> ({{.RequestID}})<br>
<a href="{{.URL}}">{{if .Signed}}Open the link signed for {{.Approver}}{{else}}Open the approval page{{end}}</a>
<div class="meta">sent <time datetime="{{.At.Format "2006-01-02T15:04:05Z07:00"}}">{{.At.Format "15:04:05 MST"}}</time>, the link expires {{.ExpiresAt.Format "2 Jan 15:04 MST"}}</div>
</li>
{{- end}}
</ul>
{{- else}}
<p>No notices yet. Start an approval that names an approver.</p>
{{- end}}
</main>
</body>
</html>
`))
