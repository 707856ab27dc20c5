package scheduler

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"

	"github.com/approvals-go/approvals/dts/mgmt"
)

// finishAt finishes an instance by hand at the instant at, as the audit
// export's paging must take it: several approvals may end in the same
// instant (a bulk decision, a batch of timeouts).
func finishAt(t *testing.T, s *Store, id string, at time.Time) {
	t.Helper()
	err := s.write(context.Background(), func(ctx context.Context, tx *txn) (func(time.Time), error) {
		_, err := tx.ExecContext(ctx, `UPDATE instances SET status = ?, completed_at = ? WHERE id = ?`, int32(api.RUNTIME_STATUS_COMPLETED), at.UnixNano(), id)
		return nil, err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Paging through instances that finished in one instant lists each once,
// whatever the page size, and the period's bounds hold at that instant:
// from inclusive, to exclusive.
func TestListInstanceIDsPagesThroughTies(t *testing.T) {
	bothStores(t, func(t *testing.T, s *Store) {
		at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		startInstance(t, s, "before")
		finishAt(t, s, "before", at.Add(-time.Nanosecond))
		var want []api.InstanceID
		for i := range 5 {
			id := fmt.Sprintf("tie-%d", 4-i)
			startInstance(t, s, id)
			finishAt(t, s, id, at)
			want = append(want, api.InstanceID(id))
		}
		slices.Sort(want)
		startInstance(t, s, "at-end")
		finishAt(t, s, "at-end", at.Add(time.Nanosecond))
		for size := 1; size <= 6; size++ {
			var got []api.InstanceID
			key := ""
			for pages := 0; ; pages++ {
				if pages > 10 {
					t.Fatalf("page size %d: the listing never ends", size)
				}
				page, err := s.reader.ListInstanceIDs(context.Background(), mgmt.IDQuery{CompletedFrom: at, CompletedTo: at.Add(time.Nanosecond), PageSize: size, LastInstanceKey: key})
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, page.IDs...)
				if key = page.LastInstanceKey; key == "" {
					break
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("page size %d listed %v; want %v, each once", size, got, want)
			}
		}
	})
}
