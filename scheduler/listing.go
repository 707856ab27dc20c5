package scheduler

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"

	"github.com/approvals-go/approvals/dts/mgmt"
)

// Listings: the one way instances are found. The protocol's QueryInstances
// (newest first, paged by cursor), and the dashboard's lists and the
// emulator's JSON API (any column, paged by offset) all select with one
// Filter and read through list; CountInstances counts under the same
// Filter. A window of one history is here too, for the dashboard.

// maxPageSize bounds a page whatever a client asks for, so that one query
// cannot make the reader build an unbounded answer.
const maxPageSize = 1000

// pageSize is the page a caller asking for n gets: DefaultPageSize when it
// names none, maxPageSize at the most.
func pageSize(n int) int {
	if n <= 0 {
		return mgmt.DefaultPageSize
	}
	return min(n, maxPageSize)
}

// Filter selects instances. Zero fields do not filter.
type Filter struct {
	Statuses []api.OrchestrationStatus
	// IDPrefix keeps instances whose ID starts with it.
	IDPrefix string
	// NameContains keeps instances whose orchestrator name contains it,
	// regardless of ASCII case.
	NameContains string
	// CreatedFrom is inclusive, CreatedTo exclusive.
	CreatedFrom, CreatedTo time.Time
}

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

// ParseSortColumn reads a column's name in any case.
func ParseSortColumn(name string) (SortColumn, bool) {
	col := SortColumn(strings.ToUpper(name))
	_, ok := sortSQL[col]
	return col, ok
}

// Sort orders a listing: by Column (SortCreated when empty), newest or
// greatest first unless Ascending; ties are broken by ID the same way.
type Sort struct {
	Column    SortColumn
	Ascending bool
}

// orderBy is the sort as an ORDER BY clause.
func (s Sort) orderBy() (string, error) {
	col := cmp.Or(s.Column, SortCreated)
	expr, ok := sortSQL[col]
	if !ok {
		return "", fmt.Errorf("cannot sort by %q", col)
	}
	dir := ` DESC`
	if s.Ascending {
		dir = ` ASC`
	}
	if col == SortID {
		return expr + dir, nil
	}
	return expr + dir + `, id` + dir, nil
}

// broadMatches is how many instances an ID prefix may match and still be
// looked up by the primary key. The key's range holds whole rows, payloads
// included, which must then be sorted or grouped; past this many, the
// indexes by creation time and by status, which hold the ID too, answer
// sooner. An ID as typed to find one instance takes the key; a prefix
// that most IDs share takes the indexes.
const broadMatches = 2000

// within adds to where and args the terms that keep column from from up to
// to, either bound when it is set.
func within(where []string, args []any, column string, from, to time.Time) ([]string, []any) {
	if !from.IsZero() {
		where = append(where, column+` >= ?`)
		args = append(args, from.UnixNano())
	}
	if !to.IsZero() {
		where = append(where, column+` < ?`)
		args = append(args, to.UnixNano())
	}
	return where, args
}

// terms are the filter's SQL terms and their arguments, without its
// statuses, which each kind of listing applies its own way. byIndex keeps
// SQLite from answering an ID prefix through the primary key (a unary +
// makes the term unusable for an index).
func (f Filter) terms(byIndex bool) ([]string, []any) {
	where, args := within(nil, nil, "created_at", f.CreatedFrom, f.CreatedTo)
	if f.IDPrefix != "" {
		id := "id"
		if byIndex {
			id = "+id"
		}
		where = append(where, id+` >= ?`)
		args = append(args, f.IDPrefix)
		if end, ok := prefixEnd(f.IDPrefix); ok {
			where = append(where, id+` < ?`)
			args = append(args, end)
		}
	}
	if f.NameContains != "" {
		where = append(where, `instr(lower(name), lower(?)) > 0`)
		args = append(args, f.NameContains)
	}
	return where, args
}

// where is the filter as a WHERE clause, statuses included.
func (f Filter) where(byIndex bool) (string, []any) {
	where, args := f.terms(byIndex)
	if len(f.Statuses) > 0 {
		where = append(where, `status IN (?`+strings.Repeat(",?", len(f.Statuses)-1)+`)`)
		for _, st := range f.Statuses {
			args = append(args, int32(st))
		}
	}
	return whereClause(where), args
}

func whereClause(terms []string) string {
	if len(terms) == 0 {
		return ""
	}
	return ` WHERE ` + strings.Join(terms, ` AND `)
}

