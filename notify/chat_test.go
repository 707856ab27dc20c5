package notify

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/internal/safehttp"
	"github.com/approvals-go/approvals/webhook"
)

// receiver is an HTTPS endpoint on loopback that keeps what it is sent
// and answers with status.
type receiver struct {
	*httptest.Server
	status int

	mu   sync.Mutex
	reqs []received
}

type received struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, status int) *receiver {
	r := &receiver{status: status}
	r.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if req.Method != http.MethodPost {
			t.Errorf("%s %s, want POST", req.Method, req.URL.Path)
		}
		r.mu.Lock()
		r.reqs = append(r.reqs, received{req.Header.Clone(), body})
		r.mu.Unlock()
		w.WriteHeader(r.status)
	}))
	// Connections a client opened for notices sent in parallel, and no
	// longer needs, are cut at Close mid-handshake; that is no failure.
	r.Config.ErrorLog = log.New(io.Discard, "", 0)
	r.StartTLS()
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) received() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.reqs...)
}

// url is where the receiver is reached, with a token in the path and the
// query as webhook URLs have.
func (r *receiver) url() string {
	return r.URL + "/hooks/T000/B000/s3cr3t-path-token?sig=s3cr3t-query-token"
}

// loopbackClient is a client that may reach the test's receivers, and
// trusts their certificates.
func loopbackClient(t *testing.T, servers ...interface{ Certificate() *x509.Certificate }) *safehttp.Client {
	roots := x509.NewCertPool()
	for _, s := range servers {
		roots.AddCert(s.Certificate())
	}
	return safehttp.New(safehttp.Options{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, RootCAs: roots})
}

func only(t *testing.T, r *receiver) received {
	t.Helper()
	got := r.received()
	if len(got) != 1 {
		t.Fatalf("the receiver got %d requests, want 1", len(got))
	}
	if ct := got[0].header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	return got[0]
}

func TestTeamsPostsAnAdaptiveCard(t *testing.T) {
	r := newReceiver(t, http.StatusAccepted)
	n := &Teams{URL: r.url(), Client: loopbackClient(t, r)}
	if err := n.NotifyApprover(context.Background(), signedNotice("alice@example.com")); err != nil {
		t.Fatal(err)
	}
	req := only(t, r)
	var msg struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string  `json:"contentType"`
			ContentURL  *string `json:"contentUrl"`
			Content     struct {
				Schema  string `json:"$schema"`
				Type    string `json:"type"`
				Version string `json:"version"`
				Body    []json.RawMessage
				Actions []struct {
					Type, Title, URL, Style string
				}
			}
		}
	}
	if err := json.Unmarshal(req.body, &msg); err != nil {
		t.Fatalf("%v: %s", err, req.body)
	}
	if msg.Type != "message" || len(msg.Attachments) != 1 {
		t.Fatalf("envelope %s: want a message with one attachment", req.body)
	}
	a := msg.Attachments[0]
	if a.ContentType != "application/vnd.microsoft.card.adaptive" || a.ContentURL != nil {
		t.Errorf("attachment contentType %q, contentUrl %v", a.ContentType, a.ContentURL)
	}
	card := a.Content
	if card.Type != "AdaptiveCard" || card.Version != "1.4" || card.Schema != "http://adaptivecards.io/schemas/adaptive-card.json" {
		t.Errorf("card type %q version %q schema %q", card.Type, card.Version, card.Schema)
	}
	if len(card.Actions) != 2 ||
		card.Actions[0] != (struct{ Type, Title, URL, Style string }{"Action.OpenUrl", "Approve", page + "#approve", "positive"}) ||
		card.Actions[1] != (struct{ Type, Title, URL, Style string }{"Action.OpenUrl", "Reject", page + "#reject", "destructive"}) {
		t.Errorf("actions %+v: want Approve and Reject opening %s", card.Actions, page)
	}
	texts := textRuns(t, card.Body)
	for _, want := range []string{hostileItem, "carol asks for your approval.", "Requested by: carol", "Approver: alice@example.com", "Request: req-1"} {
		if !strings.Contains(texts, want) {
			t.Errorf("the card's text lacks %q:\n%s", want, texts)
		}
	}
	// A TextBlock would read the request as Markdown.
	if strings.Contains(string(req.body), `"TextBlock"`) {
		t.Errorf("the card uses a TextBlock: %s", req.body)
	}
	if strings.Contains(string(req.body), "token=") {
		t.Errorf("a channel post carries alice's signed link: %s", req.body)
	}
}

