package scheduler

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/approvals-go/approvals/dts/mgmt"
)

// The management reads: instances by filter, page by page, one instance
// with everything the protocol returns for it, and histories.

// maxPageSize bounds a page whatever a client asks for, so that one query
// cannot make the reader build an unbounded answer.
const maxPageSize = 1000

// Columns of an instance row, without and with its payloads.
const (
	instanceColumns = `id, name, status, created_at, updated_at, completed_at, execution_id, tags`
	payloadColumns  = `, input, output, custom_status, failure`
)

// scanInstance reads one row of instanceColumns (and payloadColumns).
func scanInstance(row interface{ Scan(...any) error }, payloads bool) (*mgmt.Instance, error) {
	var (
		id, name, executionID       string
		st                          int32
		created, updated            int64
		completed                   sql.NullInt64
		tags                        sql.NullString
		input, output, customStatus sql.NullString
		failure                     []byte
	)
	dest := []any{&id, &name, &st, &created, &updated, &completed, &executionID, &tags}
	if payloads {
		dest = append(dest, &input, &output, &customStatus, &failure)
	}
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	in := &mgmt.Instance{ExecutionID: executionID, CompletedAt: fromNanos(completed.Int64)}
	in.InstanceID = api.InstanceID(id)
	in.Name = name
	in.RuntimeStatus = api.OrchestrationStatus(st)
	in.CreatedAt, in.LastUpdatedAt = fromNanos(created), fromNanos(updated)
	in.SerializedInput, in.SerializedOutput, in.SerializedCustomStatus = input.String, output.String, customStatus.String
	if len(failure) > 0 {
		in.FailureDetails = &backend.TaskFailureDetails{}
		if err := proto.Unmarshal(failure, in.FailureDetails); err != nil {
			return nil, fmt.Errorf("read failure details of %s: %w", id, err)
		}
	}
	if tags.Valid {
		if err := json.Unmarshal([]byte(tags.String), &in.Tags); err != nil {
			return nil, fmt.Errorf("read tags of %s: %w", id, err)
		}
	}
	return in, nil
}

// Instance reads one instance; an unknown ID is api.ErrInstanceNotFound.
func (r *Reader) Instance(ctx context.Context, id api.InstanceID, payloads bool) (*mgmt.Instance, error) {
	cols := instanceColumns
	if payloads {
		cols += payloadColumns
	}
	in, err := scanInstance(r.queryRow(ctx, `SELECT `+cols+` FROM instances WHERE id = ?`, string(id)), payloads)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("instance %s: %w", id, api.ErrInstanceNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read instance %s: %w", id, err)
	}
	return in, nil
}

// cursor is where a newest-first page ended: the creation time and ID of
// its last instance. Instances are ordered by both, so a page never repeats
// or skips an instance that existed when paging began, whatever is created
// meanwhile: new instances are newer than any cursor and land before it.
type cursor struct {
	created int64
	id      string
}

// The continuation token is opaque to clients; it is the cursor, versioned
// so that its form can change.
const tokenVersion = "1"

func (c cursor) token() string {
	return base64.RawURLEncoding.EncodeToString([]byte(tokenVersion + "." + strconv.FormatInt(c.created, 10) + "." + c.id))
}

func parseToken(tok string) (cursor, error) {
	bad := status.Error(codes.InvalidArgument, "continuation token is not one this scheduler issued")
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return cursor{}, bad
	}
	v, rest, ok := strings.Cut(string(raw), ".")
	if !ok || v != tokenVersion {
		return cursor{}, bad
	}
	created, id, ok := strings.Cut(rest, ".")
	n, err := strconv.ParseInt(created, 10, 64)
	if !ok || err != nil {
		return cursor{}, bad
	}
	return cursor{created: n, id: id}, nil
}

