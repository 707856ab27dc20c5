package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// A write is one change to the store: exec makes it in the database inside
// a transaction shared with other writes, and returns apply, which updates
// the in-memory queues once that transaction has committed. apply runs with
// s.mu held.
type write struct {
	ctx   context.Context
	exec  func(ctx context.Context, tx *txn) (apply func(now time.Time), err error)
	apply func(now time.Time)
	err   error
	done  chan error
}

// errClosed is returned for writes submitted after Close.
var errClosed = errors.New("scheduler store is closed")

// maxBatch bounds how many writes share one commit.
const maxBatch = 256

// write submits a change and waits until it is durable (or failed).
func (s *Store) write(ctx context.Context, exec func(ctx context.Context, tx *txn) (func(now time.Time), error)) error {
	w := &write{ctx: ctx, exec: exec, done: make(chan error, 1)}
	select {
	case s.writes <- w:
	case <-s.closing:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once queued, a write is committed or failed by the committer, unless
	// the committer has stopped; waiting for it (rather than for ctx) keeps
	// memory and database in step.
	select {
	case err := <-w.done:
		return err
	case <-s.committed:
		select {
		case err := <-w.done:
			return err
		default:
			return errClosed
		}
	}
}

// commitLoop is the store's only writer. Under load, writes queue up while a
// commit is in flight and the next transaction takes them all: one fsync
// then acknowledges many changes (group commit). Each write runs inside a
// savepoint, so one that fails is rolled back alone.
func (s *Store) commitLoop() {
	defer close(s.committed)
	batch := make([]*write, 0, maxBatch)
	for {
		select {
		case w := <-s.writes:
			batch = append(batch[:0], w)
		case <-s.closing:
			for {
				select {
				case w := <-s.writes:
					w.done <- errClosed
				default:
					return
				}
			}
		}
	gather:
		for len(batch) < maxBatch {
			select {
			case w := <-s.writes:
				batch = append(batch, w)
			default:
				break gather
			}
		}
		s.commit(batch)
	}
}

func (s *Store) commit(batch []*write) {
	// Statements run without the callers' contexts: cancelling one would
	// interrupt the shared transaction, not just that caller's write.
	ctx := context.Background()
	err := func() error {
		sqlTx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("begin transaction: %w", err)
		}
		tx := &txn{Tx: sqlTx, cache: s.stmts}
		defer tx.Rollback()
		for _, w := range batch {
			if w.err = w.ctx.Err(); w.err != nil {
				continue
			}
			if _, err := tx.ExecContext(ctx, "SAVEPOINT w"); err != nil {
				return fmt.Errorf("savepoint: %w", err)
			}
			w.apply, w.err = w.exec(ctx, tx)
			if w.err != nil {
				if _, err := tx.ExecContext(ctx, "ROLLBACK TO w"); err != nil {
					return fmt.Errorf("roll back a failed write (%v): %w", w.err, err)
				}
			}
			if _, err := tx.ExecContext(ctx, "RELEASE w"); err != nil {
				return fmt.Errorf("release savepoint: %w", err)
			}
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	}()
	// The connection is free again: prepare what this batch ran unprepared.
	s.stmts.prepareWanted(ctx)
	if err != nil {
		for _, w := range batch {
			if w.err == nil {
				w.err = err
			}
			w.done <- w.err
		}
		return
	}
	s.mu.Lock()
	now := time.Now()
	for _, w := range batch {
		if w.err == nil && w.apply != nil {
			w.apply(now)
		}
	}
	s.mu.Unlock()
	for _, w := range batch {
		w.done <- w.err
	}
}
