package audit_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/audit"
)

// state reads an approval as the API does, from metadata as the scheduler
// returns it.
func state(t *testing.T, status api.OrchestrationStatus, input, custom, output string) approval.State {
	t.Helper()
	created := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	st, ok := approval.StateOf(&api.OrchestrationMetadata{InstanceID: "req-1", Name: approval.OrchestratorName, RuntimeStatus: status,
		CreatedAt: created, LastUpdatedAt: created.Add(3 * time.Hour), SerializedInput: input, SerializedCustomStatus: custom,
		SerializedOutput: output})
	if !ok {
		t.Fatal("not an approval")
	}
	return st
}

const seedInput = `{"request_id":"req-1","requester":"Ana@Example.com","item":"Laptop","timeout_hours":24}`

func describe(entries []audit.Entry) []string {
	var out []string
	for _, e := range entries {
		b, _ := json.Marshal(e)
		out = append(out, string(b))
	}
	return out
}

func wantEntries(t *testing.T, got []audit.Entry, want ...audit.Entry) {
	t.Helper()
	g, w := describe(got), describe(want)
	if len(g) != len(w) {
		t.Fatalf("%d entries, want %d:\n%v", len(g), len(w), g)
	}
	for i := range g {
		if g[i] != w[i] {
			t.Errorf("entry %d:\n got %s\nwant %s", i+1, g[i], w[i])
		}
	}
}

var requested = audit.Entry{Approval: "req-1", At: "2026-12-01T09:00:00Z", Event: audit.EventRequested, Actor: "Ana@Example.com",
	Identity: "ana@example.com", Status: "Pending", Item: "Laptop"}

// An approval without a policy records no vote: its one decision, with the
// channel and authentication it came by, is read from the outcome.
func TestAuditOfOneDecision(t *testing.T) {
	st := state(t, api.RUNTIME_STATUS_COMPLETED, seedInput, "",
		`{"request_id":"req-1","status":"Approved","processed_at":"2026-12-01T10:30:00Z","approver":"Bob","comments":"fine","approver_identity":"bob","acting_for":"dee","channel":"page","auth":"signed_link"}`)
	wantEntries(t, audit.Of(st), requested,
		audit.Entry{Approval: "req-1", At: "2026-12-01T10:30:00Z", Event: audit.EventDecided, Actor: "Bob", Identity: "bob", ActingFor: "dee",
			Channel: "page", Auth: "signed_link", Action: "approve", Comments: "fine"},
		audit.Entry{Approval: "req-1", At: "2026-12-01T10:30:00Z", Event: audit.EventEnded, Status: "Approved"})
}

// Under a policy every vote is an entry, in the order recorded, and the
// outcome adds none of its own.
func TestAuditOfVotes(t *testing.T) {
	votes := `[{"approver":"bob","approved":true,"comments":"","at":"2026-12-01T10:00:00Z","channel":"api","auth":"function_key"},` +
		`{"approver":"cy","oid":"oid-cy","approved":false,"comments":"too dear","at":"2026-12-01T10:05:00Z","acting_for":"dee","channel":"dashboard","auth":"development"}]`
	st := state(t, api.RUNTIME_STATUS_COMPLETED, `{"request_id":"req-1","requester":"Ana@Example.com","item":"Laptop","approvers":["bob","cy"],"policy":"all"}`, "",
		`{"request_id":"req-1","status":"Rejected","processed_at":"2026-12-01T10:05:01Z","approver":"cy","comments":"too dear","decisions":`+votes+`}`)
	wantEntries(t, audit.Of(st), requested,
		audit.Entry{Approval: "req-1", At: "2026-12-01T10:00:00Z", Event: audit.EventDecided, Actor: "bob", Channel: "api", Auth: "function_key", Action: "approve"},
		audit.Entry{Approval: "req-1", At: "2026-12-01T10:05:00Z", Event: audit.EventDecided, Actor: "cy", ObjectID: "oid-cy", ActingFor: "dee",
			Channel: "dashboard", Auth: "development", Action: "reject", Comments: "too dear"},
		audit.Entry{Approval: "req-1", At: "2026-12-01T10:05:01Z", Event: audit.EventEnded, Status: "Rejected"})
}

