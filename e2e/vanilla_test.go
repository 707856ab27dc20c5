package e2e

import (
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	benchOnce sync.Once
	benchErr  error
)

// startVanilla runs durabletask-go v0.6.0's own sidecar on its SQLite
// backend, wired as its main.go does (cmd/bench -serve vanilla), and
// points the worker and the handler at the address it prints.
func (s *stack) startVanilla() {
	s.t.Helper()
	dir := binaries(s.t)
	benchOnce.Do(func() {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "bench"), "../cmd/bench").CombinedOutput()
		if err != nil {
			benchErr = fmt.Errorf("build bench: %v\n%s", err, out)
		}
	})
	if benchErr != nil {
		s.t.Fatal(benchErr)
	}
	s.scheduler = start(s.t, "bench", nil, "-serve", "vanilla", "-data", s.data)
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, line := range strings.Split(s.scheduler.out.String(), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "LISTENING" {
				s.clientEnv = []string{"ENDPOINT=http://" + f[1], "TASKHUB=default"}
				return
			}
		}
		if time.Now().After(deadline) || !running(s.scheduler) {
			s.t.Fatalf("the vanilla sidecar never printed its address:\n%s", s.scheduler.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Decisions accepted before their deadlines win on durabletask-go's own
// SQLite backend too, which delivers an orchestration's new events in the
// order they were written: with the worker down across the deadlines, the
// deadline's timer (written when the approval began to wait) comes back
// ahead of the decision raised after it. The orchestrator must still take
// the decision, since the handler accepted it before the deadline.
// Against the worker of 36ff013 (before the orchestrator yielded a step at
// the deadline) 19 of the 20 ended Timeout.
func TestDecisionsBeforeDeadlineWinOnVanillaBackend(t *testing.T) {
	s := newStackWith(t, func(s *stack) { s.vanilla = true })
	const n = 20
	ids := s.startApprovals("vanilla", n, "15s")
	deadlines := make([]time.Time, n)
	var first, last time.Time
	for i, id := range ids {
		deadlines[i] = s.submittedDeadline(id)
		if first.IsZero() || deadlines[i].Before(first) {
			first = deadlines[i]
		}
		if deadlines[i].After(last) {
			last = deadlines[i]
		}
	}
	s.worker.stop(t, syscall.SIGKILL)

	// Decide a few seconds before the first deadline, so that each is
	// answered well before its own: the worker is down, so 202.
	time.Sleep(time.Until(first.Add(-5 * time.Second)))
	codes := make([]int, n)
	answered := make([]time.Time, n)
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			codes[i], _, _ = s.call("SubmitDecision", id, map[string]any{"approved": true, "approver": "bob", "comments": "before the deadline"})
			answered[i] = time.Now()
		})
	}
	wg.Wait()
	margin := time.Duration(1<<63 - 1)
	for i, id := range ids {
		if codes[i] != http.StatusAccepted {
			t.Fatalf("%s: decision with no worker = %d, want 202 (delivered, outcome not known)", id, codes[i])
		}
		if !answered[i].Before(deadlines[i]) {
			t.Fatalf("%s: decision answered %s after its deadline; the test needs it before", id, answered[i].Sub(deadlines[i]))
		}
		margin = min(margin, deadlines[i].Sub(answered[i]))
	}
	t.Logf("all %d decisions answered 202, each at least %s before its deadline", n, margin.Round(time.Millisecond))

	time.Sleep(time.Until(last.Add(2 * time.Second)))
	s.startWorker()
	var wrong []string
	for _, id := range ids {
		// The sidecar's own dispatchers poll with a backoff of up to 5 s.
		out := s.outcome(id, 2*time.Minute)
		if out["status"] != "Approved" {
			wrong = append(wrong, fmt.Sprintf("%s %v", id, out["status"]))
		}
	}
	if len(wrong) > 0 {
		t.Fatalf("%d of %d approvals decided before their deadlines did not end Approved: %v", len(wrong), n, wrong)
	}
}