// textRuns joins the text of every TextRun in body, line by line.
func textRuns(t *testing.T, body []json.RawMessage) string {
	t.Helper()
	var lines []string
	var walk func(raw json.RawMessage)
	walk = func(raw json.RawMessage) {
		var el struct {
			Type    string
			Inlines []struct{ Type, Text string }
			Items   []json.RawMessage
		}
		if err := json.Unmarshal(raw, &el); err != nil {
			t.Fatal(err)
		}
		var line string
		for _, in := range el.Inlines {
			if in.Type != "TextRun" {
				t.Errorf("inline of type %q", in.Type)
			}
			line += in.Text
		}
		if line != "" {
			lines = append(lines, line)
		}
		for _, it := range el.Items {
			walk(it)
		}
	}
	for _, raw := range body {
		walk(raw)
	}
	return strings.Join(lines, "\n")
}

func TestSlackPostsBlockKit(t *testing.T) {
	r := newReceiver(t, http.StatusOK)
	n := &Slack{URL: r.url(), Client: loopbackClient(t, r)}
	if err := n.NotifyApprover(context.Background(), signedNotice("alice@example.com")); err != nil {
		t.Fatal(err)
	}
	req := only(t, r)
	type text struct{ Type, Text string }
	var msg struct {
		Text   string
		Blocks []struct {
			Type     string
			Text     *text
			Fields   []text
			Elements []struct {
				Type     string
				ActionID string `json:"action_id"`
				Text     text
				URL      string
				Style    string
			}
		}
	}
	if err := json.Unmarshal(req.body, &msg); err != nil {
		t.Fatalf("%v: %s", err, req.body)
	}
	if !strings.HasPrefix(msg.Text, "Approval requested: Laptop &lt;b&gt;bold&lt;/b&gt; &amp; \"dock\" Bcc: mallory@example.com &lt;!channel&gt;") {
		t.Errorf("text %q: want the title with &, < and > escaped", msg.Text)
	}
	var kinds, all []string
	var buttons []string
	for _, b := range msg.Blocks {
		kinds = append(kinds, b.Type)
		if b.Text != nil {
			if b.Text.Type != "plain_text" {
				t.Errorf("a %s block's text is %s", b.Type, b.Text.Type)
			}
			all = append(all, b.Text.Text)
		}
		for _, f := range b.Fields {
			if f.Type != "plain_text" {
				t.Errorf("a field is %s", f.Type)
			}
			all = append(all, f.Text)
		}
		for _, e := range b.Elements {
			buttons = append(buttons, e.Type+" "+e.ActionID+" "+e.Text.Text+" "+e.URL+" "+e.Style)
		}
	}
	if strings.Join(kinds, ",") != "header,section,section,section,actions" {
		t.Errorf("blocks %v", kinds)
	}
	if want := []string{"button approve Approve " + page + "#approve primary", "button reject Reject " + page + "#reject danger"}; strings.Join(buttons, "\n") != strings.Join(want, "\n") {
		t.Errorf("buttons:\n%s\nwant:\n%s", strings.Join(buttons, "\n"), strings.Join(want, "\n"))
	}
	texts := strings.Join(all, "\n")
	for _, want := range []string{hostileItem, "Requested by: carol", "Approver: alice@example.com", "Request: req-1"} {
		if !strings.Contains(texts, want) {
			t.Errorf("the message lacks %q:\n%s", want, texts)
		}
	}
	if strings.Contains(string(req.body), "token=") {
		t.Errorf("a channel post carries alice's signed link: %s", req.body)
	}
}

const secret = "0123456789abcdef0123456789abcdef-webhook"

