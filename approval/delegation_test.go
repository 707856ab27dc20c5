package approval_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/dts/dtstest"
)

var (
	day0 = time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	day  = 24 * time.Hour
)

// delegation is from delegator to to over days [from, until) after day0.
func delegation(id, delegator, to string, from, until int) approval.Delegation {
	return approval.Delegation{ID: id, Delegator: delegator, To: to, From: day0.Add(time.Duration(from) * day),
		Until: day0.Add(time.Duration(until) * day), CreatedAt: day0}
}

func TestDelegationRequestValidates(t *testing.T) {
	ok := approval.DelegationRequest{To: "bob", From: "2026-07-01T00:00:00Z", Until: "2026-07-15T00:00:00+02:00", Note: "holiday"}
	d, err := ok.Delegation("d1", "alice", day0)
	if err != nil {
		t.Fatalf("a usable delegation was refused: %v", err)
	}
	if d.Delegator != "alice" || d.To != "bob" || !d.Until.Equal(time.Date(2026, 7, 14, 22, 0, 0, 0, time.UTC)) || d.Until.Location() != time.UTC {
		t.Errorf("delegation = %+v", d)
	}
	for name, c := range map[string]struct {
		req   approval.DelegationRequest
		field string
	}{
		"no to":               {approval.DelegationRequest{From: ok.From, Until: ok.Until}, "to"},
		"to oneself":          {approval.DelegationRequest{To: " ALICE", From: ok.From, Until: ok.Until}, "to"},
		"hidden characters":   {approval.DelegationRequest{To: "bo\u200bb", From: ok.From, Until: ok.Until}, "to"},
		"from not RFC 3339":   {approval.DelegationRequest{To: "bob", From: "1 July", Until: ok.Until}, "from"},
		"until missing":       {approval.DelegationRequest{To: "bob", From: ok.From}, "until"},
		"until before from":   {approval.DelegationRequest{To: "bob", From: ok.Until, Until: ok.From}, "until"},
		"until equals from":   {approval.DelegationRequest{To: "bob", From: ok.From, Until: ok.From}, "until"},
		"over a year":         {approval.DelegationRequest{To: "bob", From: ok.From, Until: "2027-07-03T00:00:00Z"}, "until"},
		"already over":        {approval.DelegationRequest{To: "bob", From: "2026-06-01T00:00:00Z", Until: "2026-06-30T00:00:00Z"}, "until"},
		"starts centuries on": {approval.DelegationRequest{To: "bob", From: "9999-12-01T00:00:00Z", Until: "9999-12-02T00:00:00Z"}, "from"},
		"a long note":         {approval.DelegationRequest{To: "bob", From: ok.From, Until: ok.Until, Note: strings.Repeat("n", approval.MaxNoteBytes+1)}, "note"},
	} {
		_, err := c.req.Delegation("d1", "alice", day0)
		fe, isField := approval.AsFieldError(err)
		if !isField || fe.Field != c.field {
			t.Errorf("%s: err = %v; want a fault in %s", name, err, c.field)
		}
	}
}

func TestCheckDelegationRefusesCyclesAndLongChains(t *testing.T) {
	all := []approval.Delegation{
		delegation("ab", "alice", "bob", 0, 10),
		delegation("bc", "bob", "carol", 0, 10),
	}
	for name, c := range map[string]struct {
		d      approval.Delegation
		refuse string
	}{
		"back to the delegator":           {delegation("ba", "Bob", "alice", 5, 6), "cycle"},
		"a longer cycle":                  {delegation("ca", "carol", "ALICE", 5, 6), "cycle"},
		"a cycle in another period":       {delegation("ba", "bob", "alice", 10, 20), ""},
		"a third hop":                     {delegation("cd", "carol", "dave", 0, 10), ""},
		"a third hop before the chain":    {delegation("za", "zoe", "alice", 0, 10), ""},
		"the same chain, later":           {delegation("cd", "carol", "dave", 20, 30), ""},
		"a second delegate is no chain":   {delegation("ad", "alice", "dave", 0, 10), ""},
		"a delegator named in other case": {delegation("cb", "CAROL", "Bob", 1, 2), "cycle"},
	} {
		err := approval.CheckDelegation(approval.DelegationList(all), c.d)
		switch {
		case c.refuse == "" && err != nil:
			t.Errorf("%s: refused: %v", name, err)
		case c.refuse != "" && (err == nil || !strings.Contains(err.Error(), c.refuse)):
			t.Errorf("%s: err = %v; want it refused as a %s", name, err, c.refuse)
		}
	}
	four := append(all, delegation("cd", "carol", "dave", 0, 10))
	for _, d := range []approval.Delegation{delegation("de", "dave", "erin", 0, 10), delegation("za", "zoe", "alice", 0, 10)} {
		if err := approval.CheckDelegation(approval.DelegationList(four), d); err == nil || !strings.Contains(err.Error(), "chain of 4 hops") {
			t.Errorf("%s to %s: err = %v; want a chain of 4 hops refused", d.Delegator, d.To, err)
		}
	}
}

