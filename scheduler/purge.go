package scheduler

import (
	"context"
	"fmt"
	"time"

	"github.com/microsoft/durabletask-go/api"
)

// Purge: deleting finished instances and everything they left behind.

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
		if !isFinal(status) {
			return nil, api.ErrNotCompleted
		}
		if err := deleteInstance(ctx, tx, id); err != nil {
			return nil, err
		}
		return func(time.Time) { s.dropInstanceLocked(id) }, nil
	})
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
