package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// submittedDeadline waits for an approval to be submitted and returns its
// published deadline.
func (s *stack) submittedDeadline(id string) time.Time {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		code, _, out := s.call("GetApproval", id, nil)
		if code == http.StatusAccepted && out["expires_at"] != nil {
			at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(out["expires_at"]))
			if err != nil {
				s.t.Fatalf("%s: expires_at: %v", id, err)
			}
			return at
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.t.Fatalf("%s was never submitted", id)
	return time.Time{}
}

// Decisions accepted before their deadlines win, although no worker runs
// until after the deadlines: the scheduler then holds both each decision
// and its timer, and delivers them in the order they became due.
func TestDecisionsBeforeDeadlineWinAcrossWorkerOutage(t *testing.T) {
	s := newStack(t)
	const n = 100
	ids := s.startApprovals("deadline", n, "10s")
	var last time.Time
	for _, id := range ids {
		if at := s.submittedDeadline(id); at.After(last) {
			last = at
		}
	}
	s.worker.stop(t, syscall.SIGKILL)

	codes := make([]int, n)
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _, _ := s.call("SubmitDecision", id, map[string]any{"approved": true, "approver": "bob", "comments": "before the deadline"})
			codes[i] = code
		}()
	}
	wg.Wait()
	answered := time.Now()
	for i, code := range codes {
		if code != http.StatusAccepted {
			t.Fatalf("%s: decision with no worker = %d, want 202 (delivered, outcome not known)", ids[i], code)
		}
	}
	t.Logf("all %d decisions answered %s before the last deadline", n, last.Sub(answered).Round(time.Millisecond))

	time.Sleep(time.Until(last) + time.Second)
	s.startWorker()
	approved := 0
	for _, id := range ids {
		out := s.outcome(id, 60*time.Second)
		if out["status"] == "Approved" {
			approved++
		} else {
			t.Errorf("%s ended %v after a decision accepted before its deadline", id, out["status"])
		}
	}
	if approved != n {
		t.Fatalf("%d of %d approvals ended Approved", approved, n)
	}
}

// A decision stored before the deadline wins when the scheduler, not the
// worker, is down across the deadline, and comes back after it.
func TestDecisionBeforeDeadlineWinsAcrossSchedulerRestart(t *testing.T) {
	s := newStack(t)
	s.startApproval("deadline-restart", map[string]any{"timeout": "6s"})
	expires := s.submittedDeadline("deadline-restart")
	s.worker.stop(t, syscall.SIGKILL)
	if code := s.decide("deadline-restart", true, "gina"); code != http.StatusAccepted {
		t.Fatalf("decision with no worker = %d, want 202", code)
	}
	s.scheduler.stop(t, syscall.SIGKILL)
	time.Sleep(time.Until(expires) + time.Second)
	s.startScheduler()
	s.startWorker()
	if out := s.outcome("deadline-restart", 30*time.Second); out["status"] != "Approved" {
		t.Fatalf("a decision stored before the deadline ended %v", out)
	}
}

// A decision whose answer was lost, sent again after the deadline while
// no worker runs: the approval's outcome is not known yet and may be the
// first copy, so the repeat is answered 202 (poll), never a 409 that
// would turn out false; once the worker is back and the first copy won,
// the repeat is answered 200 and another person's late decision 409.
func TestRepeatedDecisionAfterDeadlineIsNeverAFalseConflict(t *testing.T) {
	s := newStack(t)
	s.startApproval("retry-late", map[string]any{"timeout": "6s"})
	expires := s.submittedDeadline("retry-late")
	s.worker.stop(t, syscall.SIGKILL)
	bob := map[string]any{"approved": true, "approver": "bob", "comments": "sent before the deadline"}
	if code, _, out := s.call("SubmitDecision", "retry-late", bob); code != http.StatusAccepted {
		t.Fatalf("decision with no worker = %d %v, want 202", code, out)
	}
	time.Sleep(time.Until(expires) + 500*time.Millisecond)
	code, h, out := s.call("SubmitDecision", "retry-late", bob)
	if code != http.StatusAccepted || h.Get("Location") == "" {
		t.Fatalf("the same decision after the deadline, outcome unknown = %d %v, want 202 with Location", code, out)
	}
	if detail, _ := out["detail"].(string); !strings.Contains(detail, "deadline has passed") {
		t.Fatalf("the 202 should say the deadline passed and the outcome is unknown: %v", out)
	}
	carol := map[string]any{"approved": false, "approver": "carol", "comments": "too late"}
	if code, _, out := s.call("SubmitDecision", "retry-late", carol); code != http.StatusAccepted {
		t.Fatalf("another decision after the deadline, outcome unknown = %d %v, want 202", code, out)
	}
	s.startWorker()
	if out := s.outcome("retry-late", 30*time.Second); out["status"] != "Approved" {
		t.Fatalf("outcome %v, want bob's decision sent before the deadline", out)
	}
	if code, _, out := s.call("SubmitDecision", "retry-late", bob); code != http.StatusOK {
		t.Fatalf("the repeat once bob's decision is the outcome = %d %v, want 200", code, out)
	}
	if code, _, out := s.call("SubmitDecision", "retry-late", carol); code != http.StatusConflict {
		t.Fatalf("carol's late decision once bob's is the outcome = %d %v, want 409", code, out)
	}
}
