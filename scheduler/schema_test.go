package scheduler

import (
	"context"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"

	"github.com/approvals-go/approvals/dts/mgmt"
)

// openUpgraded opens a copy of the fixture database and checks that it was
// upgraded to the current schema version.
func openUpgraded(t *testing.T, fixture string) *Store {
	t.Helper()
	s := openStore(t, copyFixture(t, fixture))
	var version int
	if err := s.reader.db.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil || version != SchemaVersion {
		t.Fatalf("schema version %d after open (%v), want %d", version, err, SchemaVersion)
	}
	return s
}

// entitiesWork checks that an upgraded database keeps an entity: a signal
// runs and its state is saved.
func entitiesWork(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	signal(t, s, mgmt.EntityMessage{Target: "@c@k", Operation: "add"})
	completeEntity(t, s, nextEntity(t, s, time.Second), ptr("1"), mgmt.OperationResult{})
	if e, err := s.reader.Entity(ctx, "@c@k", true); err != nil || e.State != "1" {
		t.Fatalf("an entity in the upgraded database: %+v %v", e, err)
	}
}

// A database of schema version 2 (the last before the management reads),
// written by that version's store: "done" completed with a history,
// "waiting" has its start and a raised event queued. Upgraded in place, it
// answers the new reads and still offers the waiting events.
func TestSchemaUpgradeFromVersion2(t *testing.T) {
	s := openUpgraded(t, "schema-v2")
	ctx := context.Background()
	page, err := s.reader.QueryInstances(ctx, mgmt.Query{FetchPayloads: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Instances) != 2 || page.Instances[0].InstanceID != "waiting" || page.Instances[1].InstanceID != "done" {
		t.Fatalf("instances after the upgrade: %v", page.Instances)
	}
	done := page.Instances[1]
	if done.RuntimeStatus != api.RUNTIME_STATUS_COMPLETED || done.SerializedOutput != `"out"` || done.CompletedAt.IsZero() ||
		done.ExecutionID != "exec-done" || done.Tags != nil {
		t.Fatalf("completed instance after the upgrade: %+v", done)
	}
	ids, err := s.reader.ListInstanceIDs(ctx, mgmt.IDQuery{CompletedFrom: done.CompletedAt})
	if err != nil || len(ids.IDs) != 1 || ids.IDs[0] != "done" {
		t.Fatalf("completed since: %v %v", ids.IDs, err)
	}
	history, err := s.reader.History(ctx, "done", "")
	if err != nil || len(history) != 3 || history[2].GetExecutionCompleted() == nil {
		t.Fatalf("history after the upgrade: %v %v", history, err)
	}
	wi := fetch(t, s, time.Second)
	if wi == nil || wi.InstanceID != "waiting" {
		t.Fatalf("the waiting instance's events were not offered after the upgrade: %v", wi)
	}
	if got := kinds(wi); len(got) != 2 || got[0] != "started" || got[1] != "raised" {
		t.Fatalf("delivered %v, want [started raised]", got)
	}
	// Version 4's entity tables exist in the upgraded database.
	entitiesWork(t, s)
}

// A database of schema version 3 (the last before entities), written by
// that version's store: "failed" failed in its activity, "waiting" has its
// start and a raised event queued. Upgraded in place, it keeps entities,
// rewinds the failed instance and still offers the waiting events.
func TestSchemaUpgradeFromVersion3(t *testing.T) {
	s := openUpgraded(t, "schema-v3")
	ctx := context.Background()
	entitiesWork(t, s)
	if err := s.Rewind(ctx, "failed", "after the upgrade"); err != nil {
		t.Fatal(err)
	}
	got := map[api.InstanceID][]string{}
	for range 2 {
		wi := fetch(t, s, time.Second)
		if wi == nil {
			t.Fatalf("offered only %v after the upgrade", got)
		}
		got[wi.InstanceID] = kinds(wi)
		if wi.InstanceID == "failed" {
			got[wi.InstanceID] = newerKinds(wi)
		}
	}
	if k := got["waiting"]; len(k) != 2 || k[0] != "started" || k[1] != "raised" {
		t.Fatalf("the waiting instance was given %v, want [started raised]", k)
	}
	if k := got["failed"]; len(k) != 1 || k[0] != "executionRewound" {
		t.Fatalf("the rewound instance was given %v, want [executionRewound]", k)
	}
}
