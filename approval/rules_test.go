package approval_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/approvals-go/approvals/approval"
)

// The spellings one person's name arrives in: typed with stray white
// space, in another case, in fullwidth letters from an East Asian input
// method, decomposed (NFD) by a Mac, with a no-break or ideographic space,
// and an e-mail domain with the DNS root's trailing dot.
var bobVariants = []string{
	"bob", "bob ", " BOB", "\tbob\n", "bob\u00a0", "\u3000bob", "ｂｏｂ", "Ｂｏｂ",
}

func TestCanonicalNameOnePerson(t *testing.T) {
	for _, v := range bobVariants {
		if c, err := approval.CanonicalName(v); err != nil || c != "bob" {
			t.Errorf("CanonicalName(%q) = %q, %v; want bob", v, c, err)
		}
	}
	for _, pair := range [][2]string{
		{"Jos\u00e9", "Jose\u0301"},                        // NFC and NFD
		{"ana@contoso.com", "ANA@Contoso.com."},            // case, trailing dot
		{"Ana  Lopez", "ana lopez"},                        // inner white space
		{"stra\u00dfe@example.com", "STRASSE@example.com"}, // full case folding
		{"ﬁona", "fiona"},                                  // a ligature
	} {
		if !approval.SamePerson(pair[0], pair[1]) {
			t.Errorf("%q and %q should be one person", pair[0], pair[1])
		}
	}
	for _, pair := range [][2]string{{"bob", "bobby"}, {"ana@contoso.com", "ana@contoso.co"}, {"", ""}, {"\u200b", "\u200b"}} {
		if approval.SamePerson(pair[0], pair[1]) {
			t.Errorf("%q and %q should not be one person", pair[0], pair[1])
		}
	}
}

func TestCanonicalNameRefusesHiddenCharacters(t *testing.T) {
	for name, want := range map[string]error{
		"":                              approval.ErrNameEmpty,
		" \t ":                          approval.ErrNameEmpty,
		"bob\r\nBcc: eve":               approval.ErrNameHidden,
		"bob\tsmith":                    approval.ErrNameHidden,
		"\u200b":                        approval.ErrNameHidden, // only a zero-width space
		"a\u200bna":                     approval.ErrNameHidden, // one inside
		"\u202eana":                     approval.ErrNameHidden, // right-to-left override
		"ana\u2066":                     approval.ErrNameHidden, // isolate
		"ana\x00":                       approval.ErrNameHidden,
		"\ue000ana":                     approval.ErrNameHidden, // private use
		"ana\xff":                       approval.ErrNameEncoding,
		strings.Repeat("b", 257):        approval.ErrNameTooLong,
		strings.Repeat("é", 129):        approval.ErrNameTooLong, // 258 bytes
		"ana@" + strings.Repeat("x", 9): nil,
	} {
		if _, err := approval.CanonicalName(name); err != want {
			t.Errorf("CanonicalName(%q) = %v, want %v", name, err, want)
		}
	}
}

func reason(err error) approval.Reason {
	if r, ok := approval.RefusalOf(err); ok {
		return r.Reason
	}
	if err != nil {
		return "unexpected: " + approval.Reason(err.Error())
	}
	return ""
}

