package scheduler

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"

	"github.com/approvals-go/approvals/dts/mgmt"
)

// Listings: pages of instances sorted by any column with offset paging,
// counts by status under the same filter, and a window of one history.
// These are what a dashboard and the emulator's JSON API show; the
// protocol's own reads (QueryInstances, StreamInstanceHistory) page by
// cursor and return histories whole.

// SortColumn is a column a listing can be sorted by.
type SortColumn string

// The columns a listing sorts by, named as the emulator's JSON API names
// them.
const (
	SortCreated     SortColumn = "CREATED_AT"
	SortLastUpdated SortColumn = "LAST_UPDATED_AT"
	SortCompleted   SortColumn = "COMPLETED_AT"
	SortID          SortColumn = "ORCHESTRATION_ID"
	SortName        SortColumn = "NAME"
	SortStatus      SortColumn = "ORCHESTRATION_STATUS"
)

// sortSQL maps each column to SQL. Only these strings ever reach a
// statement, whatever a caller asks for.
var sortSQL = map[SortColumn]string{
	SortCreated:     "created_at",
	SortLastUpdated: "updated_at",
	SortCompleted:   "completed_at",
	SortID:          "id",
	SortName:        "name",
	SortStatus:      "status",
}

// maxListing bounds one listing page.
const maxListing = 1000

// ListQuery selects instances for ListInstances and CountInstances. Zero
// fields do not filter.
type ListQuery struct {
	Statuses []api.OrchestrationStatus
	// IDPrefix keeps instances whose ID starts with it.
	IDPrefix string
	// NameContains keeps instances whose orchestrator name contains it,
	// regardless of ASCII case.
	NameContains string
	// CreatedFrom is inclusive, CreatedTo exclusive.
	CreatedFrom, CreatedTo time.Time
	// Sort is the column to sort by (SortCreated when empty), newest or
	// greatest first unless Ascending; ties are broken by ID the same way.
	Sort      SortColumn
	Ascending bool
	// Offset instances are skipped; at most Limit (1000 at most, 100 when
	// zero) are returned.
	Offset, Limit int
}

// broadMatches is how many instances an ID prefix may match and still be
// looked up by the primary key. The key's range holds whole rows, payloads
// included, which must then be sorted or grouped; past this many, the
// indexes by creation time and by status, which hold the ID too, answer
// sooner. An ID as typed to find one instance takes the key; a prefix
// that most IDs share takes the indexes.
const broadMatches = 2000

// where builds the filter's SQL, without its statuses when withStatuses is
// false. byIndex keeps SQLite from answering an ID prefix through the
// primary key (a unary + makes the term unusable for an index).
func (q ListQuery) where(withStatuses, byIndex bool) (string, []any) {
	var where []string
	var args []any
	if !q.CreatedFrom.IsZero() {
		where = append(where, `created_at >= ?`)
		args = append(args, q.CreatedFrom.UnixNano())
	}
	if !q.CreatedTo.IsZero() {
		where = append(where, `created_at < ?`)
		args = append(args, q.CreatedTo.UnixNano())
	}
	if q.IDPrefix != "" {
		id := "id"
		if byIndex {
			id = "+id"
		}
		where = append(where, id+` >= ?`)
		args = append(args, q.IDPrefix)
		if end, ok := prefixEnd(q.IDPrefix); ok {
			where = append(where, id+` < ?`)
			args = append(args, end)
		}
	}
	if q.NameContains != "" {
		where = append(where, `instr(lower(name), lower(?)) > 0`)
		args = append(args, q.NameContains)
	}
	if withStatuses && len(q.Statuses) > 0 {
		where = append(where, `status IN (?`+strings.Repeat(",?", len(q.Statuses)-1)+`)`)
		for _, st := range q.Statuses {
			args = append(args, int32(st))
		}
	}
	if len(where) == 0 {
		return "", nil
	}
	return ` WHERE ` + strings.Join(where, ` AND `), args
}