// QueryInstances returns the instances q selects, newest first (by creation
// time, then by ID, descending). The protocol leaves the order to the
// scheduler; newest first is what an inbox and a dashboard show.
func (r *Reader) QueryInstances(ctx context.Context, q mgmt.Query) (mgmt.Page, error) {
	size := q.PageSize
	if size <= 0 {
		size = mgmt.DefaultPageSize
	}
	size = min(size, maxPageSize)
	var where []string
	var args []any
	if q.ContinuationToken != "" {
		c, err := parseToken(q.ContinuationToken)
		if err != nil {
			return mgmt.Page{}, err
		}
		where = append(where, `(created_at, id) < (?, ?)`)
		args = append(args, c.created, c.id)
	}
	if !q.CreatedFrom.IsZero() {
		where = append(where, `created_at >= ?`)
		args = append(args, q.CreatedFrom.UnixNano())
	}
	if !q.CreatedTo.IsZero() {
		where = append(where, `created_at <= ?`)
		args = append(args, q.CreatedTo.UnixNano())
	}
	if q.IDPrefix != "" {
		where = append(where, `id >= ?`)
		args = append(args, q.IDPrefix)
		if end, ok := prefixEnd(q.IDPrefix); ok {
			where = append(where, `id < ?`)
			args = append(args, end)
		}
	}
	cols := instanceColumns
	if q.FetchPayloads {
		cols += payloadColumns
	}
	// One subquery per status, each walking the (status, created_at, id)
	// index from the cursor and stopping after a page, joined into one
	// statement: SQLite would otherwise sort every instance in those
	// statuses, and separate statements would each see another moment, so
	// an instance changing status between them could be missed or seen
	// twice.
	statuses := slices.Compact(slices.Sorted(slices.Values(q.Statuses)))
	var parts []string
	var all []any
	for i := range max(1, len(statuses)) {
		w, a := slices.Clip(where), slices.Clip(args)
		if len(statuses) > 0 {
			w = append(w, `status = ?`)
			a = append(a, int32(statuses[i]))
		}
		part := `SELECT ` + cols + ` FROM instances`
		if len(w) > 0 {
			part += ` WHERE ` + strings.Join(w, ` AND `)
		}
		parts = append(parts, `SELECT * FROM (`+part+` ORDER BY created_at DESC, id DESC LIMIT ?)`)
		all = append(append(all, a...), size+1)
	}
	found, err := r.instances(ctx, strings.Join(parts, ` UNION ALL `), all, q.FetchPayloads)
	if err != nil {
		return mgmt.Page{}, err
	}
	slices.SortFunc(found, func(a, b *mgmt.Instance) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.InstanceID, a.InstanceID)
	})
	var page mgmt.Page
	if len(found) > size {
		found = found[:size]
		last := found[size-1]
		page.ContinuationToken = cursor{created: last.CreatedAt.UnixNano(), id: string(last.InstanceID)}.token()
	}
	page.Instances = found
	return page, nil
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

func (r *Reader) instances(ctx context.Context, query string, args []any, payloads bool) ([]*mgmt.Instance, error) {
	rows, err := r.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("query instances: %w", err)
	}
	defer rows.Close()
	var out []*mgmt.Instance
	for rows.Next() {
		in, err := scanInstance(rows, payloads)
		if err != nil {
			return nil, fmt.Errorf("query instances: %w", err)
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query instances: %w", err)
	}
	return out, nil
}