func TestAuditOfWithdrawalTimeoutAndTermination(t *testing.T) {
	withdrawn := state(t, api.RUNTIME_STATUS_COMPLETED, seedInput, "",
		`{"request_id":"req-1","status":"Withdrawn","processed_at":"2026-12-01T09:10:00Z","approver":"Ana@Example.com","comments":"bought it","approver_identity":"ana@example.com","channel":"api","auth":"function_key"}`)
	wantEntries(t, audit.Of(withdrawn), requested,
		audit.Entry{Approval: "req-1", At: "2026-12-01T09:10:00Z", Event: audit.EventDecided, Actor: "Ana@Example.com", Identity: "ana@example.com",
			Channel: "api", Auth: "function_key", Action: "withdraw", Comments: "bought it"},
		audit.Entry{Approval: "req-1", At: "2026-12-01T09:10:00Z", Event: audit.EventEnded, Status: "Withdrawn"})

	timedOut := state(t, api.RUNTIME_STATUS_COMPLETED, seedInput, "", `{"request_id":"req-1","status":"Timeout","timed_out_at":"2026-12-02T09:00:00Z"}`)
	wantEntries(t, audit.Of(timedOut), requested,
		audit.Entry{Approval: "req-1", At: "2026-12-02T09:00:00Z", Event: audit.EventEnded, Status: "Timeout"})

	custom := `{"request_id":"req-1","status":"Pending","submitted_at":"2026-12-01T09:00:01Z","approval_url":"u","policy":"all","decisions":[{"approver":"bob","approved":true,"comments":"","at":"2026-12-01T10:00:00Z"}]}`
	terminated := state(t, api.RUNTIME_STATUS_TERMINATED, seedInput, custom, `"duplicate request"`)
	wantEntries(t, audit.Of(terminated), requested,
		audit.Entry{Approval: "req-1", At: "2026-12-01T10:00:00Z", Event: audit.EventDecided, Actor: "bob", Action: "approve"},
		audit.Entry{Approval: "req-1", At: "2026-12-01T12:00:00Z", Event: audit.EventEnded, Status: "Terminated", Comments: "duplicate request"})
}

// A pending approval's audit is its entries so far; it is not sealed.
func TestAuditOfPendingIsNotSealed(t *testing.T) {
	st := state(t, api.RUNTIME_STATUS_RUNNING, seedInput, "", "")
	wantEntries(t, audit.Of(st), requested)
	if _, err := signer(t, key(1), "").Trail(st); !errors.Is(err, audit.ErrPending) {
		t.Fatalf("sealing a pending approval: %v, want ErrPending", err)
	}
}

// The same approval sealed twice, at different times, is the same bytes:
// the seal is dated when the approval ended.
func TestAuditTrailIsDeterministic(t *testing.T) {
	st := state(t, api.RUNTIME_STATUS_COMPLETED, seedInput, "",
		`{"request_id":"req-1","status":"Rejected","processed_at":"2026-12-01T10:30:00Z","approver":"bob","comments":"no"}`)
	s := signer(t, key(1), "")
	var lines []string
	for range 2 {
		trail, err := s.Trail(st)
		if err != nil {
			t.Fatal(err)
		}
		if err := audit.Verify(trail, s.PublicKeys()...); err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(trail)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(b))
		time.Sleep(time.Millisecond)
	}
	if lines[0] != lines[1] {
		t.Fatalf("sealed twice, two trails:\n%s\n%s", lines[0], lines[1])
	}
	if trail, _ := s.Trail(st); trail.Seal.SealedAt != "2026-12-01T10:30:00Z" {
		t.Errorf("sealed at %s, want when the approval ended", trail.Seal.SealedAt)
	}
}

