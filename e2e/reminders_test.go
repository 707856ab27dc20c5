package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"

	"github.com/approvals-go/approvals/approval"
)

// notices lists the notices a worker logged for an approval, as
// "kind:approver", each once: a notice is sent at least once, and again
// when a worker is killed after sending it but before the scheduler
// recorded that it had.
func notices(t *testing.T, id string, procs ...*proc) []string {
	t.Helper()
	var out []string
	seen := map[string]bool{}
	var logs strings.Builder
	for _, p := range procs {
		logs.WriteString(p.out.String())
	}
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg       string `json:"msg"`
			RequestID string `json:"request_id"`
			Kind      string `json:"kind"`
			Occasion  int    `json:"occasion"`
			Approver  string `json:"approver"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "approval requested" && line.RequestID == id {
			key := fmt.Sprintf("%s:%s:%d", line.Kind, line.Approver, line.Occasion)
			if !seen[key] {
				seen[key] = true
				out = append(out, line.Kind+":"+line.Approver)
			}
		}
	}
	return out
}

// startOrchestration starts an approval with the scheduler's own client,
// as any client of the wire contract may.
func (s *stack) startOrchestration(req approval.Request) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.schedulerClient().ScheduleNewOrchestration(ctx, approval.OrchestratorName, api.WithInstanceID(api.InstanceID(req.RequestID)), api.WithInput(req)); err != nil {
		s.t.Fatal(err)
	}
}

// Reminders and the escalation run on durable timers: a worker killed
// between two reminders misses none of them, and the person escalated to
// decides.
func TestRemindersSurviveAWorkerRestart(t *testing.T) {
	s := newStack(t)
	h := 30.0 / 3600
	s.startOrchestration(approval.Request{RequestID: "remind", Requester: "ana", Item: "laptop", TimeoutHours: &h,
		Approvers: []string{"bob"}, RemindEvery: "2s", EscalateAfter: "7s", EscalateTo: []string{"dave"}})
	waitForOutput(t, s.worker, `"kind":"reminder"`, 20*time.Second)
	first := s.worker
	s.worker.stop(t, syscall.SIGKILL)
	time.Sleep(2500 * time.Millisecond) // the second reminder falls due while no worker runs
	s.startWorker()
	waitForOutput(t, s.worker, `"kind":"escalation"`, 20*time.Second)

	got := strings.Join(notices(t, "remind", first, s.worker), " ")
	want := "request:bob reminder:bob reminder:bob reminder:bob escalation:dave"
	if !strings.HasPrefix(got, want) {
		t.Fatalf("notices = %v, want %v", got, want)
	}
	code, _, out := s.call("SubmitDecision", "remind", map[string]any{"approved": true, "approver": "dave", "comments": "escalated"})
	if code != http.StatusOK && code != http.StatusAccepted {
		t.Fatalf("decision by the person escalated to = %d %v", code, out)
	}
	if out := s.outcome("remind", 20*time.Second); out["status"] != "Approved" {
		t.Fatalf("outcome = %v", out)
	}
}
