package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"

	"github.com/approvals-go/approvals/approval"
)

// Stages and rounds of changes through the real processes: the handler
// answers each step truthfully and the outcome records every stage and
// round.

// twoStages is a purchase decided by its manager, then two of finance.
var twoStages = map[string]any{"stages": []map[string]any{
	{"name": "manager", "approvers": []string{"bob"}, "timeout_hours": 1},
	{"name": "finance", "approvers": []string{"carol", "dan", "erin"}, "policy": "quorum", "required": 2, "timeout_hours": 1},
}}

// act calls function with body and wants code.
func (s *stack) act(function, id string, body map[string]any, want int) map[string]any {
	s.t.Helper()
	code, _, out := s.call(function, id, body)
	if code != want {
		s.t.Fatalf("%s %s %v = %d %v, want %d", function, id, body, code, out, want)
	}
	return out
}

func stagesOf(out map[string]any) []map[string]any {
	var stages []map[string]any
	for _, v := range out["stages"].([]any) {
		stages = append(stages, v.(map[string]any))
	}
	return stages
}

func TestTwoStagesAcrossProcesses(t *testing.T) {
	s := newStack(t)
	s.startApproval("stages-ok", twoStages)
	s.startApproval("stages-no", twoStages)
	s.waitSubmitted("stages-ok")
	s.waitSubmitted("stages-no")

	// Finance may not decide the manager's stage.
	s.act("SubmitDecision", "stages-ok", map[string]any{"approved": true, "approver": "carol"}, http.StatusForbidden)
	out := s.act("SubmitDecision", "stages-ok", map[string]any{"approved": true, "approver": "bob", "comments": "fine"}, http.StatusOK)
	if out["stage"] != float64(2) || out["status"] != "Pending" {
		t.Fatalf("after the manager approved: %v", out)
	}
	// A decision meant for stage 1, sent now, is refused, not counted in
	// stage 2.
	s.act("SubmitDecision", "stages-ok", map[string]any{"approved": true, "approver": "carol"}, http.StatusOK)
	s.act("SubmitDecision", "stages-ok", map[string]any{"approved": true, "approver": "dan", "comments": "ok"}, http.StatusOK)
	done := s.outcome("stages-ok", 20*time.Second)
	result := done["result"].(map[string]any)
	if done["status"] != "Approved" || len(result["decisions"].([]any)) != 3 {
		t.Fatalf("stages-ok ended %v", done)
	}
	stages := stagesOf(result)
	if len(stages) != 2 || stages[0]["status"] != "Approved" || stages[1]["status"] != "Approved" ||
		len(stages[0]["decisions"].([]any)) != 1 || len(stages[1]["decisions"].([]any)) != 2 {
		t.Fatalf("the outcome's stages: %v", stages)
	}

	s.act("SubmitDecision", "stages-no", map[string]any{"approved": true, "approver": "bob"}, http.StatusOK)
	s.act("SubmitDecision", "stages-no", map[string]any{"approved": false, "approver": "carol", "comments": "too dear"}, http.StatusOK)
	s.act("SubmitDecision", "stages-no", map[string]any{"approved": false, "approver": "erin", "comments": "no"}, http.StatusOK)
	done = s.outcome("stages-no", 20*time.Second)
	stages = stagesOf(done["result"].(map[string]any))
	if done["status"] != "Rejected" || stages[0]["status"] != "Approved" || stages[1]["status"] != "Rejected" {
		t.Fatalf("stages-no ended %v", done)
	}
}

// A decision for stage 1 that arrives after stage 2 started (it carries
// its stage) is answered 409 by the handler, and refused by the
// orchestrator when delivered all the same (sent before stage 2 began,
// delivered after).
func TestStaleStageDecisionAcrossProcesses(t *testing.T) {
	s := newStack(t)
	req := map[string]any{"stages": []map[string]any{
		{"name": "team", "approvers": []string{"bob", "carol"}, "timeout_hours": 1},
		{"name": "finance", "approvers": []string{"carol", "dan"}, "policy": "all", "timeout_hours": 1},
	}}
	s.startApproval("stale", req)
	s.waitSubmitted("stale")
	s.act("SubmitDecision", "stale", map[string]any{"approved": true, "approver": "bob"}, http.StatusOK)
	out := s.act("SubmitDecision", "stale", map[string]any{"approved": true, "approver": "carol", "stage": 1}, http.StatusConflict)
	if out["reason"] != "stale" {
		t.Fatalf("a stage 1 decision in stage 2: %v", out)
	}
	late, _ := json.Marshal(approval.Decision{IsApproved: ptr(true), Approver: ptr("carol"), Stage: 1})
	if err := s.schedulerClient().RaiseEvent(context.Background(), "stale", approval.DecisionEventName, api.WithRawEventData(string(late))); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, _, st := s.call("GetApproval", "stale", nil)
		if st["decisions"] != nil {
			t.Fatalf("stage 2 counted a stage 1 decision: %v", st)
		}
		if refused, _ := st["refused"].([]any); len(refused) == 1 && refused[0].(map[string]any)["reason"] == "stale" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the late stage 1 decision was never refused: %v", st)
		}
	}
	s.act("SubmitDecision", "stale", map[string]any{"approved": true, "approver": "carol"}, http.StatusOK)
}