// A round of changes is two entries, the request for changes and the
// resubmission, placed among the votes by when they happened, compared
// as instants: "10:00:00.5Z" is after "10:00:00Z" though it sorts before
// it as text.
func TestAuditOfRoundsOfChanges(t *testing.T) {
	votes := `[{"approver":"bob","approved":true,"comments":"","at":"2026-12-01T10:00:00Z","stage":1,"round":1},` +
		`{"approver":"carol","approved":true,"comments":"now yes","at":"2026-12-01T11:00:00Z","stage":2,"round":2,"group":"finance"}]`
	rounds := `[{"round":1,"stage":2,"requested_by":"carol","comments":"split it","requested_at":"2026-12-01T10:00:00.5Z",` +
		`"item":"6 laptops","answer":"split","resubmitted_at":"2026-12-01T10:30:00Z"}]`
	st := state(t, api.RUNTIME_STATUS_COMPLETED, seedInput, "",
		`{"request_id":"req-1","status":"Approved","processed_at":"2026-12-01T11:00:01Z","approver":"carol","comments":"now yes","decisions":`+votes+`,"rounds":`+rounds+`}`)
	wantEntries(t, audit.Of(st), requested,
		audit.Entry{Approval: "req-1", At: "2026-12-01T10:00:00Z", Event: audit.EventDecided, Actor: "bob", Stage: 1, Round: 1, Action: "approve"},
		audit.Entry{Approval: "req-1", At: "2026-12-01T10:00:00.5Z", Event: audit.EventChangesRequested, Actor: "carol", Stage: 2, Round: 1, Comments: "split it"},
		audit.Entry{Approval: "req-1", At: "2026-12-01T10:30:00Z", Event: audit.EventResubmitted, Actor: "Ana@Example.com", Identity: "ana@example.com",
			Stage: 2, Round: 1, Comments: "split", Item: "6 laptops"},
		audit.Entry{Approval: "req-1", At: "2026-12-01T11:00:00Z", Event: audit.EventDecided, Actor: "carol", Group: "finance", Stage: 2, Round: 2,
			Action: "approve", Comments: "now yes"},
		audit.Entry{Approval: "req-1", At: "2026-12-01T11:00:01Z", Event: audit.EventEnded, Status: "Approved"})
}

// A request without stages starts each round from no votes, so the round
// sent back keeps the votes it had: the audit records them with the
// request for changes and its channel.
func TestAuditKeepsTheVotesOfARoundSentBack(t *testing.T) {
	rounds := `[{"round":1,"requested_by":"carol","comments":"cheaper","requested_at":"2026-12-01T10:05:00Z","channel":"page","auth":"signed_link",` +
		`"resubmitted_at":"2026-12-01T10:30:00Z","item":"Laptop, used","resubmit_channel":"api","resubmit_auth":"function_key",` +
		`"decisions":[{"approver":"bob","approved":true,"comments":"","at":"2026-12-01T10:00:00Z","round":1}]}]`
	st := state(t, api.RUNTIME_STATUS_COMPLETED, `{"request_id":"req-1","requester":"Ana@Example.com","item":"Laptop","approvers":["bob","carol"],"policy":"all","allow_changes":true}`, "",
		`{"request_id":"req-1","status":"Rejected","processed_at":"2026-12-01T11:00:01Z","approver":"bob","comments":"no","rounds":`+rounds+`,`+
			`"decisions":[{"approver":"bob","approved":false,"comments":"no","at":"2026-12-01T11:00:00Z","round":2}]}`)
	wantEntries(t, audit.Of(st), requested,
		audit.Entry{Approval: "req-1", At: "2026-12-01T10:00:00Z", Event: audit.EventDecided, Actor: "bob", Round: 1, Action: "approve"},
		audit.Entry{Approval: "req-1", At: "2026-12-01T10:05:00Z", Event: audit.EventChangesRequested, Actor: "carol", Round: 1,
			Channel: "page", Auth: "signed_link", Comments: "cheaper"},
		audit.Entry{Approval: "req-1", At: "2026-12-01T10:30:00Z", Event: audit.EventResubmitted, Actor: "Ana@Example.com", Identity: "ana@example.com",
			Round: 1, Channel: "api", Auth: "function_key", Item: "Laptop, used"},
		audit.Entry{Approval: "req-1", At: "2026-12-01T11:00:00Z", Event: audit.EventDecided, Actor: "bob", Round: 2, Action: "reject", Comments: "no"},
		audit.Entry{Approval: "req-1", At: "2026-12-01T11:00:01Z", Event: audit.EventEnded, Status: "Rejected"})
}
