package e2e

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// activityRuns counts, per request_id, the log lines with message msg in
// one process's output: "approval requested" is written by the submit
// activity, "approval processed" by process_approval.
func activityRuns(t *testing.T, p *proc, msg string) map[string]int {
	t.Helper()
	runs := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(p.out.String()))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg       string `json:"msg"`
			RequestID string `json:"request_id"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil || line.Msg != msg {
			continue
		}
		runs[line.RequestID]++
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read the output of %s: %v", p.name, err)
	}
	return runs
}

// TestTwoWorkersShareTheWork runs what the worker's Container App does when
// it scales out: two worker processes on one scheduler. Each approval's
// activities run on exactly one of them, none twice, and both get work.
func TestTwoWorkersShareTheWork(t *testing.T) {
	s := newStack(t)
	first := s.worker
	s.startWorker()
	second := s.worker
	workers := []*proc{first, second}
	// Both listen before any work exists, so the scheduler can hand it to
	// either.
	for _, w := range workers {
		waitForOutput(t, w, `"msg":"worker started"`, 20*time.Second)
	}

	const n = 40
	began := time.Now()
	ids := s.startApprovals("scale", n, "1h")
	for i, id := range ids {
		s.waitSubmitted(id)
		decideTaken(t, s, id, i%2 == 0, "jo")
	}
	for i, id := range ids {
		want := "Rejected"
		if i%2 == 0 {
			want = "Approved"
		}
		if out := s.outcome(id, 30*time.Second); out["status"] != want {
			t.Fatalf("%s ended %v, want %s", id, out, want)
		}
	}
	t.Logf("%d approvals started, decided and finished on two workers in %s", n, time.Since(began).Round(time.Millisecond))

	for _, msg := range []string{"approval requested", "approval processed"} {
		per := make([]map[string]int, len(workers))
		for i, w := range workers {
			per[i] = activityRuns(t, w, msg)
		}
		for _, id := range ids {
			if total := per[0][id] + per[1][id]; total != 1 {
				t.Errorf("%q for %s was logged %d times (first worker %d, second %d), want exactly once",
					msg, id, total, per[0][id], per[1][id])
			}
		}
		for i, w := range workers {
			if len(per[i]) == 0 {
				t.Errorf("worker %d (pid %d) logged no %q: the work was not shared", i+1, w.cmd.Process.Pid, msg)
			}
		}
		t.Logf("%q: first worker %d, second worker %d", msg, len(per[0]), len(per[1]))
	}
}