func TestCheckDelegationBoundsHowManyOnePersonGives(t *testing.T) {
	var all []approval.Delegation
	for i := range approval.MaxDelegations {
		all = append(all, delegation(string(rune('a'+i)), "alice", "bob"+string(rune('a'+i)), 0, 10))
	}
	if err := approval.CheckDelegation(approval.DelegationList(all), delegation("z", "Alice", "zoe", 20, 30)); err == nil {
		t.Error("an eleventh delegation was taken")
	}
	all[0].Until = day0 // ended
	if err := approval.CheckDelegation(approval.DelegationList(all), delegation("z", "alice", "zoe", 20, 30)); err != nil {
		t.Errorf("a delegation that ended still counted: %v", err)
	}
}

func TestActingForFollowsChainsWithinTheirDates(t *testing.T) {
	s := approval.Standing{Requester: "rita", Deciders: []string{"alice", "dan"}}
	all := []approval.Delegation{
		delegation("ab", "alice", "bob", 0, 10),
		delegation("bc", "bob", "carol", 2, 5),
		delegation("dr", "dan", "rita", 0, 10),
		delegation("rx", "rita", "xavier", 0, 10),
	}
	at := func(d int) time.Time { return day0.Add(time.Duration(d)*day + time.Hour) }
	names := func(acts []approval.Acting, err error) []string {
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range acts {
			out = append(out, a.For+"/"+a.Chain[len(a.Chain)-1].ID)
		}
		return out
	}
	for _, c := range []struct {
		who  string
		day  int
		want string
	}{
		{"bob", 1, "[alice/ab]"},
		{"BOB", 9, "[alice/ab]"},
		{"bob", 10, "[]"}, // ended
		{"bob", -1, "[]"}, // not begun
		{"carol", 3, "[alice/bc]"},
		{"carol", 6, "[]"},      // the second link ended
		{"xavier", 1, "[]"},     // only through the requester
		{"rita", 1, "[dan/dr]"}, // found, and Check refuses it
	} {
		got := names(s.ActingFor(approval.DelegationList(all), c.who, at(c.day)))
		if s := strings.Join(got, " "); "["+s+"]" != c.want {
			t.Errorf("%s on day %d acts for %v; want %s", c.who, c.day, got, c.want)
		}
	}
	voted := s
	voted.Votes = []approval.Vote{{Approver: "alice", Approved: true}}
	if got, _ := voted.ActingFor(approval.DelegationList(all), "bob", at(1)); len(got) != 0 {
		t.Errorf("bob acts for %v, though alice voted", got)
	}
	if acts, _ := s.ActingFor(approval.DelegationList(all), "carol", at(3)); len(acts) != 1 || !acts[0].Until().Equal(day0.Add(5*day)) {
		t.Errorf("carol acts through %v; want one chain, until its first link's end", acts)
	}
}

