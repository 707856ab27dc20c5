package approval_test

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/dts/dtstest"
)

func directory(t *testing.T, file string) *approval.Directory {
	t.Helper()
	d, err := approval.ParseDirectory([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// The members of the groups that still need approvals are told, each once
// with a link signed for them, never the requester, nobody who has voted
// and nobody already told as a named approver; the notice to nobody that
// stood for the members goes.
func TestNotifyTellsGroupMembers(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	expires := now.Add(time.Hour)
	links := signer(t, keyA, "")
	dir := directory(t, `{"finance": ["Ana", "dave", "erin", "Bob"], "security": ["erin", "frank"], "legal": ["gina"]}`)
	req := approval.Request{RequestID: "exp-g", Requester: "ana", Item: "laptop",
		Groups: []approval.GroupRule{{Group: "finance", Required: 2}, {Group: "security"}, {Group: "legal"}}}
	cases := []struct {
		name string
		in   approval.NotifyInput
		want []string
	}{
		{"request, groups only", approval.NotifyInput{Kind: approval.NoticeRequest, Groups: []string{"finance", "security", "legal"}},
			[]string{"bob", "dave", "erin", "frank", "gina"}},
		{"request, a named approver who is a member", approval.NotifyInput{Kind: approval.NoticeRequest, Approvers: []string{"BOB"},
			Groups: []string{"finance"}}, []string{"BOB", "dave", "erin"}},
		{"reminder, legal met, dave and frank voted", approval.NotifyInput{Kind: approval.NoticeReminder, Occasion: 1,
			Groups: []string{"finance", "security"}, Voted: []string{"Dave", "frank", "gina"}}, []string{"bob", "erin"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sent := &notices{}
			acts := &approval.Activities{BaseURL: "https://approvals.example", Notifier: sent, Links: links, Groups: dir,
				Now: func() time.Time { return now }}
			c.in.Request, c.in.ExpiresAt = req, approval.FormatTime(expires)
			if _, err := acts.NotifyApprovers(dtstest.Activity{Input: c.in}); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, n := range sent.got {
				got = append(got, n.Approver)
				u, err := url.Parse(n.URL)
				if err != nil || !n.Signed || n.Kind != c.in.Kind || n.Occasion != c.in.Occasion {
					t.Fatalf("notice %+v (%v)", n, err)
				}
				if ch, err := links.Check(u.Query().Get("token"), "exp-g", now); err != nil || ch.Approver != n.Approver {
					t.Fatalf("link for %s vouches for %+v (%v)", n.Approver, ch, err)
				}
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("told %q, want %q", got, c.want)
			}
		})
	}
}

// Without a groups file (Microsoft Entra ID groups), the request's one
// notice still goes out with the page's link, to nobody named.
func TestNotifyWithoutDirectoryKeepsThePageNotice(t *testing.T) {
	sent := &notices{}
	acts := &approval.Activities{BaseURL: "https://approvals.example", Notifier: sent}
	in := approval.NotifyInput{Request: approval.Request{RequestID: "exp-h", Requester: "ana", Item: "pen"}, Kind: approval.NoticeRequest,
		ExpiresAt: approval.FormatTime(time.Now().Add(time.Hour)), Groups: []string{"6f1c2a7e-0000-4000-8000-000000000001"}}
	if _, err := acts.NotifyApprovers(dtstest.Activity{Input: in}); err != nil {
		t.Fatal(err)
	}
	if len(sent.got) != 1 || sent.got[0].Approver != "" || sent.got[0].URL != "https://approvals.example/api/review/exp-h" {
		t.Fatalf("notices = %+v", sent.got)
	}
}

// lastNotice is the input of the latest notify activity of kind.
func (s *sim) lastNotice(kind approval.NoticeKind) approval.NotifyInput {
	s.t.Helper()
	var last approval.NotifyInput
	id := int32(-1)
	for _, e := range s.scheduled(approval.NotifyActivityName) {
		var in approval.NotifyInput
		if err := json.Unmarshal([]byte(e.GetTaskScheduled().GetInput().GetValue()), &in); err != nil {
			s.t.Fatal(err)
		}
		if in.Kind == kind && e.GetEventId() > id {
			last, id = in, e.GetEventId()
		}
	}
	if id < 0 {
		s.t.Fatalf("no %s notice was scheduled", kind)
	}
	return last
}

// The orchestrator tells the notify activity which of the current
// stage's groups still need approvals and who has voted: all of them and
// nobody when the stage starts, fewer as votes come.
func TestNoticesSayWhichGroupsStillNeedApprovals(t *testing.T) {
	req := approval.Request{RequestID: "exp", Requester: "ana", Item: "car", Stages: []approval.Stage{
		{Name: "manager", Approvers: []string{"bob"}, TimeoutHours: hours(time.Hour)},
		{Name: "finance", Approvers: []string{"zoe"}, Groups: []approval.GroupRule{{Group: "finance", Required: 2}, {Group: "security"}},
			TimeoutHours: hours(time.Hour), RemindEvery: "10m"},
	}}
	s := newSimSubmitted(t, req, approval.Submission{RequestID: "exp", Status: approval.StatusPending, NoticesDeferred: true,
		SubmittedAt: approval.FormatTime(simStart), ApprovalURL: "http://approvals.test/api/review/exp"})
	if in := s.lastNotice(approval.NoticeRequest); in.Groups != nil || in.Voted != nil {
		t.Fatalf("stage 1, without groups: %+v", in)
	}
	s.step(s.decision("bob", true))
	if in := s.lastNotice(approval.NoticeRequest); strings.Join(in.Groups, ",") != "finance,security" || in.Voted != nil {
		t.Fatalf("stage 2 starts: groups %q, voted %q", in.Groups, in.Voted)
	}
	s.step(s.raw(s.groupDecision("carol", true, "finance")))
	s.step(s.raw(s.groupDecision("erin", true, "security")))
	s.step(s.fireDue()...)
	in := s.lastNotice(approval.NoticeReminder)
	if strings.Join(in.Groups, ",") != "finance" || strings.Join(in.Voted, ",") != "carol,erin" || strings.Join(in.Approvers, ",") != "zoe" {
		t.Fatalf("reminder: groups %q, voted %q, approvers %q", in.Groups, in.Voted, in.Approvers)
	}
}

// A request whose approvers are all groups is reminded too: the reminder
// names nobody and goes to the members of the groups still short.
func TestGroupsOnlyRequestIsReminded(t *testing.T) {
	req := approval.Request{RequestID: "exp", Requester: "ana", Item: "car", TimeoutHours: hours(time.Hour), RemindEvery: "10m",
		Groups: []approval.GroupRule{{Group: "finance", Required: 2}}}
	s := newSimSubmitted(t, req, approval.Submission{RequestID: "exp", Status: approval.StatusPending, NoticesDeferred: true,
		SubmittedAt: approval.FormatTime(simStart), ApprovalURL: "http://approvals.test/api/review/exp"})
	s.step(s.raw(s.groupDecision("carol", true, "finance")))
	s.step(s.fireDue()...)
	in := s.lastNotice(approval.NoticeReminder)
	if strings.Join(in.Groups, ",") != "finance" || strings.Join(in.Voted, ",") != "carol" || len(in.Approvers) != 0 || in.Occasion != 1 {
		t.Fatalf("reminder: %+v", in)
	}
}
