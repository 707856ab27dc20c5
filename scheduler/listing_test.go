package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"
)

// Listings give the same answers whichever way they are read: by the
// primary key for a narrow ID prefix, by the indexes for a broad one.
func TestListingsByPrefixNarrowAndBroad(t *testing.T) {
	s, err := OpenStore(filepath.Join(t.TempDir(), "s.db"), "normal", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	c := backend.NewTaskHubClient(s)
	const wide = broadMatches + 100
	var order []string // creation order
	start := func(id string) {
		if _, err := c.ScheduleNewOrchestration(ctx, "orch", api.WithInstanceID(api.InstanceID(id))); err != nil {
			t.Fatal(err)
		}
		order = append(order, id)
	}
	for i := range wide {
		start(fmt.Sprintf("wide-%05d", i))
		if i%500 == 0 {
			start(fmt.Sprintf("narrow-%d", i))
		}
	}
	r := s.Reader()
	for _, tc := range []struct {
		prefix string
		want   int
	}{{"wide-", wide}, {"narrow-", 5}, {"", wide + 5}, {"nothing", 0}} {
		counts, err := r.CountInstances(ctx, Filter{IDPrefix: tc.prefix})
		if err != nil {
			t.Fatal(err)
		}
		if got := counts[api.RUNTIME_STATUS_PENDING]; got != tc.want || len(counts) > 1 {
			t.Errorf("prefix %q counts %v, want %d pending", tc.prefix, counts, tc.want)
		}
		// Newest first, page by page, matches the creation order.
		var want []string
		for i := len(order) - 1; i >= 0; i-- {
			if len(order[i]) >= len(tc.prefix) && order[i][:len(tc.prefix)] == tc.prefix {
				want = append(want, order[i])
			}
		}
		for _, offset := range []int{0, 50, len(want) - 10} {
			page, err := r.ListInstances(ctx, Filter{IDPrefix: tc.prefix}, Sort{}, max(offset, 0), 50)
			if err != nil {
				t.Fatal(err)
			}
			lo := min(max(offset, 0), len(want))
			exp := want[lo:min(lo+50, len(want))]
			if len(page) != len(exp) {
				t.Fatalf("prefix %q offset %d: %d instances, want %d", tc.prefix, offset, len(page), len(exp))
			}
			for i, in := range page {
				if string(in.InstanceID) != exp[i] {
					t.Fatalf("prefix %q offset %d: #%d is %s, want %s", tc.prefix, offset, i, in.InstanceID, exp[i])
				}
			}
		}
	}
	page, err := r.ListInstances(ctx, Filter{IDPrefix: "wide-"}, Sort{Column: SortID, Ascending: true}, 0, 3)
	if err != nil || len(page) != 3 || page[0].InstanceID != "wide-00000" || page[2].InstanceID != "wide-00002" {
		t.Fatalf("by ID ascending: %v %v", page, err)
	}
	if _, err := r.ListInstances(ctx, Filter{}, Sort{Column: "COLOUR"}, 0, 0); err == nil {
		t.Fatal("an unknown sort column was accepted")
	}
	if _, _, err := r.HistoryWindow(ctx, "nope", 0, 10); !errors.Is(err, api.ErrInstanceNotFound) {
		t.Fatalf("history of an unknown instance: %v", err)
	}
}