// ListInstances returns one page of the instances q selects, with their
// custom status but without inputs, outputs or failure details, which can
// be large.
func (r *Reader) ListInstances(ctx context.Context, q ListQuery) ([]*mgmt.Instance, error) {
	col := q.Sort
	if col == "" {
		col = SortCreated
	}
	expr, ok := sortSQL[col]
	if !ok {
		return nil, fmt.Errorf("list instances: cannot sort by %q", col)
	}
	dir := ` DESC`
	if q.Ascending {
		dir = ` ASC`
	}
	limit := q.Limit
	if limit <= 0 {
		limit = mgmt.DefaultPageSize
	}
	limit = min(limit, maxListing)
	order := expr + dir
	if col != SortID {
		order += `, id` + dir
	}
	byIndex, err := r.broadPrefix(ctx, q.IDPrefix)
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	where, args := q.where(true, byIndex)
	stmt := `SELECT ` + instanceColumns + `, custom_status FROM instances` + where + ` ORDER BY ` + order + ` LIMIT ? OFFSET ?`
	if byIndex {
		// The page's IDs first, from an index alone, then their rows:
		// otherwise SQLite reads every row it passes over.
		stmt = `SELECT ` + instanceColumns + `, custom_status FROM instances WHERE id IN (SELECT id FROM instances` + where +
			` ORDER BY ` + order + ` LIMIT ? OFFSET ?) ORDER BY ` + order
	}
	rows, err := r.query(ctx, stmt, append(args, limit, max(q.Offset, 0))...)
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	defer rows.Close()
	var out []*mgmt.Instance
	for rows.Next() {
		var custom *string
		in, err := scanInstance(withCustomStatus{rows, &custom}, false)
		if err != nil {
			return nil, fmt.Errorf("list instances: %w", err)
		}
		if custom != nil {
			in.SerializedCustomStatus = *custom
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	return out, nil
}

// broadPrefix reports whether more than broadMatches instances have the
// ID prefix, counting no further than that.
func (r *Reader) broadPrefix(ctx context.Context, prefix string) (bool, error) {
	if prefix == "" {
		return false, nil
	}
	where, args := ListQuery{IDPrefix: prefix}.where(false, false)
	var n int
	err := r.queryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM instances`+where+` LIMIT ?)`, append(args, broadMatches+1)...).Scan(&n)
	return n > broadMatches, err
}

// withCustomStatus scans the custom status after the columns scanInstance
// reads.
type withCustomStatus struct {
	row    interface{ Scan(...any) error }
	custom **string
}

func (w withCustomStatus) Scan(dest ...any) error { return w.row.Scan(append(dest, w.custom)...) }

// CountInstances returns how many instances q's filter selects in each
// runtime status, leaving q.Statuses out of the filter so that every status
// is counted; paging and sort fields are ignored.
func (r *Reader) CountInstances(ctx context.Context, q ListQuery) (map[api.OrchestrationStatus]int, error) {
	byIndex, err := r.broadPrefix(ctx, q.IDPrefix)
	if err != nil {
		return nil, fmt.Errorf("count instances: %w", err)
	}
	where, args := q.where(false, byIndex)
	rows, err := r.query(ctx, `SELECT status, count(*) FROM instances`+where+` GROUP BY status`, args...)
	if err != nil {
		return nil, fmt.Errorf("count instances: %w", err)
	}
	defer rows.Close()
	counts := map[api.OrchestrationStatus]int{}
	for rows.Next() {
		var st int32
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("count instances: %w", err)
		}
		counts[api.OrchestrationStatus(st)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count instances: %w", err)
	}
	return counts, nil
}

// HistoryWindow returns up to limit events of an instance's history from
// the offset-th on, in order, and how many events the history holds, so
// that an instance with a very long history can be shown a page at a time.
// An unknown instance is api.ErrInstanceNotFound.
func (r *Reader) HistoryWindow(ctx context.Context, id api.InstanceID, offset, limit int) ([]*backend.HistoryEvent, int, error) {
	var total int
	// One statement, so the count and the instance's existence agree.
	err := r.queryRow(ctx, `SELECT (SELECT count(*) FROM history WHERE instance_id = i.id) FROM instances i WHERE i.id = ?`,
		string(id)).Scan(&total)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, 0, fmt.Errorf("instance %s: %w", id, api.ErrInstanceNotFound)
		}
		return nil, 0, fmt.Errorf("read history of %s: %w", id, err)
	}
	rows, err := r.query(ctx, `SELECT payload FROM history WHERE instance_id = ? ORDER BY seq LIMIT ? OFFSET ?`,
		string(id), min(max(limit, 1), maxListing), max(offset, 0))
	if err != nil {
		return nil, 0, fmt.Errorf("read history of %s: %w", id, err)
	}
	defer rows.Close()
	var events []*backend.HistoryEvent
	for rows.Next() {
		var payload []byte
		if err := rows.Scan(&payload); err != nil {
			return nil, 0, fmt.Errorf("read history of %s: %w", id, err)
		}
		e, err := backend.UnmarshalHistoryEvent(payload)
		if err != nil {
			return nil, 0, fmt.Errorf("read history of %s: %w", id, err)
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("read history of %s: %w", id, err)
	}
	return events, total, nil
}