func TestCheckActingFor(t *testing.T) {
	s := approval.Standing{Requester: "rita", Deciders: []string{"alice", "dan", "rita"}}
	for name, c := range map[string]struct {
		st     approval.Standing
		a      approval.Attempt
		reason approval.Reason
	}{
		"a delegate":                       {s, approval.Attempt{Who: "bob", ActingFor: "Alice"}, ""},
		"the requester, delegated to":      {s, approval.Attempt{Who: "RITA", ActingFor: "dan"}, approval.ReasonSelfDecision},
		"for the requester":                {s, approval.Attempt{Who: "bob", ActingFor: "rita"}, approval.ReasonSelfDecision},
		"for someone not an approver":      {s, approval.Attempt{Who: "bob", ActingFor: "zoe"}, approval.ReasonNotApprover},
		"for oneself":                      {s, approval.Attempt{Who: "bob", ActingFor: "bob"}, approval.ReasonNotDelegated},
		"an approver for another":          {s, approval.Attempt{Who: "dan", ActingFor: "alice"}, approval.ReasonNotDelegated},
		"on an approval naming nobody":     {approval.Standing{Requester: "rita"}, approval.Attempt{Who: "bob", ActingFor: "alice"}, approval.ReasonNotDelegated},
		"an unusable name acted for":       {s, approval.Attempt{Who: "bob", ActingFor: "al\u200bice"}, approval.ReasonInvalidName},
		"for someone who voted":            {withVotes(s, approval.Vote{Approver: "alice"}), approval.Attempt{Who: "bob", ActingFor: "alice"}, approval.ReasonAlreadyVoted},
		"for someone a delegate voted for": {withVotes(s, approval.Vote{Approver: "carol", ActingFor: "alice"}), approval.Attempt{Who: "bob", ActingFor: "alice"}, approval.ReasonAlreadyVoted},
		"a delegate who voted for another": {withVotes(s, approval.Vote{Approver: "bob", ActingFor: "dan"}), approval.Attempt{Who: "bob", ActingFor: "alice"}, approval.ReasonAlreadyVoted},
		"an approver a delegate voted for": {withVotes(s, approval.Vote{Approver: "bob", ActingFor: "alice"}), approval.Attempt{Who: "alice"}, approval.ReasonAlreadyVoted},
		"after the deadline":               {withDeadline(s), approval.Attempt{Who: "bob", ActingFor: "alice", At: day0.Add(day)}, approval.ReasonDeadline},
	} {
		err := c.st.Check(c.a)
		r, _ := approval.RefusalOf(err)
		switch {
		case c.reason == "" && err != nil:
			t.Errorf("%s: refused: %v", name, err)
		case c.reason != "" && (r == nil || r.Reason != c.reason):
			t.Errorf("%s: err = %v; want %s", name, err, c.reason)
		}
	}
}

func withVotes(s approval.Standing, v ...approval.Vote) approval.Standing {
	s.Votes = v
	return s
}

func withDeadline(s approval.Standing) approval.Standing {
	s.Deadline = day0
	return s
}

func TestVotesForAnotherCountOnce(t *testing.T) {
	tally := approval.Tally{Policy: approval.PolicyAll, Required: 2, Deciders: []string{"alice", "dan"}}
	if !tally.Add(approval.Vote{Approver: "bob", ActingFor: "alice", Approved: true}) {
		t.Fatal("the delegate's vote was not recorded")
	}
	if tally.Add(approval.Vote{Approver: "alice", Approved: true}) || tally.Add(approval.Vote{Approver: "carol", ActingFor: "Alice", Approved: true}) {
		t.Error("alice was counted twice")
	}
	if got := tally.Pending(); len(got) != 1 || got[0] != "dan" {
		t.Errorf("pending = %v; want dan", got)
	}
	if decided, _ := tally.Result(); decided {
		t.Error("one vote for alice decided an approval that needs dan too")
	}
}

func TestOutcomeRecordsActingFor(t *testing.T) {
	d := approval.Decision{IsApproved: ptr(true), Approver: ptr("bob"), ActingFor: "alice", Comments: "ok"}
	if got := d.String(); got != "Approved by bob for alice: “ok”" {
		t.Errorf("String() = %q", got)
	}
	out := approval.Outcome{RequestID: "r", Status: approval.StatusApproved, ProcessedAt: "t", Approver: "bob", ActingFor: "alice"}
	b, err := json.Marshal(out)
	if err != nil || !strings.Contains(string(b), `"acting_for":"alice"`) {
		t.Errorf("outcome JSON = %s, %v", b, err)
	}
	out.ActingFor = ""
	if b, _ := json.Marshal(out); strings.Contains(string(b), "acting_for") {
		t.Errorf("an outcome without a delegate writes acting_for: %s", b)
	}
}

