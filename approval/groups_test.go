package approval_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/approvals-go/approvals/approval"
)

// twoFinanceOneSecurity is the example: 2 from finance and 1 from
// security, nobody named.
var twoFinanceOneSecurity = []approval.GroupRule{{Group: "finance", Required: 2}, {Group: "security", Required: 1}}

func groupVote(who, group string, approved bool) approval.Vote {
	return approval.Vote{Approver: who, Group: group, Approved: approved}
}

func TestCanonicalGroup(t *testing.T) {
	for in, want := range map[string]string{
		"finance":                              "finance",
		" Finance":                             "finance",
		"2f1c8a4e-6B0C-4a53-9d6e-0f4c2b1a9e77": "2f1c8a4e-6b0c-4a53-9d6e-0f4c2b1a9e77",
		"team.eu_west-1":                       "team.eu_west-1",
	} {
		if got, err := approval.CanonicalGroup(in); err != nil || got != want {
			t.Errorf("CanonicalGroup(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, want := range map[string]error{
		"":                       approval.ErrGroupEmpty,
		"  ":                     approval.ErrGroupEmpty,
		"fin ance":               approval.ErrGroupChars,
		"finance\n":              nil,
		"fïnance":                approval.ErrGroupChars,
		"group:finance":          approval.ErrGroupChars,
		strings.Repeat("g", 129): approval.ErrGroupTooLong,
	} {
		if _, err := approval.CanonicalGroup(in); err != want {
			t.Errorf("CanonicalGroup(%q) error = %v; want %v", in, err, want)
		}
	}
	if !approval.SameGroup("Finance", "finance ") || approval.SameGroup("finance", "security") || approval.SameGroup("", "") {
		t.Error("SameGroup compares canonical names, and an unusable name is no group")
	}
}

func TestGroupValidation(t *testing.T) {
	base := approval.Request{Requester: "ana", Item: "laptop"}
	many := make([]approval.GroupRule, approval.MaxGroups+1)
	for i := range many {
		many[i] = approval.GroupRule{Group: fmt.Sprintf("g%d", i), Required: 1}
	}
	for name, c := range map[string]struct {
		groups    []approval.GroupRule
		approvers []string
		escalate  []string
		field     string
	}{
		"groups only":                    {groups: twoFinanceOneSecurity},
		"count left out is one":          {groups: []approval.GroupRule{{Group: "finance"}}},
		"group: among approvers":         {approvers: []string{"bob", "group:finance"}},
		"a group named twice":            {groups: []approval.GroupRule{{Group: "finance", Required: 1}, {Group: "FINANCE", Required: 2}}, field: "groups"},
		"a group in both spellings":      {groups: []approval.GroupRule{{Group: "finance", Required: 1}}, approvers: []string{"group:Finance"}, field: "approvers"},
		"an unusable group name":         {groups: []approval.GroupRule{{Group: "fin ance", Required: 1}}, field: "groups"},
		"an unusable group: approver":    {approvers: []string{"group:"}, field: "approvers"},
		"a negative count":               {groups: []approval.GroupRule{{Group: "finance", Required: -1}}, field: "groups"},
		"a count over the bound":         {groups: []approval.GroupRule{{Group: "finance", Required: approval.MaxGroupRequired + 1}}, field: "groups"},
		"too many groups":                {groups: many, field: "groups"},
		"escalation without people":      {groups: twoFinanceOneSecurity, escalate: []string{"dora"}, field: "escalate_to"},
		"escalation beside named people": {groups: twoFinanceOneSecurity, approvers: []string{"bob"}, escalate: []string{"dora"}},
	} {
		t.Run(name, func(t *testing.T) {
			r := base
			r.Groups, r.Approvers, r.EscalateTo = c.groups, c.approvers, c.escalate
			if len(c.escalate) > 0 {
				r.EscalateAfter = "1h"
			}
			err := r.Validate()
			fe, _ := approval.AsFieldError(err)
			switch {
			case c.field == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.field != "" && (fe == nil || fe.Field != c.field):
				t.Fatalf("error = %v; want one naming %s", err, c.field)
			}
		})
	}
	r := base
	r.Approvers = []string{"bob", "group:finance"}
	r.Groups = []approval.GroupRule{{Group: "security"}}
	if got := r.Deciders(); len(got) != 1 || got[0] != "bob" {
		t.Errorf("Deciders = %q; a group is not a person", got)
	}
	if got := r.GroupRules(); len(got) != 2 || got[0] != (approval.GroupRule{Group: "security", Required: 1}) || got[1] != (approval.GroupRule{Group: "finance", Required: 1}) {
		t.Errorf("GroupRules = %+v", got)
	}
	if !r.Counting() {
		t.Error("a request with groups counts several decisions")
	}
}

func TestTallyWithGroups(t *testing.T) {
	for _, c := range []struct {
		name              string
		deciders          []string
		policy            approval.Policy
		votes             []approval.Vote
		decided, approved bool
	}{
		{name: "no votes", decided: false},
		{name: "one group met, the other not", votes: []approval.Vote{groupVote("bob", "finance", true), groupVote("carol", "finance", true)}},
		{name: "every group met", votes: []approval.Vote{groupVote("bob", "finance", true), groupVote("carol", "security", true), groupVote("dave", "finance", true)},
			decided: true, approved: true},
		{name: "a member's rejection rejects", votes: []approval.Vote{groupVote("bob", "finance", true), groupVote("carol", "security", false)},
			decided: true},
		{name: "groups met, the named person not yet", deciders: []string{"erin"},
			votes: []approval.Vote{groupVote("bob", "finance", true), groupVote("carol", "security", true), groupVote("dave", "finance", true)}},
		{name: "groups and the named person met", deciders: []string{"erin"},
			votes:   []approval.Vote{groupVote("bob", "finance", true), groupVote("carol", "security", true), groupVote("erin", "", true), groupVote("dave", "finance", true)},
			decided: true, approved: true},
		{name: "the named person rejects", deciders: []string{"erin"}, votes: []approval.Vote{groupVote("erin", "", false)}, decided: true},
		{name: "under quorum one named rejection of three does not reject", deciders: []string{"erin", "fay", "gus"}, policy: approval.PolicyQuorum,
			votes: []approval.Vote{groupVote("erin", "", false)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tally := approval.Tally{Policy: c.policy, Required: 2, Deciders: c.deciders, Votes: c.votes, Groups: twoFinanceOneSecurity}
			if d, a := tally.Result(); d != c.decided || a != c.approved {
				t.Fatalf("Result = %v, %v; want %v, %v", d, a, c.decided, c.approved)
			}
		})
	}
	p := approval.Tally{Groups: twoFinanceOneSecurity, Votes: []approval.Vote{groupVote("bob", "finance", true), groupVote("carol", "security", true)}}.GroupProgress()
	if len(p) != 2 || p[0].Met() || len(p[0].Approved) != 1 || !p[1].Met() {
		t.Fatalf("GroupProgress = %+v", p)
	}
}

func TestGroupRules(t *testing.T) {
	s := approval.Standing{Requester: "ana", Deciders: []string{"erin"}, Groups: twoFinanceOneSecurity}
	both := []string{"Finance", "security"}
	for _, c := range []struct {
		name   string
		a      approval.Attempt
		votes  []approval.Vote
		group  string
		reason approval.Reason
	}{
		{name: "a finance member counts for finance", a: approval.Attempt{Who: "bob", Groups: []string{"finance"}}, group: "finance"},
		{name: "a member of both counts for the first that needs", a: approval.Attempt{Who: "carol", Groups: both}, group: "finance"},
		{name: "or for the one they choose", a: approval.Attempt{Who: "carol", Groups: both, Group: "SECURITY"}, group: "security"},
		{name: "the first that still needs approvals", a: approval.Attempt{Who: "carol", Groups: both},
			votes: []approval.Vote{groupVote("bob", "finance", true), groupVote("dave", "finance", true)}, group: "security"},
		{name: "every group of theirs is met", a: approval.Attempt{Who: "carol", Groups: both},
			votes:  []approval.Vote{groupVote("bob", "finance", true), groupVote("dave", "finance", true), groupVote("gus", "security", true)},
			reason: approval.ReasonGroupComplete},
		{name: "the chosen group is met", a: approval.Attempt{Who: "carol", Groups: both, Group: "security"},
			votes: []approval.Vote{groupVote("gus", "security", true)}, reason: approval.ReasonGroupComplete},
		{name: "a group they do not hold", a: approval.Attempt{Who: "bob", Groups: []string{"finance"}, Group: "security"}, reason: approval.ReasonNotApprover},
		{name: "a group the request does not name", a: approval.Attempt{Who: "bob", Groups: []string{"finance", "legal"}, Group: "legal"}, reason: approval.ReasonNotApprover},
		{name: "a non-member", a: approval.Attempt{Who: "mallory", Groups: []string{"legal"}}, reason: approval.ReasonNotApprover},
		{name: "nobody without groups", a: approval.Attempt{Who: "mallory"}, reason: approval.ReasonNotApprover},
		{name: "the requester, a member", a: approval.Attempt{Who: "ANA", Groups: both}, reason: approval.ReasonSelfDecision},
		{name: "the named person decides as themselves", a: approval.Attempt{Who: "erin"}, group: ""},
		{name: "the named person may choose a group", a: approval.Attempt{Who: "erin", Groups: []string{"security"}, Group: "security"}, group: "security"},
		{name: "a member votes once", a: approval.Attempt{Who: "bob", Groups: []string{"finance"}},
			votes: []approval.Vote{groupVote("bob", "finance", true)}, reason: approval.ReasonAlreadyVoted},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := s
			st.Votes = c.votes
			err := st.Check(c.a)
			if c.reason != "" {
				if r, ok := approval.RefusalOf(err); !ok || r.Reason != c.reason {
					t.Fatalf("Check = %v; want %s", err, c.reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("Check refused: %v", err)
			}
			if g, err := st.CountsFor(c.a); err != nil || g != c.group {
				t.Fatalf("CountsFor = %q, %v; want %q", g, err, c.group)
			}
		})
	}
}

// groupDecision is an approval_response event from a member of groups.
func (s *sim) groupDecision(who string, approved bool, groups ...string) string {
	raw, _ := json.Marshal(approval.Decision{IsApproved: &approved, Approver: &who, Comments: "by " + who, Groups: groups})
	return string(raw)
}

func TestWorkflowCountsGroups(t *testing.T) {
	req := approval.Request{RequestID: "exp", Requester: "ana", Item: "server", Groups: twoFinanceOneSecurity}
	s := newSim(t, req)
	if p := s.progress(); len(p.Features) != 2 || p.Features[1] != approval.FeatureGroups {
		t.Fatalf("features = %v; a workflow counting groups says so", p.Features)
	}
	s.step(s.raw(s.groupDecision("mallory", true)))
	s.step(s.raw(s.groupDecision("ana", true, "finance")))
	s.step(s.raw(s.groupDecision("carol", true, "finance", "security")))
	s.step(s.raw(s.groupDecision("carol", true, "finance", "security")))
	s.step(s.raw(s.groupDecision("bob", true, "finance")))
	s.waiting()
	if p := s.progress(); p.RefusedTotal != 3 || refusals(p) != "mallory:not_an_approver,ana:self_decision,carol:already_decided" {
		t.Fatalf("refused = %s (%d)", refusals(p), p.RefusedTotal)
	}
	s.step(s.raw(s.groupDecision("dave", true, "security", "finance")))
	out := s.process()
	var got []string
	for _, v := range out.Decisions {
		got = append(got, v.Approver+"@"+v.Group)
	}
	if out.Status != approval.StatusApproved || strings.Join(got, ",") != "carol@finance,bob@finance,dave@security" {
		t.Fatalf("outcome %s with votes %s", out.Status, got)
	}
}

func TestWorkflowGroupRejection(t *testing.T) {
	req := approval.Request{RequestID: "exp", Requester: "ana", Item: "server", Approvers: []string{"group:security"}}
	s := newSim(t, req)
	s.step(s.raw(s.groupDecision("gus", false, "security")))
	if out := s.process(); out.Status != approval.StatusRejected || len(out.Decisions) != 1 || out.Decisions[0].Group != "security" {
		t.Fatalf("outcome = %+v", out)
	}
}

func TestGroupsHeld(t *testing.T) {
	r := approval.Request{Groups: twoFinanceOneSecurity, Approvers: []string{"group:Legal"}}
	if got := strings.Join(r.GroupsHeld([]string{"LEGAL", "hr", "finance"}), ","); got != "finance,Legal" {
		t.Errorf("GroupsHeld = %s", got)
	}
	if got := (approval.Request{}).GroupsHeld([]string{"finance"}); got != nil {
		t.Errorf("a request without groups holds %q", got)
	}
}
