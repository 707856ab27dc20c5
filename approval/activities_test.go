package approval_test

import (
	"context"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/dts/dtstest"
)

// notices records what is sent, possibly from several goroutines, in
// the order of the approvers' names.
type notices struct {
	mu  sync.Mutex
	got []approval.Notice
}

func (n *notices) NotifyApprover(_ context.Context, note approval.Notice) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, note)
	slices.SortFunc(n.got, func(a, b approval.Notice) int { return strings.Compare(a.Approver, b.Approver) })
	return nil
}

// Each named approver is sent a link signed for them that expires with the
// approval, while the published approval_url stays the plain page, and the
// log never shows a signed link.
func TestSubmitSendsEachApproverASignedLink(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	links := signer(t, keyA, "")
	sent := &notices{}
	acts := &approval.Activities{BaseURL: "https://approvals.example", Notifier: sent, Links: links, Now: func() time.Time { return now }}
	req := approval.Request{RequestID: "exp-7", Requester: "ana", Item: "laptop", TimeoutHours: hours(2 * time.Hour),
		Approver: "bob", Approvers: []string{"carol", "BOB"}}
	out, err := acts.SubmitApprovalRequest(dtstest.Activity{Input: req})
	if err != nil {
		t.Fatal(err)
	}
	if sub := out.(approval.Submission); sub.ApprovalURL != "https://approvals.example/api/review/exp-7" {
		t.Fatalf("published approval_url = %q, want the plain page", sub.ApprovalURL)
	}
	if len(sent.got) != 2 {
		t.Fatalf("sent %d notices, want one for bob and one for carol: %+v", len(sent.got), sent.got)
	}
	for i, who := range []string{"bob", "carol"} {
		n := sent.got[i]
		u, err := url.Parse(n.URL)
		if err != nil || !n.Signed || n.Approver != who || u.Path != "/api/review/exp-7" {
			t.Fatalf("notice %d = %+v (%v)", i, n, err)
		}
		c, err := links.Check(u.Query().Get("token"), "exp-7", now)
		if err != nil || c.Approver != who || !c.Expires.Equal(now.Add(2*time.Hour)) {
			t.Fatalf("link for %s vouches for %+v (%v)", who, c, err)
		}
	}

	logs := &dtstest.Logs{}
	acts.Notifier = approval.LogNotifier{Logger: slog.New(slog.NewJSONHandler(logs, nil))}
	if _, err := acts.SubmitApprovalRequest(dtstest.Activity{Input: req}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "token=") || strings.Count(logs.String(), "approval requested") != 2 {
		t.Fatalf("log notifier wrote:\n%s", logs.String())
	}
}

// Without approvers named, one notice goes out with the plain page link.
func TestSubmitWithoutApproversSendsThePlainLink(t *testing.T) {
	sent := &notices{}
	acts := &approval.Activities{BaseURL: "http://localhost:7071", Notifier: sent, Links: signer(t, keyA, "")}
	if _, err := acts.SubmitApprovalRequest(dtstest.Activity{Input: approval.Request{RequestID: "exp-8", Requester: "ana", Item: "pen"}}); err != nil {
		t.Fatal(err)
	}
	if len(sent.got) != 1 || sent.got[0].Signed || sent.got[0].URL != "http://localhost:7071/api/review/exp-8" {
		t.Fatalf("notices = %+v", sent.got)
	}
}

// Asked by today's orchestrator, the submit activity sends nothing: the
// orchestrator schedules the notices once the request is waiting.
func TestSubmitDefersNoticesWhenAsked(t *testing.T) {
	sent := &notices{}
	acts := &approval.Activities{BaseURL: "http://localhost:7071", Notifier: sent}
	out, err := acts.SubmitApprovalRequest(dtstest.Activity{Input: approval.SubmitInput{
		Request: approval.Request{RequestID: "exp-9", Requester: "ana", Item: "pen", Approver: "bob"}, DeferNotices: true}})
	if err != nil {
		t.Fatal(err)
	}
	if sub := out.(approval.Submission); !sub.NoticesDeferred || len(sent.got) != 0 {
		t.Fatalf("submission %+v after %d notices", sub, len(sent.got))
	}
}

// The outcome keeps the name as given, and the form it was compared by.
func TestProcessRecordsTheIdentity(t *testing.T) {
	acts := approval.NewActivities("http://localhost:7071", slog.New(slog.DiscardHandler))
	out, err := acts.ProcessApproval(dtstest.Activity{Input: approval.ProcessInput{RequestID: "exp", IsApproved: true, Approver: " ＢＯＢ@Example.com.", ApproverOID: "oid-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if o := out.(approval.Outcome); o.Approver != " ＢＯＢ@Example.com." || o.ApproverIdentity != "bob@example.com" || o.ApproverOID != "oid-1" {
		t.Fatalf("outcome = %+v", o)
	}
}
