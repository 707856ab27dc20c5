package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func (e *apiEnv) startPending(t *testing.T, id, timeout string) response {
	t.Helper()
	r := e.postJSON(t, "/api/approvals", map[string]any{"request_id": id, "requester": "ana", "item": "laptop", "timeout": timeout})
	if r.code != http.StatusAccepted {
		t.Fatalf("start %s = %d %s", id, r.code, r.raw)
	}
	return e.until(t, id, submitted)
}

// Decisions sent at the same moment: exactly one is answered as the
// outcome, every other is told 409 with the outcome that stands.
func TestConcurrentConflictingDecisions(t *testing.T) {
	e := newAPI(t)
	for _, deciders := range []int{2, 3} {
		for n := range 10 {
			id := fmt.Sprintf("race-%d-%d", deciders, n)
			e.startPending(t, id, "1h")
			answers := make([]response, deciders)
			var wg sync.WaitGroup
			for i := range deciders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					answers[i] = e.postJSON(t, "/api/approvals/"+id+"/decision",
						map[string]any{"approved": i%2 == 0, "approver": fmt.Sprintf("approver-%d", i), "comments": "race"})
				}()
			}
			wg.Wait()
			winner := -1
			for i, a := range answers {
				switch a.code {
				case http.StatusOK:
					if winner >= 0 {
						t.Fatalf("%s: decisions %d and %d were both answered as the outcome", id, winner, i)
					}
					winner = i
				case http.StatusConflict:
				default:
					t.Fatalf("%s: decision %d = %d %s", id, i, a.code, a.raw)
				}
			}
			if winner < 0 {
				t.Fatalf("%s: no decision was answered as the outcome: %v", id, answers)
			}
			final := e.until(t, id, finished)
			result, _ := final.body["result"].(map[string]any)
			if result["approver"] != fmt.Sprintf("approver-%d", winner) {
				t.Fatalf("%s: the outcome is %s, but decision %d was told it won", id, final.raw, winner)
			}
			for i, a := range answers {
				if i == winner {
					continue
				}
				if lost, _ := a.body["result"].(map[string]any); lost["approver"] != result["approver"] {
					t.Fatalf("%s: the 409 of decision %d names another outcome: %s", id, i, a.raw)
				}
			}
		}
	}
}

// The same decision sent again, as a client retrying after a lost answer
// does, gets the same answer; the approver's name compares regardless of
// case. A different decision by the same person is a conflict.
func TestRepeatedDecisionIsIdempotent(t *testing.T) {
	e := newAPI(t)
	e.startPending(t, "again", "1h")
	first := e.postJSON(t, "/api/approvals/again/decision", map[string]any{"approved": true, "approver": "Bob@Example.com", "comments": "ok"})
	if first.code != http.StatusOK || first.body["status"] != "Approved" {
		t.Fatalf("decision = %d %s", first.code, first.raw)
	}
	second := e.postJSON(t, "/api/approvals/again/decision", map[string]any{"approved": true, "approver": "bob@example.com", "comments": "ok"})
	if second.code != http.StatusOK || second.body["status"] != "Approved" || second.body["result"] == nil {
		t.Fatalf("repeated decision = %d %s", second.code, second.raw)
	}
	other := e.postJSON(t, "/api/approvals/again/decision", map[string]any{"approved": false, "approver": "bob@example.com", "comments": "ok"})
	if other.code != http.StatusConflict {
		t.Fatalf("a different decision by the same person = %d %s", other.code, other.raw)
	}
	if n := e.orch.decisions.Load(); n != 1 {
		t.Fatalf("%d decisions reached the scheduler, want 1: a decided approval raises nothing", n)
	}
}

// A decision a few milliseconds after the published deadline is refused
// and raises nothing, and the approval times out.
func TestDecisionJustAfterDeadline(t *testing.T) {
	e := newAPI(t)
	p := e.startPending(t, "late", "2s")
	expires, err := time.Parse(time.RFC3339Nano, fmt.Sprint(p.body["expires_at"]))
	if err != nil {
		t.Fatalf("expires_at: %v in %s", err, p.raw)
	}
	time.Sleep(time.Until(expires) + 5*time.Millisecond)
	d := e.postJSON(t, "/api/approvals/late/decision", map[string]any{"approved": true, "approver": "bob"})
	if d.code != http.StatusConflict || !strings.Contains(d.header.Get("Content-Type"), "problem+json") {
		t.Fatalf("decision after the deadline = %d %s", d.code, d.raw)
	}
	if n := e.orch.decisions.Load(); n != 0 {
		t.Fatalf("a decision after the deadline reached the scheduler")
	}
	final := e.until(t, "late", finished)
	if final.body["status"] != "Timeout" {
		t.Fatalf("final = %s", final.raw)
	}
	result, _ := final.body["result"].(map[string]any)
	if at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(result["timed_out_at"])); err != nil || at.Before(expires) {
		t.Fatalf("timed out at %v, before the published deadline %v", result["timed_out_at"], p.body["expires_at"])
	}
}

// An encoded slash in the id does not reach another route: the path is
// matched as sent, and such an id is unknown.
func TestEncodedSlashIsNotARoute(t *testing.T) {
	e := newAPI(t)
	e.startPending(t, "slash", "1h")
	for _, path := range []string{"/api/approvals/slash%2Fdecision", "/api/approvals/slash%2fdecision"} {
		r := e.postJSON(t, path, map[string]any{"approved": true, "approver": "bob"})
		if r.code != http.StatusNotFound && r.code != http.StatusMethodNotAllowed {
			t.Errorf("POST %s = %d %s", path, r.code, r.raw)
		}
	}
	if n := e.orch.decisions.Load(); n != 0 {
		t.Fatalf("a decision sent to an encoded path reached the scheduler")
	}
}
