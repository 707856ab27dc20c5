package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Issue 20's "done means", as a team replacing a Power Automate approval
// flow would try it, on `go run ./cmd/dev` with a groups file: a
// two-stage purchase (the manager, then two of finance) whose manager is
// away and delegated to dan; finance sends it back once for changes; the
// requester resubmits it edited; bob approves it in bulk with another
// request, carol on her own; and its audit trail, exported for the
// period, verifies with the key dev prints, and fails with one byte
// changed.
func TestPurchaseApprovalAsATeamRunsIt(t *testing.T) {
	groups := filepath.Join(t.TempDir(), "groups.json")
	if err := os.WriteFile(groups, []byte(`{"finance": ["bob", "carol", "erin"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	dev, s := startDev(t, []string{"APPROVALS_AUDIT_KEY="}, "-data", t.TempDir(), "-groups", groups)
	defer dev.stop(t, syscall.SIGINT)
	var public string
	for deadline := time.Now().Add(20 * time.Second); public == ""; time.Sleep(20 * time.Millisecond) {
		if m := devAuditKeyLine.FindStringSubmatch(dev.out.String()); m != nil {
			public = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("dev never printed its audit key:\n%s", dev.out.String())
		}
	}
	from := time.Now().Add(-time.Minute)

	s.mustDelegate("mia", "dan", time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	const id = "purchase-1"
	s.startApproval(id, map[string]any{"item": "12 laptops, 14,400 EUR", "stages": []map[string]any{
		{"name": "manager", "approvers": []string{"mia"}, "timeout_hours": 24},
		{"name": "finance", "groups": []map[string]any{{"group": "finance", "required": 2}}, "timeout_hours": 48},
	}})
	s.startApproval("purchase-2", map[string]any{"item": "a monitor", "approver": "bob"})
	s.waitSubmitted(id)
	s.waitSubmitted("purchase-2")

	// The manager is away: dan decides for her.
	if code, out := s.decideAs(id, true, "dan", "covering"); code != http.StatusOK {
		t.Fatalf("dan for mia = %d %v", code, out)
	}
	// Finance asks for changes; the requester resubmits, edited.
	if code, _, out := s.call("RequestChanges", id, map[string]any{"approver": "carol", "comments": "split it into two orders"}); code != http.StatusOK {
		_, _, st := s.call("GetApproval", id, nil)
		t.Fatalf("carol's request for changes = %d %v\n%v", code, out, st)
	}
	if code, _, out := s.call("ResubmitApproval", id, map[string]any{"requester": "ana", "item": "6 laptops, 7,200 EUR", "comments": "split"}); code != http.StatusOK {
		t.Fatalf("ana's resubmission = %d %v", code, out)
	}
	// bob approves it in bulk with the other request waiting for him.
	for _, r := range s.bulkCall(map[string]any{"approver": "bob", "items": []map[string]any{
		{"id": id, "approved": true, "comments": "fine now", "idempotency_key": "b-1"},
		{"id": "purchase-2", "approved": true, "idempotency_key": "b-2"},
	}}) {
		if r["status"] != float64(http.StatusOK) {
			t.Fatalf("bob's bulk item: %v", r)
		}
	}
	if code, _, out := s.call("SubmitDecision", id, map[string]any{"approved": true, "approver": "carol", "comments": "ok"}); code != http.StatusOK {
		t.Fatalf("carol's approval = %d %v", code, out)
	}
	out := s.outcome(id, 20*time.Second)
	result, _ := out["result"].(map[string]any)
	if out["status"] != "Approved" || result == nil {
		t.Fatalf("outcome: %v", out)
	}
	stages, _ := result["stages"].([]any)
	rounds, _ := result["rounds"].([]any)
	if len(stages) != 2 || len(rounds) != 1 || result["item"] != "6 laptops, 7,200 EUR" {
		t.Fatalf("the outcome does not record both stages, the round and the edited item: %v", result)
	}

	file := filepath.Join(t.TempDir(), "audit.jsonl")
	export := s.exportAudit(from, time.Now(), "100")
	if err := os.WriteFile(file, export, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"acting_for":"mia"`, `"group":"finance"`, `"channel":"bulk"`, `"event":"changes_requested"`, `"event":"resubmitted"`} {
		if !strings.Contains(string(export), want) {
			t.Errorf("the export does not record %s:\n%s", want, export)
		}
	}
	if code, stdout, stderr := runAudit(t, nil, "verify", "-key", public, file); code != 0 || !strings.Contains(stdout, "2 trails checked") {
		t.Fatalf("audit verify: exit %d\n%s%s", code, stdout, stderr)
	}
	// One byte of bob's entry: "approve" becomes "apprOve".
	i := strings.Index(string(export), `"actor":"bob"`)
	j := strings.Index(string(export[max(i, 0):]), `"approve"`)
	if i < 0 || j < 0 {
		t.Fatalf("bob's entry is not in the export:\n%s", export)
	}
	export[i+j+5] = 'O'
	if err := os.WriteFile(file, export, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := runAudit(t, nil, "verify", "-key", public, file); code == 0 {
		t.Fatalf("a tampered export verified:\n%s%s", stdout, stderr)
	}
}
