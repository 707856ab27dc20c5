package delegations_test

import (
	"context"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/dts"
	"github.com/approvals-go/approvals/internal/delegations"
	"github.com/approvals-go/approvals/internal/testenv"
)

// eventually polls alice's ledger until ok says it shows what was sent.
func eventually(t *testing.T, s *delegations.Store, person string, ok func(approval.Ledger) bool) approval.Ledger {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := s.Ledger(context.Background(), person)
		if err != nil {
			t.Fatal(err)
		}
		if ok(l) {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ledger of %s never showed the change: %+v", person, l)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A ledger keeps its changes across executions, each change continuing
// it as new, and refuses what breaks the rules it can check alone.
func TestLedgerKeepsChangesAndStaysShort(t *testing.T) {
	env := testenv.StartWith(t, "http://approvals.test", testenv.Options{OnFile: true})
	s := delegations.New(env.Conn, dts.Logger(testenv.Quiet()))
	ctx := context.Background()
	if l, err := s.Ledger(ctx, "alice"); err != nil || len(l.Delegations) != 0 {
		t.Fatalf("a person who never delegated has %+v, %v", l, err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	set := func(id, to string, until time.Time) {
		d := approval.Delegation{ID: id, Delegator: "alice", To: to, From: now, Until: until, CreatedAt: now}
		if err := s.Send(ctx, "Alice", approval.DelegationEvent{Action: approval.DelegationSet, Delegation: &d}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range approval.MaxDelegations {
		set(string(rune('a'+i)), "bob", now.Add(time.Hour))
	}
	set("over", "bob", now.Add(time.Hour))
	set("self", "ALICE", now.Add(time.Hour))
	l := eventually(t, s, "alice", func(l approval.Ledger) bool { return len(l.Refused) == 2 })
	if len(l.Delegations) != approval.MaxDelegations {
		t.Errorf("the ledger holds %d delegations; want %d", len(l.Delegations), approval.MaxDelegations)
	}
	if _, ok := l.RefusalOf("over"); !ok {
		t.Errorf("the delegation over the limit was not refused: %+v", l.Refused)
	}
	if err := s.Send(ctx, "alice", approval.DelegationEvent{Action: approval.DelegationRevoke, ID: "a"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, s, "alice", func(l approval.Ledger) bool { _, ok := l.Find("a"); return !ok })
	d := approval.Delegation{ID: "a", Delegator: "alice", To: "bob", From: now, Until: now.Add(time.Hour)}
	if err := s.Send(ctx, "bob", approval.DelegationEvent{Action: approval.DelegationReceive, Delegation: &d}); err != nil {
		t.Fatal(err)
	}
	eventually(t, s, "bob", func(l approval.Ledger) bool { return len(l.Received) == 1 })

	id, _ := approval.DelegationsInstanceID("alice")
	md, err := env.Client.FetchOrchestrationMetadata(ctx, api.InstanceID(id))
	if err != nil {
		t.Fatal(err)
	}
	if md.RuntimeStatus != api.RUNTIME_STATUS_RUNNING && md.RuntimeStatus != api.RUNTIME_STATUS_PENDING &&
		md.RuntimeStatus != api.RUNTIME_STATUS_CONTINUED_AS_NEW {
		t.Errorf("the ledger is %s after its changes; want it waiting for the next", md.RuntimeStatus)
	}
	history, err := env.Server.Reader(dts.DefaultTaskHub).History(ctx, api.InstanceID(id), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(history) > 10 {
		t.Errorf("after %d changes the ledger's history holds %d events; continuing as new should keep it to one change's", 14, len(history))
	}
}