func TestDelegationsInstanceIDIsOnePerPerson(t *testing.T) {
	a, err := approval.DelegationsInstanceID("Alice@Contoso.com.")
	b, _ := approval.DelegationsInstanceID(" alice@contoso.com")
	c, _ := approval.DelegationsInstanceID("bob@contoso.com")
	if err != nil || a != b || a == c || len(a) > approval.MaxIDLength {
		t.Errorf("IDs %q %q %q, %v", a, b, c, err)
	}
	if err := approval.ValidateID(a); err == nil {
		t.Errorf("an approval may take the ID %q of someone's delegations", a)
	}
}

// fixedDelegations is a DelegationReader over delegations in memory.
type fixedDelegations approval.DelegationList

func (f fixedDelegations) Source(context.Context) approval.DelegationSource {
	return approval.DelegationList(f)
}

// A reminder goes to the approver, to each delegate (with a link signed
// for them, to decide for the approver), and the approver is told who
// was asked; a delegate who is an approver, or the requester, is not.
func TestRemindersGoToDelegates(t *testing.T) {
	now := day0.Add(time.Hour)
	links := signer(t, keyA, "")
	sent := &notices{}
	acts := &approval.Activities{BaseURL: "https://approvals.example", Notifier: sent, Links: links, Now: func() time.Time { return now },
		Delegations: fixedDelegations{
			delegation("ab", "alice", "bob", 0, 10),
			delegation("bc", "bob", "carol", 0, 10),
			delegation("ad", "alice", "dan", 0, 10),  // an approver himself
			delegation("dr", "dan", "rita", 0, 10),   // the requester
			delegation("ae", "alice", "erin", 5, 10), // not yet
		}}
	req := approval.Request{RequestID: "exp-9", Requester: "rita", Item: "laptop", Approvers: []string{"alice", "dan"}}
	in := approval.NotifyInput{Request: req, Kind: approval.NoticeReminder, Approvers: []string{"alice", "dan"},
		ExpiresAt: approval.FormatTime(now.Add(time.Hour)), Occasion: 2}
	if _, err := acts.NotifyApprovers(dtstest.Activity{Input: in}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range sent.got {
		got = append(got, fmt.Sprintf("%s:%s:%s:%s", n.Approver, n.Kind, n.ActingFor, strings.Join(n.Delegates, ", ")))
		if n.ActingFor != "" {
			u, _ := url.Parse(n.URL)
			if c, err := links.Check(u.Query().Get("token"), "exp-9", now); err != nil || c.Approver != n.Approver || n.Occasion != 2 {
				t.Errorf("the notice to %s carries a link for %+v (%v), occasion %d", n.Approver, c, err, n.Occasion)
			}
		}
	}
	want := []string{"alice:delegated::bob, carol", "alice:reminder::", "bob:reminder:alice:", "carol:reminder:alice:", "dan:reminder::"}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("notices:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// In a request with stages, a delegate who is an approver of the stage
// the notice is for decides there as themselves and is not asked to
// decide for another: the stage's people are its own deciders, though
// the request names nobody at the top.
func TestStageApproversAreNotAskedAsDelegates(t *testing.T) {
	now := day0.Add(time.Hour)
	sent := &notices{}
	acts := &approval.Activities{BaseURL: "https://approvals.example", Notifier: sent, Now: func() time.Time { return now },
		Delegations: fixedDelegations{delegation("ad", "alice", "dan", 0, 10), delegation("ab", "alice", "bob", 0, 10)}}
	req := approval.Request{RequestID: "exp-9", Requester: "rita", Item: "laptop", Stages: []approval.Stage{
		{Approvers: []string{"alice", "dan"}}, {Approvers: []string{"erin"}}}}
	in := approval.NotifyInput{Request: req, Kind: approval.NoticeReminder, Approvers: []string{"alice", "dan"},
		ExpiresAt: approval.FormatTime(now.Add(time.Hour)), Occasion: 1, Stage: 1}
	if _, err := acts.NotifyApprovers(dtstest.Activity{Input: in}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range sent.got {
		got = append(got, fmt.Sprintf("%s:%s:%s:%s", n.Approver, n.Kind, n.ActingFor, strings.Join(n.Delegates, ", ")))
	}
	want := []string{"alice:delegated::bob", "alice:reminder::", "bob:reminder:alice:", "dan:reminder::"}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("notices:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
