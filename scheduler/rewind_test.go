package scheduler

import (
	"context"
	"testing"
	"time"
)

// A rewind whose work item is abandoned after its state was loaded, before
// the worker ran it, leaves nothing of it behind in the store.
func TestAbandonedRewindLeavesNothing(t *testing.T) {
	bothStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		failedInstance(t, s, "f")
		if err := s.Rewind(ctx, "f", "again"); err != nil {
			t.Fatal(err)
		}
		wi := fetch(t, s, time.Second)
		if wi == nil || wi.InstanceID != "f" {
			t.Fatalf("the rewind's work item: %v", wi)
		}
		if _, err := s.GetOrchestrationRuntimeState(ctx, wi); err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		loaded := s.newer["f"] != nil
		s.mu.Unlock()
		if !loaded {
			t.Fatal("loading the rewind's state kept no history for the worker")
		}
		if err := s.AbandonOrchestrationWorkItem(ctx, wi); err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		left := len(s.newer)
		s.mu.Unlock()
		if left != 0 {
			t.Fatalf("an abandoned rewind left %d entries in s.newer", left)
		}
	})
}