func TestWhoMayDecide(t *testing.T) {
	deadline := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	before := deadline.Add(-time.Second)
	open := approval.Standing{Requester: "ana@example.com", Deadline: deadline, Withdrawable: true}
	named := approval.Standing{Requester: "ana@example.com", Deadline: deadline, Withdrawable: true,
		Deciders: (approval.Request{Approver: "Bob@example.com", Approvers: []string{"carol@example.com", "bob@example.com "}}).Deciders()}
	voted := named
	voted.Votes = []approval.Vote{{Approver: "carol@example.com", Approved: true}}
	ended := named
	ended.Ended = true
	seed := named
	seed.Withdrawable, seed.Submitted = false, true
	unsubmitted := named
	unsubmitted.Withdrawable = false
	for _, c := range []struct {
		s    approval.Standing
		a    approval.Attempt
		want approval.Reason
	}{
		{open, approval.Attempt{Who: "bob", At: before}, ""},
		{open, approval.Attempt{Who: "ANA@example.com", At: before}, approval.ReasonSelfDecision},
		{open, approval.Attempt{Who: "ａｎａ@example.com", At: before}, approval.ReasonSelfDecision},
		{open, approval.Attempt{Who: "ana@example.com.", At: before}, approval.ReasonSelfDecision},
		{open, approval.Attempt{Who: "a\u200bna@example.com", At: before}, approval.ReasonInvalidName},
		{named, approval.Attempt{Who: "bob@EXAMPLE.com"}, ""},
		{named, approval.Attempt{Who: " ｃａｒｏｌ@example.com", At: before}, ""},
		{named, approval.Attempt{Who: "dave@example.com", At: before}, approval.ReasonNotApprover},
		{named, approval.Attempt{Who: "bob@example.com", At: deadline}, approval.ReasonDeadline},
		{voted, approval.Attempt{Who: "CAROL@example.com ", At: before}, approval.ReasonAlreadyVoted},
		{voted, approval.Attempt{Who: "bob@example.com", At: before}, ""},
		{ended, approval.Attempt{Who: "bob@example.com", At: before}, approval.ReasonEnded},
		{named, approval.Attempt{Who: "Ana@Example.com", Withdraw: true, At: before}, ""},
		{named, approval.Attempt{Who: "bob@example.com", Withdraw: true, At: before}, approval.ReasonNotRequester},
		{named, approval.Attempt{Who: "ana@example.com", Withdraw: true, At: deadline.Add(time.Minute)}, approval.ReasonDeadline},
		{seed, approval.Attempt{Who: "ana@example.com", Withdraw: true, At: before}, approval.ReasonUnsupported},
		{unsubmitted, approval.Attempt{Who: "ana@example.com", Withdraw: true, At: before}, approval.ReasonUnsubmitted},
		{unsubmitted, approval.Attempt{Who: "bob@example.com", At: before}, ""},
	} {
		if got := reason(c.s.Check(c.a)); got != c.want {
			t.Errorf("%+v by %+v: %q, want %q", c.a, c.s, got, c.want)
		}
	}
	if len(named.Deciders) != 2 || named.Deciders[0] != "Bob@example.com" || named.Deciders[1] != "carol@example.com" {
		t.Fatalf("Deciders = %q, want each person once as first written", named.Deciders)
	}
}

func TestValidateNames(t *testing.T) {
	for _, c := range []struct {
		req   approval.Request
		field string
	}{
		{approval.Request{Requester: "ana", Item: "x", Approver: "ANA"}, "approver"},
		{approval.Request{Requester: "ana", Item: "x", Approver: "ａｎａ "}, "approver"},
		{approval.Request{Requester: "ana", Item: "x", Approvers: []string{"ana"}}, "approvers"},
		{approval.Request{Requester: "ana", Item: "x", Approvers: []string{"bob", " "}}, "approvers"},
		{approval.Request{Requester: "ana\r\nBcc: eve", Item: "x"}, "requester"},
		{approval.Request{Requester: "\u200b", Item: "x"}, "requester"},
		{approval.Request{Requester: "\u202eana", Item: "x"}, "requester"},
		{approval.Request{Requester: "ana", Item: "x", Approver: strings.Repeat("b", 10_000)}, "approver"},
		{approval.Request{Requester: "ana", Item: "x", Approvers: []string{"bob", "car\u200bol"}}, "approvers"},
		{approval.Request{Requester: "ana", Item: "x", EscalateAfter: "1h", EscalateTo: []string{"Ａｎａ"}}, "escalate_to"},
		{approval.Request{Requester: "ana", Item: "x", EscalateAfter: "1h", EscalateTo: []string{"d\u2066ave"}}, "escalate_to"},
	} {
		fe, ok := approval.AsFieldError(c.req.Validate())
		if !ok || fe.Field != c.field {
			t.Errorf("%+v: %v, want an error on %s", c.req, c.req.Validate(), c.field)
		}
	}
	// Duplicates after canonicalisation are one approver: policy all needs
	// two people here, not three.
	req := approval.Request{Requester: "ana", Item: "x", Approvers: []string{"bob", "BOB ", "carol"}, Policy: approval.PolicyAll}
	if err := req.Validate(); err != nil {
		t.Fatal(err)
	}
	if d := req.Deciders(); len(d) != 2 {
		t.Fatalf("Deciders = %q", d)
	}
}

func TestRemindersBounded(t *testing.T) {
	year := approval.MaxTimeout.Hours()
	for _, c := range []struct {
		every string
		ok    bool
	}{{"24h", true}, {"1s", false}, {"21h57m36s", true}, {"21h", false}} {
		req := approval.Request{Requester: "ana", Item: "x", TimeoutHours: &year, RemindEvery: c.every}
		err := req.Validate()
		if (err == nil) != c.ok {
			t.Errorf("remind_every %s over a year: %v", c.every, err)
		}
		if err != nil && !strings.Contains(err.Error(), "21h57m36s") {
			t.Errorf("the refusal should give the floor: %v", err)
		}
	}
}

