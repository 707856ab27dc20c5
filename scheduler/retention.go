package scheduler

import (
	"context"
	"log/slog"
	"time"
)

// Retention purges instances some time after they finish, as the Azure
// service's auto-purge does (there 30 days by default; here off unless
// Options.Retention is set, since local state is small).

// retentionBatch bounds one purge transaction of the retention sweep, so
// that the sweep never holds the writer long.
const retentionBatch = 100

// retentionEvery is how often a hub is swept: a tenth of the retention
// period, between a tenth of a second and a minute.
func retentionEvery(keep time.Duration) time.Duration {
	return min(max(keep/10, 100*time.Millisecond), time.Minute)
}

// retain sweeps the hub until ctx ends, purging instances that completed,
// failed or were terminated more than keep ago.
func (h *hub) retain(ctx context.Context, keep time.Duration, log *slog.Logger) {
	t := time.NewTicker(retentionEvery(keep))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cutoff := time.Now().Add(-keep)
		total := 0
		for {
			n, err := h.store.PurgeFinishedBefore(ctx, cutoff, retentionBatch)
			total += n
			if err != nil {
				if ctx.Err() == nil {
					log.Error("retention: purge failed; trying again at the next sweep", "taskhub", h.name, "err", err)
				}
				break
			}
			if n < retentionBatch {
				break
			}
		}
		if total > 0 {
			log.Info("retention: purged finished instances", "taskhub", h.name, "purged", total, "finished_before", cutoff.UTC().Format(time.RFC3339))
		}
	}
}
