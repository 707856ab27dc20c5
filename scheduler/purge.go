package scheduler

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/microsoft/durabletask-go/api"

	"github.com/approvals-go/approvals/dts/mgmt"
)

// Purge: deleting finished instances and everything they left behind. An
// instance that has not finished is never purged; each write checks the
// status again inside its transaction, so nothing that started running
// after it was selected is lost.

// purgeBatch bounds the instances one purge transaction deletes, so that a
// large purge never holds the writer for long.
const purgeBatch = 200

// PurgeOrchestrationState implements backend.Backend.
func (s *Store) PurgeOrchestrationState(ctx context.Context, id api.InstanceID) error {
	return s.write(ctx, func(ctx context.Context, tx *txn) (func(time.Time), error) {
		status, found, err := instanceStatus(ctx, tx, id)
		if err != nil {
			return nil, fmt.Errorf("purge %s: %w", id, err)
		}
		if !found {
			return nil, api.ErrInstanceNotFound
		}
		if !mgmt.Final(status) {
			return nil, api.ErrNotCompleted
		}
		if err := deleteInstance(ctx, tx, id); err != nil {
			return nil, err
		}
		return func(time.Time) { s.dropInstanceLocked(id); s.changedLocked(id) }, nil
	})
}

// Purge deletes the finished instances r names or selects and returns how
// many it deleted. Unknown and unfinished instances are left alone and not
// counted.
func (s *Store) Purge(ctx context.Context, r mgmt.PurgeRequest) (int, error) {
	var ids []api.InstanceID
	switch {
	case r.ID != "":
		ids = []api.InstanceID{r.ID}
	case r.Filter != nil:
		return s.purgeWhere(ctx, *r.Filter, r.Recursive)
	default:
		ids = r.IDs
	}
	if r.Recursive {
		var err error
		if ids, err = s.withSubOrchestrations(ctx, ids); err != nil {
			return 0, err
		}
	}
	total := 0
	for batch := range slices.Chunk(ids, purgeBatch) {
		n, err := s.purgeIDs(ctx, batch)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// purgeWhere purges the finished instances f selects, a batch at a time,
// walking them in ID order so that an instance that cannot be purged is
// never selected twice.
func (s *Store) purgeWhere(ctx context.Context, f mgmt.PurgeFilter, recursive bool) (int, error) {
	var statuses []api.OrchestrationStatus
	for _, st := range []api.OrchestrationStatus{api.RUNTIME_STATUS_COMPLETED, api.RUNTIME_STATUS_FAILED, api.RUNTIME_STATUS_TERMINATED, api.RUNTIME_STATUS_CANCELED} {
		if len(f.Statuses) == 0 || slices.Contains(f.Statuses, st) {
			statuses = append(statuses, st)
		}
	}
	if len(statuses) == 0 {
		return 0, nil // only unfinished statuses were asked for
	}
	total := 0
	after := ""
	for {
		ids, err := s.reader.purgeCandidates(ctx, f, statuses, after, purgeBatch)
		if err != nil || len(ids) == 0 {
			return total, err
		}
		after = string(ids[len(ids)-1])
		if recursive {
			if ids, err = s.withSubOrchestrations(ctx, ids); err != nil {
				return total, err
			}
		}
		n, err := s.purgeIDs(ctx, ids)
		total += n
		if err != nil {
			return total, err
		}
	}
}

// PurgeFinishedBefore purges up to limit instances that completed, failed
// or were terminated before cutoff, oldest first, and returns how many it
// deleted. Retention calls it until it deletes fewer than limit.
func (s *Store) PurgeFinishedBefore(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	ids, err := s.reader.finishedBefore(ctx, cutoff, limit)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	return s.purgeIDs(ctx, ids)
}

// withSubOrchestrations adds the sub-orchestrations that ids started,
// and theirs, to ids.
func (s *Store) withSubOrchestrations(ctx context.Context, ids []api.InstanceID) ([]api.InstanceID, error) {
	seen := make(map[api.InstanceID]bool, len(ids))
	out := slices.Clone(ids)
	for _, id := range ids {
		seen[id] = true
	}
	for i := 0; i < len(out); i++ {
		history, err := s.reader.history(ctx, out[i])
		if err != nil {
			return nil, err
		}
		for _, e := range history {
			if c := e.GetSubOrchestrationInstanceCreated(); c != nil && !seen[api.InstanceID(c.GetInstanceId())] {
				seen[api.InstanceID(c.GetInstanceId())] = true
				out = append(out, api.InstanceID(c.GetInstanceId()))
			}
		}
	}
	return out, nil
}

// purgeIDs deletes those of ids that have finished, in one transaction.
func (s *Store) purgeIDs(ctx context.Context, ids []api.InstanceID) (int, error) {
	var gone []api.InstanceID
	err := s.write(ctx, func(ctx context.Context, tx *txn) (func(time.Time), error) {
		gone = gone[:0]
		for _, id := range ids {
			status, found, err := instanceStatus(ctx, tx, id)
			if err != nil {
				return nil, fmt.Errorf("purge %s: %w", id, err)
			}
			if !found || !mgmt.Final(status) {
				continue
			}
			if err := deleteInstance(ctx, tx, id); err != nil {
				return nil, err
			}
			gone = append(gone, id)
		}
		return func(time.Time) {
			for _, id := range gone {
				s.dropInstanceLocked(id)
				s.changedLocked(id)
			}
		}, nil
	})
	if err != nil {
		return 0, err
	}
	return len(gone), nil
}

func deleteInstance(ctx context.Context, tx *txn, id api.InstanceID) error {
	for _, q := range []string{
		`DELETE FROM instances WHERE id = ?`,
		`DELETE FROM history WHERE instance_id = ?`,
		`DELETE FROM inbox WHERE instance_id = ?`,
		`DELETE FROM tasks WHERE instance_id = ?`,
	} {
		if _, err := tx.ExecContext(ctx, q, string(id)); err != nil {
			return fmt.Errorf("delete instance %s: %w", id, err)
		}
	}
	return nil
}

// purgeCandidates returns up to limit IDs after after, in ID order, of the
// instances in statuses that f's time range selects.
func (r *Reader) purgeCandidates(ctx context.Context, f mgmt.PurgeFilter, statuses []api.OrchestrationStatus, after string, limit int) ([]api.InstanceID, error) {
	// Walking the primary key (the unary + keeps SQLite off the status
	// index, which would sort every finished instance for each batch).
	where := []string{`id > ?`, `+status IN (?` + strings.Repeat(",?", len(statuses)-1) + `)`}
	args := []any{after}
	for _, st := range statuses {
		args = append(args, int32(st))
	}
	if !f.CreatedFrom.IsZero() {
		where = append(where, `+created_at >= ?`)
		args = append(args, f.CreatedFrom.UnixNano())
	}
	if !f.CreatedTo.IsZero() {
		where = append(where, `+created_at <= ?`)
		args = append(args, f.CreatedTo.UnixNano())
	}
	rows, err := r.query(ctx, `SELECT id FROM instances WHERE `+strings.Join(where, ` AND `)+` ORDER BY id LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("select instances to purge: %w", err)
	}
	return instanceIDs(rows, "select instances to purge")
}