func TestWebhookPostsSignedJSON(t *testing.T) {
	r := newReceiver(t, http.StatusNoContent)
	sent := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	n := &Webhook{URL: r.url(), Secret: []byte(secret), Client: loopbackClient(t, r), Now: func() time.Time { return sent }}
	notice := signedNotice("alice@example.com")
	notice.Kind = approval.NoticeReminder
	notice.ExpiresAt = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	// The second delivery is a retry of the first.
	for range 2 {
		if err := n.NotifyApprover(context.Background(), notice); err != nil {
			t.Fatal(err)
		}
	}
	got := r.received()
	if len(got) != 2 {
		t.Fatalf("%d deliveries, want 2", len(got))
	}
	req := got[0]
	if !webhook.Verify([]byte(secret), req.body, req.header.Get(webhook.SignatureHeader)) {
		t.Fatalf("the signature %q does not verify", req.header.Get(webhook.SignatureHeader))
	}
	if webhook.Verify([]byte("another secret of thirty-two bytes"), req.body, req.header.Get(webhook.SignatureHeader)) {
		t.Fatal("the signature verifies with another secret")
	}
	var body map[string]any
	if err := json.Unmarshal(req.body, &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"delivery_id": req.header.Get(webhook.DeliveryHeader), "sent_at": "2026-03-01T09:30:00Z", "kind": "reminder",
		"id": "req-1", "requester": "carol", "item": hostileItem, "approver": "alice@example.com",
		"link": signedLink, "link_signed": true, "approval_url": page, "deadline": "2026-03-02T09:30:00Z",
	}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("%s = %#v, want %#v", k, body[k], v)
		}
	}
	if len(body) != len(want) {
		t.Errorf("body %s has fields beyond %v", req.body, want)
	}
	if ts := req.header.Get(webhook.TimestampHeader); ts != strconv.FormatInt(sent.Unix(), 10) {
		t.Errorf("timestamp %q, want %d", ts, sent.Unix())
	}
	if id := req.header.Get(webhook.DeliveryHeader); id == "" || id != got[1].header.Get(webhook.DeliveryHeader) {
		t.Errorf("delivery ids %q and %q: want the same id on a retry", id, got[1].header.Get(webhook.DeliveryHeader))
	}
	other := notice
	other.Approver = "bob@example.com"
	escalation := notice
	escalation.Kind = approval.NoticeEscalation
	secondReminder := notice
	secondReminder.Kind, secondReminder.Occasion = approval.NoticeReminder, 2
	firstReminder := secondReminder
	firstReminder.Occasion = 1
	if messageOf(firstReminder).DeliveryID == messageOf(secondReminder).DeliveryID {
		t.Errorf("two reminders to one approver share a delivery id")
	}
	for _, n := range []approval.Notice{other, escalation} {
		if messageOf(n).DeliveryID == req.header.Get(webhook.DeliveryHeader) {
			t.Errorf("notice %+v shares the delivery id of another", n)
		}
	}
}

// A failing receiver fails its channel with an error that names the
// status and not the URL's secrets; the other channels still deliver.
func TestMultiDeliversPastAFailingChannel(t *testing.T) {
	bad := newReceiver(t, http.StatusInternalServerError)
	slack := newReceiver(t, http.StatusOK)
	hook := newReceiver(t, http.StatusOK)
	c := loopbackClient(t, bad, slack, hook)
	m := Multi{
		{Name: "teams", Notifier: &Teams{URL: bad.url(), Client: c}},
		{Name: "slack", Notifier: &Slack{URL: slack.url(), Client: c}},
		{Name: "webhook", Notifier: &Webhook{URL: hook.url(), Secret: []byte(secret), Client: c}},
	}
	err := m.NotifyApprover(context.Background(), signedNotice("alice@example.com"))
	var ce *ChannelError
	var se *safehttp.StatusError
	if !errors.As(err, &ce) || ce.Channel != "teams" || !errors.As(err, &se) || se.StatusCode != http.StatusInternalServerError {
		t.Fatalf("error %v: want the teams channel's 500", err)
	}
	for _, leak := range []string{"s3cr3t", "token=", "/hooks/"} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("error %q holds %q", err, leak)
		}
	}
	if len(bad.received()) != 1 || len(slack.received()) != 1 || len(hook.received()) != 1 {
		t.Errorf("deliveries: teams %d, slack %d, webhook %d; want one each", len(bad.received()), len(slack.received()), len(hook.received()))
	}
	if err := m[1:].NotifyApprover(context.Background(), signedNotice("alice@example.com")); err != nil {
		t.Errorf("without the failing channel: %v", err)
	}
}
