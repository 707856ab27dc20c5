package scheduler

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/microsoft/durabletask-go/api"

	"github.com/approvals-go/approvals/dts/mgmt"
)

// Reading entities (GetEntity, QueryEntities and the dashboard) and
// cleaning their storage.

const entityColumns = `id, state, locked_by, updated_at, (SELECT COUNT(*) FROM entity_inbox WHERE entity_id = entities.id)`

func scanEntity(scan func(...any) error, withState bool) (*mgmt.Entity, error) {
	var e mgmt.Entity
	var state, lockedBy sql.NullString
	var updated int64
	if err := scan(&e.ID, &state, &lockedBy, &updated, &e.Backlog); err != nil {
		return nil, err
	}
	e.LastModified = fromNanos(updated)
	e.LockedBy = lockedBy.String
	e.HasState = state.Valid
	if withState {
		e.State = state.String
	}
	return &e, nil
}

// Entity reads one entity; one without state does not exist for clients.
func (r *Reader) Entity(ctx context.Context, id string, withState bool) (*mgmt.Entity, error) {
	id = normalizeEntityID(id)
	e, err := scanEntity(r.queryRow(ctx, `SELECT `+entityColumns+` FROM entities WHERE id = ?`, id).Scan, withState)
	if errors.Is(err, sql.ErrNoRows) || err == nil && !e.HasState {
		return nil, fmt.Errorf("%s: %w", id, mgmt.ErrEntityNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read entity %s: %w", id, err)
	}
	return e, nil
}

// QueryEntities lists entities in ID order, a page at a time; the
// continuation token is the last ID of the page.
func (r *Reader) QueryEntities(ctx context.Context, q mgmt.EntityQuery) (mgmt.EntityPage, error) {
	size := pageSize(q.PageSize)
	var where []string
	var args []any
	if q.IDPrefix != "" {
		prefix := normalizeEntityPrefix(q.IDPrefix)
		where = append(where, `substr(id, 1, ?) = ?`)
		args = append(args, len(prefix), prefix)
	}
	if !q.ModifiedFrom.IsZero() {
		where = append(where, `updated_at >= ?`)
		args = append(args, q.ModifiedFrom.UnixNano())
	}
	if !q.ModifiedTo.IsZero() {
		where = append(where, `updated_at <= ?`)
		args = append(args, q.ModifiedTo.UnixNano())
	}
	if !q.IncludeTransient {
		where = append(where, `state IS NOT NULL`)
	}
	if q.ContinuationToken != "" {
		where = append(where, `id > ?`)
		args = append(args, q.ContinuationToken)
	}
	query := `SELECT ` + entityColumns + ` FROM entities`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY id LIMIT ?`
	args = append(args, size+1)
	rows, err := r.query(ctx, query, args...)
	if err != nil {
		return mgmt.EntityPage{}, fmt.Errorf("query entities: %w", err)
	}
	defer rows.Close()
	var page mgmt.EntityPage
	for rows.Next() {
		e, err := scanEntity(rows.Scan, q.IncludeState)
		if err != nil {
			return mgmt.EntityPage{}, fmt.Errorf("query entities: %w", err)
		}
		page.Entities = append(page.Entities, e)
	}
	if err := rows.Err(); err != nil {
		return mgmt.EntityPage{}, fmt.Errorf("query entities: %w", err)
	}
	if len(page.Entities) > size {
		page.Entities = page.Entities[:size]
		page.ContinuationToken = page.Entities[size-1].ID
	}
	return page, nil
}

// normalizeEntityPrefix is an ID prefix as the SDKs normalize it: with
// the leading "@" and the name (up to the second "@", or all of it) in
// lower case.
func normalizeEntityPrefix(prefix string) string {
	if !strings.HasPrefix(prefix, "@") {
		prefix = "@" + prefix
	}
	name, key, found := strings.Cut(prefix[1:], "@")
	if !found {
		return strings.ToLower(prefix)
	}
	return "@" + strings.ToLower(name) + "@" + key
}

// CleanEntityStorage implements mgmt.Service, in one transaction: it
// removes entities with no state, no waiting messages and no lock, and
// releases locks whose orchestration has finished or no longer exists.
func (s *Store) CleanEntityStorage(ctx context.Context, r mgmt.CleanEntities) (mgmt.CleanedEntities, error) {
	var done mgmt.CleanedEntities
	err := s.write(ctx, func(ctx context.Context, tx *txn) (func(time.Time), error) {
		done = mgmt.CleanedEntities{}
		var released []string
		if r.ReleaseOrphanedLocks {
			rows, err := tx.QueryContext(ctx, `SELECT e.id FROM entities e LEFT JOIN instances i ON i.id = e.locked_by
				WHERE e.locked_by IS NOT NULL AND (i.id IS NULL OR i.status IN (?, ?, ?, ?))`,
				int32(api.RUNTIME_STATUS_COMPLETED), int32(api.RUNTIME_STATUS_FAILED), int32(api.RUNTIME_STATUS_TERMINATED), int32(api.RUNTIME_STATUS_CANCELED))
			if err != nil {
				return nil, fmt.Errorf("find orphaned locks: %w", err)
			}
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return nil, err
				}
				released = append(released, id)
			}
			rows.Close()
			for _, id := range released {
				if _, err := tx.ExecContext(ctx, `UPDATE entities SET locked_by = NULL, lock_id = NULL WHERE id = ?`, id); err != nil {
					return nil, err
				}
			}
			done.LocksReleased = len(released)
		}
		if r.RemoveEmpty {
			res, err := tx.ExecContext(ctx, `DELETE FROM entities WHERE state IS NULL AND locked_by IS NULL
				AND NOT EXISTS (SELECT 1 FROM entity_inbox WHERE entity_id = entities.id)`)
			if err != nil {
				return nil, fmt.Errorf("remove empty entities: %w", err)
			}
			n, _ := res.RowsAffected()
			done.EmptyRemoved = int(n)
		}
		return func(now time.Time) {
			for _, id := range released {
				if q := s.entities[id]; q != nil {
					q.lockedBy = ""
					s.enqueueEntityLocked(id, now)
				}
			}
		}, nil
	})
	return done, err
}