// prefixEnd is the least string greater than every string starting with
// prefix, in SQLite's byte order; ok is false when there is none.
func prefixEnd(prefix string) (string, bool) {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// listing is one page of instances to read.
type listing struct {
	Filter
	Sort
	// limit instances are read (exactly: callers bound it), after skipping
	// offset.
	offset, limit int
	// byCursor pages newest first from after (from the start when nil)
	// instead of by offset; Sort and offset are then unused.
	byCursor bool
	after    *cursor
	cols     columns
}

// list is the one listing path. Paged by offset, it reads in any order,
// and answers a broad ID prefix from the indexes; paged by cursor, it
// walks each status's index from the cursor.
func (r *Reader) list(ctx context.Context, q listing) ([]*mgmt.Instance, error) {
	if q.byCursor {
		return r.instances(ctx, q.cursorSQL(), q.cols, true)
	}
	order, err := q.orderBy()
	if err != nil {
		return nil, err
	}
	byIndex, err := r.broadPrefix(ctx, q.IDPrefix)
	if err != nil {
		return nil, err
	}
	where, args := q.where(byIndex)
	stmt := `SELECT ` + q.cols.sql() + ` FROM instances` + where + ` ORDER BY ` + order + ` LIMIT ? OFFSET ?`
	if byIndex {
		// The page's IDs first, from an index alone, then their rows:
		// otherwise SQLite reads every row it passes over.
		stmt = `SELECT ` + q.cols.sql() + ` FROM instances WHERE id IN (SELECT id FROM instances` + where +
			` ORDER BY ` + order + ` LIMIT ? OFFSET ?) ORDER BY ` + order
	}
	return r.instances(ctx, statement{stmt, append(args, q.limit, max(q.offset, 0))}, q.cols, false)
}

// statement is SQL with its arguments.
type statement struct {
	sql  string
	args []any
}

// cursorSQL is one subquery per status, each walking the (status,
// created_at, id) index from the cursor and stopping after a page, joined
// into one statement: SQLite would otherwise sort every instance in those
// statuses, and separate statements would each see another moment, so an
// instance changing status between them could be missed or seen twice.
func (q listing) cursorSQL() statement {
	var where []string
	var args []any
	if q.after != nil {
		where = append(where, `(created_at, id) < (?, ?)`)
		args = append(args, q.after.created, q.after.id)
	}
	terms, targs := q.terms(false)
	where, args = append(where, terms...), append(args, targs...)
	statuses := slices.Compact(slices.Sorted(slices.Values(q.Statuses)))
	var parts []string
	var all []any
	for i := range max(1, len(statuses)) {
		w, a := slices.Clip(where), slices.Clip(args)
		if len(statuses) > 0 {
			w = append(w, `status = ?`)
			a = append(a, int32(statuses[i]))
		}
		parts = append(parts, `SELECT * FROM (SELECT `+q.cols.sql()+` FROM instances`+whereClause(w)+` ORDER BY created_at DESC, id DESC LIMIT ?)`)
		all = append(append(all, a...), q.limit)
	}
	return statement{strings.Join(parts, ` UNION ALL `), all}
}

// instances runs a listing's statement; merge sorts what several
// subqueries found newest first.
func (r *Reader) instances(ctx context.Context, st statement, cols columns, merge bool) ([]*mgmt.Instance, error) {
	rows, err := r.query(ctx, st.sql, st.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*mgmt.Instance
	for rows.Next() {
		in, err := scanInstance(rows, cols)
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if merge {
		slices.SortFunc(out, func(a, b *mgmt.Instance) int {
			if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
				return c
			}
			return cmp.Compare(b.InstanceID, a.InstanceID)
		})
	}
	return out, nil
}

// ListInstances returns up to limit (1000 at most, 100 when zero) of the
// instances f selects in order s, after skipping offset, with their custom
// status but without inputs, outputs or failure details, which can be
// large.
func (r *Reader) ListInstances(ctx context.Context, f Filter, s Sort, offset, limit int) ([]*mgmt.Instance, error) {
	out, err := r.list(ctx, listing{Filter: f, Sort: s, offset: offset, limit: pageSize(limit), cols: withCustomStatus})
	if err != nil {
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
	where, args := Filter{IDPrefix: prefix}.where(false)
	var n int
	err := r.queryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM instances`+where+` LIMIT ?)`, append(args, broadMatches+1)...).Scan(&n)
	return n > broadMatches, err
}

// CountInstances returns how many instances f selects in each runtime
// status, leaving f.Statuses out so that every status is counted.
func (r *Reader) CountInstances(ctx context.Context, f Filter) (map[api.OrchestrationStatus]int, error) {
	byIndex, err := r.broadPrefix(ctx, f.IDPrefix)
	if err != nil {
		return nil, fmt.Errorf("count instances: %w", err)
	}
	f.Statuses = nil
	where, args := f.where(byIndex)
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
		string(id), min(max(limit, 1), maxPageSize), max(offset, 0))
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