// ListInstanceIDs returns the IDs of the instances q selects in ID order;
// the last instance key is the last ID of a full page. The filters are
// written with a unary + so that SQLite walks the primary key and stops
// after a page, rather than sorting every instance of a status.
func (r *Reader) ListInstanceIDs(ctx context.Context, q mgmt.IDQuery) (mgmt.IDPage, error) {
	size := q.PageSize
	if size <= 0 {
		size = mgmt.DefaultPageSize
	}
	size = min(size, maxPageSize)
	where := []string{`id > ?`}
	args := []any{q.LastInstanceKey}
	if len(q.Statuses) > 0 {
		where = append(where, `+status IN (?`+strings.Repeat(",?", len(q.Statuses)-1)+`)`)
		for _, st := range q.Statuses {
			args = append(args, int32(st))
		}
	}
	if !q.CompletedFrom.IsZero() {
		where = append(where, `+completed_at >= ?`)
		args = append(args, q.CompletedFrom.UnixNano())
	}
	if !q.CompletedTo.IsZero() {
		where = append(where, `+completed_at <= ?`)
		args = append(args, q.CompletedTo.UnixNano())
	}
	rows, err := r.query(ctx, `SELECT id FROM instances WHERE `+strings.Join(where, ` AND `)+` ORDER BY id LIMIT ?`, append(args, size+1)...)
	if err != nil {
		return mgmt.IDPage{}, fmt.Errorf("list instance IDs: %w", err)
	}
	defer rows.Close()
	var page mgmt.IDPage
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return mgmt.IDPage{}, fmt.Errorf("list instance IDs: %w", err)
		}
		page.IDs = append(page.IDs, api.InstanceID(id))
	}
	if err := rows.Err(); err != nil {
		return mgmt.IDPage{}, fmt.Errorf("list instance IDs: %w", err)
	}
	if len(page.IDs) > size {
		page.IDs = page.IDs[:size]
		page.LastInstanceKey = string(page.IDs[size-1])
	}
	return page, nil
}

// History reads the history of an instance's current execution, in order,
// in one statement so that it is one consistent snapshot. An unknown
// instance, or an executionID that is not its current execution, is
// api.ErrInstanceNotFound.
func (r *Reader) History(ctx context.Context, id api.InstanceID, executionID string) ([]*backend.HistoryEvent, error) {
	rows, err := r.query(ctx, `SELECT i.execution_id, h.payload FROM instances i
		LEFT JOIN history h ON h.instance_id = i.id WHERE i.id = ? ORDER BY h.seq`, string(id))
	if err != nil {
		return nil, fmt.Errorf("read history of %s: %w", id, err)
	}
	defer rows.Close()
	found := false
	var history []*backend.HistoryEvent
	for rows.Next() {
		var exec string
		var payload []byte
		if err := rows.Scan(&exec, &payload); err != nil {
			return nil, fmt.Errorf("read history of %s: %w", id, err)
		}
		found = true
		if executionID != "" && exec != executionID {
			return nil, fmt.Errorf("execution %s of instance %s: %w", executionID, id, api.ErrInstanceNotFound)
		}
		if payload == nil {
			continue // an instance that has not run yet
		}
		e, err := backend.UnmarshalHistoryEvent(payload)
		if err != nil {
			return nil, err
		}
		history = append(history, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read history of %s: %w", id, err)
	}
	if !found {
		return nil, fmt.Errorf("instance %s: %w", id, api.ErrInstanceNotFound)
	}
	return history, nil
}

// CountByStatus returns how many instances the store holds in each runtime
// status.
func (r *Reader) CountByStatus(ctx context.Context) (map[api.OrchestrationStatus]int, error) {
	rows, err := r.query(ctx, `SELECT status, count(*) FROM instances GROUP BY status`)
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
	return counts, rows.Err()
}

// finishedBefore returns up to limit IDs of instances in status completed,
// failed or terminated that completed before cutoff, oldest first.
func (r *Reader) finishedBefore(ctx context.Context, cutoff time.Time, limit int) ([]api.InstanceID, error) {
	// The unary + keeps SQLite on the completed_at index: by status it
	// would sort every finished instance for each batch.
	rows, err := r.query(ctx, `SELECT id FROM instances WHERE completed_at < ? AND +status IN (?, ?, ?)
		ORDER BY completed_at, id LIMIT ?`, cutoff.UnixNano(),
		int32(api.RUNTIME_STATUS_COMPLETED), int32(api.RUNTIME_STATUS_FAILED), int32(api.RUNTIME_STATUS_TERMINATED), limit)
	if err != nil {
		return nil, fmt.Errorf("find finished instances: %w", err)
	}
	defer rows.Close()
	var ids []api.InstanceID
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("find finished instances: %w", err)
		}
		ids = append(ids, api.InstanceID(id))
	}
	return ids, rows.Err()
}