// The page's sentence about a policy says what Tally.Result does: under a
// quorum one rejection does not reject.
func TestRuleSaysWhatTheTallyDoes(t *testing.T) {
	st := approval.State{Progress: approval.Submission{Policy: approval.PolicyQuorum, Required: 2}}
	if r := st.Rule(); strings.Contains(r, "one rejection") || !strings.Contains(r, "2 approvals are needed") {
		t.Fatalf("quorum rule = %q", r)
	}
	tally := approval.Tally{Policy: approval.PolicyQuorum, Required: 2, Deciders: []string{"a", "b", "c", "d"},
		Votes: []approval.Vote{{Approver: "a", Approved: false}}}
	if decided, _ := tally.Result(); decided {
		t.Fatal("one rejection of four decided a quorum of two")
	}
	st.Progress.Policy = approval.PolicyAll
	if r := st.Rule(); !strings.Contains(r, "one rejection rejects") {
		t.Fatalf("all rule = %q", r)
	}
	if r := (approval.State{}).Rule(); r != "" {
		t.Fatalf("the sample's rule = %q", r)
	}
}

// The sample's own process_approval returns no comments: its outcome is
// still known to be the decision by who decided and how.
func TestDecidedByWhatEveryWorkerRecords(t *testing.T) {
	d := approval.Decision{IsApproved: ptr(true), Approver: ptr("Bob"), Comments: "fine by me"}
	var seed, ours approval.Outcome
	if err := json.Unmarshal([]byte(`{"request_id":"x","status":"Approved","processed_at":"2026-12-02T10:00:00","approver":"bob"}`), &seed); err != nil {
		t.Fatal(err)
	}
	if !seed.Decided(d) {
		t.Fatal("a seed worker's outcome without comments is not this decision")
	}
	if seed.Decided(approval.Decision{IsApproved: ptr(false), Approver: ptr("bob")}) || seed.Decided(approval.Decision{IsApproved: ptr(true), Approver: ptr("carol")}) {
		t.Fatal("another verdict or another person matched a seed worker's outcome")
	}
	if err := json.Unmarshal([]byte(`{"request_id":"x","status":"Approved","processed_at":"2026-12-02T10:00:00Z","approver":"bob","comments":""}`), &ours); err != nil {
		t.Fatal(err)
	}
	if ours.Decided(d) {
		t.Fatal("an outcome that records other comments matched")
	}
}

// A request that asks for several decisions, on a workflow that does not
// say it counts them (a worker keeping the sample's contract, which takes
// the first decision for the outcome), is not decided by one person: the
// decision is refused, as not supported once the workflow has published
// its status, and until then as not submitted yet.
func TestDecisionsNotCountedAreRefused(t *testing.T) {
	req := approval.Request{RequestID: "q-1", Requester: "ana", Item: "Laptop", Approvers: []string{"bob", "carol"}, Policy: approval.PolicyAll}
	seed := approval.Submission{RequestID: "q-1", Status: approval.StatusPending, SubmittedAt: "2026-12-02T11:00:00.123456"}
	ours := approval.Submission{RequestID: "q-1", Status: approval.StatusPending, SubmittedAt: "2026-12-02T11:00:00Z", Policy: approval.PolicyAll, Required: 2, Features: []approval.Feature{approval.FeatureWithdraw}}
	for _, c := range []struct {
		name string
		sub  approval.Submission
		want approval.Reason
	}{
		{"not yet submitted", approval.Submission{}, approval.ReasonUnsubmitted},
		{"the sample's contract", seed, approval.ReasonUnsupported},
		{"ours", ours, ""},
	} {
		st := approval.State{ID: "q-1", Status: approval.StatusPending, Request: req, Progress: c.sub}
		err := st.Check(approval.Attempt{Who: "bob", At: time.Now()})
		if r, _ := approval.RefusalOf(err); (r == nil) != (c.want == "") || r != nil && r.Reason != c.want {
			t.Errorf("%s: Check = %v, want %q", c.name, err, c.want)
		}
	}
	// The first decision deciding needs nothing of the workflow.
	req.Policy = approval.PolicyAny
	if err := (approval.State{Status: approval.StatusPending, Request: req, Progress: seed}).Check(approval.Attempt{Who: "bob"}); err != nil {
		t.Errorf("policy any on the sample's contract: %v", err)
	}
}
