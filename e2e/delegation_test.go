package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// delegate gives a delegation through CreateDelegation and returns the
// answer's status and body.
func (s *stack) delegate(delegator, to string, from, until time.Time) (int, map[string]any) {
	s.t.Helper()
	code, _, out := s.call("CreateDelegation", "", map[string]any{"delegator": delegator, "to": to,
		"from": from.UTC().Format(time.RFC3339), "until": until.UTC().Format(time.RFC3339), "note": "away"})
	return code, out
}

// mustDelegate gives a delegation that must be taken, and returns its id.
func (s *stack) mustDelegate(delegator, to string, from, until time.Time) string {
	s.t.Helper()
	code, out := s.delegate(delegator, to, from, until)
	if code != http.StatusCreated {
		s.t.Fatalf("%s delegating to %s = %d %v", delegator, to, code, out)
	}
	return out["id"].(string)
}

// asPerson calls a delegation route without a body, as person.
func (s *stack) asPerson(function, id, person string) (int, map[string]any) {
	s.t.Helper()
	code, _, out := s.callQuery(function, id, url.Values{"person": {person}}, nil)
	return code, out
}

// Delegation through the real processes: the handler reads the ledgers
// the worker keeps on the scheduler, the orchestrator records the vote.
func TestDelegationAcrossProcesses(t *testing.T) {
	s := newStack(t)
	now := time.Now()

	t.Run("inside and outside its dates", func(t *testing.T) {
		s.mustDelegate("alice", "bob", now.Add(-time.Minute), now.Add(time.Hour))
		s.mustDelegate("fay", "bob", now.Add(time.Hour), now.Add(2*time.Hour))
		s.mustDelegate("gil", "bob", now.Add(-time.Minute), time.Now().Add(2*time.Second))

		s.startApproval("deleg-in", map[string]any{"approvers": []string{"alice"}})
		s.waitSubmitted("deleg-in")
		code, out := s.decideAs("deleg-in", true, "bob", "covering")
		result, _ := out["result"].(map[string]any)
		if code != http.StatusOK || result["approver"] != "bob" || result["acting_for"] != "alice" {
			t.Fatalf("bob deciding for alice = %d %v; want 200 with bob acting for alice", code, out)
		}
		if got := s.outcome("deleg-in", 10*time.Second)["result"].(map[string]any); got["acting_for"] != "alice" || got["status"] != "Approved" {
			t.Errorf("outcome = %v; want Approved by bob for alice", got)
		}
		// The worker asked bob too, for alice, and told alice so.
		for _, want := range []string{`"request_id":"deleg-in","kind":"request","occasion":0,"requester":"ana","item":"laptop","approver":"bob"`,
			`"acting_for":"alice"`, `"kind":"delegated","occasion":0,"requester":"ana","item":"laptop","approver":"alice"`, `"delegates":"bob"`} {
			for deadline := time.Now().Add(10 * time.Second); !strings.Contains(s.worker.out.String(), want); time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the worker's log lacks %s:\n%s", want, s.worker.out.String())
				}
			}
		}

		s.startApproval("deleg-early", map[string]any{"approvers": []string{"fay"}})
		s.waitSubmitted("deleg-early")
		if code, out := s.decideAs("deleg-early", true, "bob", "covering"); code != http.StatusForbidden || out["reason"] != "not_an_approver" {
			t.Errorf("bob deciding for fay before her delegation begins = %d %v; want 403 not_an_approver", code, out)
		}

		s.startApproval("deleg-late", map[string]any{"approvers": []string{"gil"}})
		s.waitSubmitted("deleg-late")
		time.Sleep(time.Until(now.Add(3 * time.Second)))
		if code, out := s.decideAs("deleg-late", true, "bob", "covering"); code != http.StatusForbidden || out["reason"] != "not_an_approver" {
			t.Errorf("bob deciding for gil after his delegation ended = %d %v; want 403 not_an_approver", code, out)
		}
	})

	t.Run("a chain, counted once under policy all", func(t *testing.T) {
		s.mustDelegate("hal", "ivy", now.Add(-time.Minute), now.Add(time.Hour))
		s.mustDelegate("ivy", "jon", now.Add(-time.Minute), now.Add(time.Hour))
		s.startApproval("deleg-chain", map[string]any{"approvers": []string{"hal", "kim"}, "policy": "all"})
		s.waitSubmitted("deleg-chain")
		code, out := s.decideAs("deleg-chain", true, "jon", "covering")
		decisions, _ := out["decisions"].([]any)
		if code != http.StatusOK || len(decisions) != 1 || decisions[0].(map[string]any)["acting_for"] != "hal" {
			t.Fatalf("jon deciding through ivy for hal = %d %v; want 200 and his vote recorded for hal", code, out)
		}
		if code, out := s.decideAs("deleg-chain", true, "jon", "covering"); code != http.StatusOK {
			t.Errorf("jon's decision sent again = %d %v; want 200, the vote it repeats", code, out)
		}
		if code, out := s.decideAs("deleg-chain", true, "hal", "covering"); code != http.StatusConflict {
			t.Errorf("hal deciding after jon decided for him = %d %v; want 409", code, out)
		}
		if code, out := s.decideAs("deleg-chain", true, "kim", "covering"); code != http.StatusOK || out["status"] != "Approved" {
			t.Errorf("kim's approval = %d %v; want 200 Approved", code, out)
		}
	})

	t.Run("a cycle is refused when it is made", func(t *testing.T) {
		s.mustDelegate("lea", "max", now.Add(-time.Minute), now.Add(time.Hour))
		s.mustDelegate("max", "ned", now.Add(-time.Minute), now.Add(time.Hour))
		if code, out := s.delegate("ned", "LEA", now.Add(30*time.Minute), now.Add(90*time.Minute)); code != http.StatusConflict || out["field"] != "to" {
			t.Errorf("ned delegating back to lea = %d %v; want 409 naming to", code, out)
		}
		if code, out := s.delegate("ned", "lea", now.Add(2*time.Hour), now.Add(3*time.Hour)); code != http.StatusCreated {
			t.Errorf("ned delegating to lea after lea's ends = %d %v; want 201", code, out)
		}
	})

	t.Run("the requester never decides through delegation", func(t *testing.T) {
		// ana, the requester, delegates to bob, an approver: bob still
		// decides as himself.
		s.mustDelegate("ana", "oli", now.Add(-time.Minute), now.Add(time.Hour))
		s.startApproval("deleg-requester", map[string]any{"approvers": []string{"oli"}})
		s.waitSubmitted("deleg-requester")
		// pam delegates to ana, the requester: ana still may not decide.
		s.mustDelegate("pam", "ana", now.Add(-time.Minute), now.Add(time.Hour))
		s.startApproval("deleg-to-requester", map[string]any{"approvers": []string{"pam"}})
		s.waitSubmitted("deleg-to-requester")
		if code, out := s.decideAs("deleg-to-requester", true, "ana", "covering"); code != http.StatusForbidden || out["reason"] != "self_decision" {
			t.Errorf("ana deciding her own request for pam = %d %v; want 403 self_decision", code, out)
		}
		code, out := s.decideAs("deleg-requester", true, "oli", "covering")
		result, _ := out["result"].(map[string]any)
		if code != http.StatusOK || result["approver"] != "oli" || result["acting_for"] != nil {
			t.Errorf("oli deciding = %d %v; want 200 as himself", code, out)
		}
	})

	t.Run("listed and revoked by the delegator only", func(t *testing.T) {
		id := s.mustDelegate("quin", "rex", now.Add(-time.Minute), now.Add(time.Hour))
		code, out := s.asPerson("ListDelegations", "", "rex")
		received, _ := out["received"].([]any)
		if code != http.StatusOK || len(received) != 1 || received[0].(map[string]any)["id"] != id {
			t.Fatalf("rex's delegations = %d %v; want quin's received", code, out)
		}
		if code, out := s.asPerson("RevokeDelegation", id, "rex"); code != http.StatusForbidden {
			t.Errorf("rex revoking quin's delegation = %d %v; want 403", code, out)
		}
		if code, out := s.asPerson("RevokeDelegation", id, "Quin"); code != http.StatusOK {
			t.Fatalf("quin revoking = %d %v; want 200", code, out)
		}
		s.startApproval("deleg-revoked", map[string]any{"approvers": []string{"quin"}})
		s.waitSubmitted("deleg-revoked")
		if code, out := s.decideAs("deleg-revoked", true, "rex", "covering"); code != http.StatusForbidden {
			t.Errorf("rex deciding for quin after the revocation = %d %v; want 403", code, out)
		}
		if code, out := s.asPerson("ListDelegations", "", "quin"); code != http.StatusOK || len(out["given"].([]any)) != 0 {
			t.Errorf("quin's delegations after the revocation = %d %v; want none given", code, out)
		}
	})
}

