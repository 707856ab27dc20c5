package scheduler

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"
)

// addTimer stores a timer for id as an orchestrator execution would: it
// becomes visible, and due, at fireAt.
func addTimerEvent(t *testing.T, s *Store, id string, fireAt time.Time) {
	t.Helper()
	at := fireAt.UTC().Format(time.RFC3339Nano)
	payload, err := backend.MarshalHistoryEvent(event(t, `{"eventId":-1,"timestamp":"2026-01-01T00:00:00Z","timerFired":{"timerId":1,"fireAt":"`+at+`"}}`))
	if err != nil {
		t.Fatal(err)
	}
	err = s.write(context.Background(), func(ctx context.Context, tx *txn) (func(time.Time), error) {
		ref, err := insertInbox(ctx, tx, api.InstanceID(id), inboxRef{visibleAt: fireAt, dueAt: fireAt}, payload)
		return func(now time.Time) { s.addEventLocked(api.InstanceID(id), ref, now) }, err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func kinds(wi *backend.OrchestrationWorkItem) []string {
	var out []string
	for _, e := range wi.NewEvents {
		switch {
		case e.GetExecutionStarted() != nil:
			out = append(out, "started")
		case e.GetEventRaised() != nil:
			out = append(out, "raised")
		case e.GetTimerFired() != nil:
			out = append(out, "timer")
		default:
			out = append(out, "other")
		}
	}
	return out
}

// An event accepted before a timer's fire time is delivered before that
// timer, although the timer was written first, when both wait for a worker
// that comes back after the deadline; also across a restart. This is what
// makes a decision sent before an approval's deadline win.
func TestEventsDeliveredInDueOrder(t *testing.T) {
	acrossRestarts(t, func(t *testing.T, s *Store, c storeCase) {
		startInstance(t, s, "i")
		wi := fetch(t, s, time.Second)
		if err := s.CompleteOrchestrationWorkItem(context.Background(), withState(wi)); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(150 * time.Millisecond)
		addTimerEvent(t, s, "i", deadline)
		if err := s.AddNewOrchestrationEvent(context.Background(), "i", raised(t)); err != nil {
			t.Fatal(err)
		}
		// The worker is away until after the deadline.
		time.Sleep(time.Until(deadline) + 20*time.Millisecond)
		if c.restart {
			s = reopen(t, s, c.path)
		}
		wi = fetch(t, s, time.Second)
		if wi == nil {
			t.Fatal("no work item")
		}
		if got := kinds(wi); len(got) != 2 || got[0] != "raised" || got[1] != "timer" {
			t.Fatalf("delivered %v, want the event accepted before the deadline first: [raised timer]", got)
		}
	})
}

// An event accepted after the timer's fire time comes after it.
func TestLateEventAfterTimer(t *testing.T) {
	s := openStore(t, "")
	startInstance(t, s, "i")
	wi := fetch(t, s, time.Second)
	if err := s.CompleteOrchestrationWorkItem(context.Background(), withState(wi)); err != nil {
		t.Fatal(err)
	}
	addTimerEvent(t, s, "i", time.Now().Add(-time.Millisecond))
	if err := s.AddNewOrchestrationEvent(context.Background(), "i", raised(t)); err != nil {
		t.Fatal(err)
	}
	// Wait for the event to be in memory beside the due timer.
	time.Sleep(10 * time.Millisecond)
	wi = fetch(t, s, time.Second)
	if got := kinds(wi); len(got) != 2 || got[0] != "timer" || got[1] != "raised" {
		t.Fatalf("delivered %v, want [timer raised]", got)
	}
}

// withState gives a work item the runtime state a worker would return
// after running it and doing nothing: the events it was given, in history.
func withState(wi *backend.OrchestrationWorkItem) *backend.OrchestrationWorkItem {
	wi.State = backend.NewOrchestrationRuntimeState(wi.InstanceID, nil)
	for _, e := range wi.NewEvents {
		wi.State.AddEvent(e)
	}
	return wi
}

// A database written before schema versions were recorded is upgraded in
// place on open and keeps everything it held.
func TestSchemaUpgradeFromVersion1(t *testing.T) {
	path := copyFixture(t, "schema-v1")
	s := openStore(t, path)
	var version int
	if err := s.reader.db.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version != SchemaVersion {
		t.Fatalf("schema version %d after open, want %d", version, SchemaVersion)
	}
	md, err := s.GetOrchestrationMetadata(context.Background(), "waiting")
	if err != nil || md.RuntimeStatus != api.RUNTIME_STATUS_PENDING {
		t.Fatalf("instance after upgrade: %v %v", md, err)
	}
	wi := fetch(t, s, time.Second)
	if wi == nil {
		t.Fatal("the waiting instance's events were not offered after the upgrade")
	}
	if got := kinds(wi); len(got) != 2 || got[0] != "started" || got[1] != "raised" {
		t.Fatalf("delivered %v, want [started raised]", got)
	}
	act, err := s.GetActivityWorkItem(context.Background())
	if err != nil || act.InstanceID != "waiting" {
		t.Fatalf("queued activity after upgrade: %v %v", act, err)
	}
	s.Close()
	// Opening again finds nothing to do.
	s = openStore(t, path)
	if err := s.reader.db.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil || version != SchemaVersion {
		t.Fatalf("schema version %d on reopen: %v", version, err)
	}
}

// copyFixture copies the committed database of a test fixture into the
// test's temporary directory, so that upgrading it leaves the fixture as
// it was, and returns the copy's path.
func copyFixture(t *testing.T, fixture string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", fixture, DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), DatabaseFile)
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestMigrationsAreNumbered(t *testing.T) {
	names, err := migrationFiles()
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != SchemaVersion {
		t.Fatalf("%d migrations, SchemaVersion %d", len(names), SchemaVersion)
	}
}