func TestTwoRoundsOfChangesAcrossProcesses(t *testing.T) {
	s := newStack(t)
	s.startApproval("rounds", map[string]any{"approvers": []string{"bob"}, "allow_changes": true, "timeout_hours": 1})
	s.waitSubmitted("rounds")
	_, _, st := s.call("GetApproval", "rounds", nil)
	if st["changes_uri"] == nil || st["round"] != float64(1) {
		t.Fatalf("the API does not offer changes: %v", st)
	}
	// A request for changes needs a comment, and an approver.
	s.act("RequestChanges", "rounds", map[string]any{"approver": "bob"}, http.StatusBadRequest)
	s.act("RequestChanges", "rounds", map[string]any{"approver": "mallory", "comments": "?"}, http.StatusForbidden)
	s.act("ResubmitApproval", "rounds", map[string]any{"requester": "ana", "item": "x"}, http.StatusConflict)

	out := s.act("RequestChanges", "rounds", map[string]any{"approver": "bob", "comments": "which model?"}, http.StatusOK)
	if out["changes_requested"] != true {
		t.Fatalf("after changes were requested: %v", out)
	}
	// It waits for its requester now: in her inbox, and no longer in bob's.
	if !listed(t, s, "ana", "rounds") || listed(t, s, "bob", "rounds") {
		t.Fatal("while changes are requested the request should be in the requester's inbox only")
	}
	// Sent again after a lost answer: answered as the first was.
	s.act("RequestChanges", "rounds", map[string]any{"approver": "bob", "comments": "which model?"}, http.StatusOK)
	// No decision counts while the requester edits; only the requester
	// resubmits.
	refused := s.act("SubmitDecision", "rounds", map[string]any{"approved": true, "approver": "bob"}, http.StatusConflict)
	if refused["reason"] != "changes_requested" {
		t.Fatalf("a decision while changes are requested: %v", refused)
	}
	s.act("ResubmitApproval", "rounds", map[string]any{"requester": "bob", "item": "x"}, http.StatusForbidden)
	out = s.act("ResubmitApproval", "rounds", map[string]any{"requester": "ana", "item": "laptop, 14 inch", "comments": "the small one"}, http.StatusOK)
	if out["round"] != float64(2) || out["item"] != "laptop, 14 inch" {
		t.Fatalf("after the resubmission: %v", out)
	}
	s.act("ResubmitApproval", "rounds", map[string]any{"requester": "ana", "item": "laptop, 14 inch", "comments": "the small one"}, http.StatusOK)
	s.act("ResubmitApproval", "rounds", map[string]any{"requester": "ana", "item": "something else"}, http.StatusConflict)
	s.act("RequestChanges", "rounds", map[string]any{"approver": "bob", "comments": "and the colour?"}, http.StatusOK)
	s.act("ResubmitApproval", "rounds", map[string]any{"requester": "ana", "item": "laptop, 14 inch, grey"}, http.StatusOK)
	s.act("SubmitDecision", "rounds", map[string]any{"approved": true, "approver": "bob", "comments": "fine"}, http.StatusOK)
	done := s.outcome("rounds", 20*time.Second)
	result := done["result"].(map[string]any)
	rounds := result["rounds"].([]any)
	if done["status"] != "Approved" || len(rounds) != 2 || result["item"] != "laptop, 14 inch, grey" {
		t.Fatalf("rounds ended %v", done)
	}
	first, second := rounds[0].(map[string]any), rounds[1].(map[string]any)
	if first["requested_by"] != "bob" || first["comments"] != "which model?" || first["item"] != "laptop, 14 inch" ||
		first["answer"] != "the small one" || second["item"] != "laptop, 14 inch, grey" || second["resubmitted_at"] == nil {
		t.Fatalf("the rounds recorded: %v", rounds)
	}
}

// listed reports whether who's list of pending approvals holds id.
func listed(t *testing.T, s *stack, who, id string) bool {
	t.Helper()
	resp, err := http.Get(s.url("/api/approvals?status=Pending&approver=" + who))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Approvals []struct {
			ID string `json:"id"`
		} `json:"approvals"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	for _, a := range list.Approvals {
		if a.ID == id {
			return true
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }

// On durabletask-go's own SQLite backend: stage 1 ends early, leaving its
// reminder's timer behind; it fires during stage 2, whose wait must
// neither end nor go deaf then. Stage 2's decision, sent after the
// leftover fired, decides well before stage 2's deadline.
func TestStageTwoOutlivesStageOnesTimersOnVanillaBackend(t *testing.T) {
	s := newStackWith(t, func(s *stack) { s.vanilla = true })
	s.startApproval("vanilla-stages", map[string]any{"stages": []map[string]any{
		{"name": "manager", "approvers": []string{"bob"}, "timeout_hours": 8.0 / 3600, "remind_every": "2s"},
		{"name": "finance", "approvers": []string{"carol"}, "timeout_hours": 90.0 / 3600},
	}})
	s.waitSubmitted("vanilla-stages")
	began := time.Now()
	s.act("SubmitDecision", "vanilla-stages", map[string]any{"approved": true, "approver": "bob"}, http.StatusOK)
	time.Sleep(time.Until(began.Add(9 * time.Second)))
	if _, _, st := s.call("GetApproval", "vanilla-stages", nil); st["status"] != "Pending" || st["stage"] != float64(2) {
		t.Fatalf("after stage 1's timers: %v", st)
	}
	sent := time.Now()
	code, _, out := s.call("SubmitDecision", "vanilla-stages", map[string]any{"approved": true, "approver": "carol"})
	if code != http.StatusOK && code != http.StatusAccepted {
		t.Fatalf("stage 2's decision = %d %v", code, out)
	}
	if done := s.outcome("vanilla-stages", 60*time.Second); done["status"] != "Approved" {
		t.Fatalf("ended %v", done)
	}
	// The sidecar's dispatchers poll with a backoff of up to 5 s.
	if took := time.Since(sent); took > 20*time.Second {
		t.Fatalf("stage 2's decision took %s to count: its wait was deaf", took)
	}
}