// Delegations live on the scheduler as orchestrations, so they work on
// durabletask-go's own SQLite backend too, which serves no instance
// queries.
func TestDelegationOnVanillaBackend(t *testing.T) {
	s := newStackWith(t, func(s *stack) { s.vanilla = true })
	now := time.Now()
	id := s.mustDelegate("alice", "bob", now.Add(-time.Minute), now.Add(time.Hour))
	s.mustDelegate("bob", "carol", now.Add(-time.Minute), now.Add(time.Hour))
	if code, out := s.delegate("carol", "alice", now, now.Add(time.Hour)); code != http.StatusConflict {
		t.Errorf("carol delegating back to alice = %d %v; want 409", code, out)
	}
	s.startApproval("vanilla-deleg", map[string]any{"approvers": []string{"alice"}})
	s.waitSubmitted("vanilla-deleg")
	code, out := s.decideAs("vanilla-deleg", true, "carol", "covering")
	result, _ := out["result"].(map[string]any)
	if code != http.StatusOK || result["acting_for"] != "alice" {
		t.Fatalf("carol deciding through bob for alice = %d %v; want 200 acting for alice", code, out)
	}
	if code, out := s.asPerson("RevokeDelegation", id, "alice"); code != http.StatusOK {
		t.Errorf("alice revoking = %d %v; want 200", code, out)
	}
}
