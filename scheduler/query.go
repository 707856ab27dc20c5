package scheduler

import (
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

// The management reads: one instance with everything the protocol returns
// for it, the protocol's pages of instances (read through list, in
// listing.go), pages of IDs, and histories.

// What a read takes of each instance: its metadata, with its custom
// status, or with every payload.
type columns int

const (
	metadataOnly columns = iota
	withCustomStatus
	withPayloads
)

// Columns of an instance row, without and with its payloads.
const (
	instanceColumns = `id, name, status, created_at, updated_at, completed_at, execution_id, tags`
	payloadColumns  = `, input, output, custom_status, failure`
)

func (c columns) sql() string {
	switch c {
	case withCustomStatus:
		return instanceColumns + `, custom_status`
	case withPayloads:
		return instanceColumns + payloadColumns
	}
	return instanceColumns
}

// payloadsIf is withPayloads when payloads is set, metadataOnly otherwise.
func payloadsIf(payloads bool) columns {
	if payloads {
		return withPayloads
	}
	return metadataOnly
}

// scanInstance reads one row of cols.
func scanInstance(row interface{ Scan(...any) error }, cols columns) (*mgmt.Instance, error) {
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
	switch cols {
	case withCustomStatus:
		dest = append(dest, &customStatus)
	case withPayloads:
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
	cols := payloadsIf(payloads)
	in, err := scanInstance(r.queryRow(ctx, `SELECT `+cols.sql()+` FROM instances WHERE id = ?`, string(id)), cols)
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
	size := pageSize(q.PageSize)
	l := listing{Filter: Filter{Statuses: q.Statuses, IDPrefix: q.IDPrefix, CreatedFrom: q.CreatedFrom},
		byCursor: true, limit: size + 1, cols: payloadsIf(q.FetchPayloads)}
	if !q.CreatedTo.IsZero() {
		// The protocol's end is inclusive, the filter's exclusive.
		l.CreatedTo = q.CreatedTo.Add(time.Nanosecond)
	}
	if q.ContinuationToken != "" {
		c, err := parseToken(q.ContinuationToken)
		if err != nil {
			return mgmt.Page{}, err
		}
		l.after = &c
	}
	found, err := r.list(ctx, l)
	if err != nil {
		return mgmt.Page{}, fmt.Errorf("query instances: %w", err)
	}
	var page mgmt.Page
	if len(found) > size {
		found = found[:size]
		last := found[size-1]
		page.ContinuationToken = cursor{created: last.CreatedAt.UnixNano(), id: string(last.InstanceID)}.token()
	}
	page.Instances = found
	return page, nil
}

// terminalStatuses are the statuses ListInstanceIDs lists: what the SDKs
// call it for ("listing terminal instance IDs", to purge or archive them).
var terminalStatuses = []api.OrchestrationStatus{api.RUNTIME_STATUS_COMPLETED, api.RUNTIME_STATUS_FAILED, api.RUNTIME_STATUS_TERMINATED}

// ListInstanceIDs returns the IDs of the finished instances q selects
// (completed, failed or terminated; a status asked for outside those
// selects nothing), in the order they finished, as the SDKs' reference
// backend does: completed_at from CompletedFrom (inclusive) to CompletedTo
// (exclusive). The last instance key is the last ID of a full page, and the
// next page continues after that instance in finishing order.
func (r *Reader) ListInstanceIDs(ctx context.Context, q mgmt.IDQuery) (mgmt.IDPage, error) {
	size := pageSize(q.PageSize)
	statuses := terminalStatuses
	if len(q.Statuses) > 0 {
		statuses = nil
		for _, st := range q.Statuses {
			if slices.Contains(terminalStatuses, st) && !slices.Contains(statuses, st) {
				statuses = append(statuses, st)
			}
		}
		if len(statuses) == 0 {
			return mgmt.IDPage{}, nil
		}
	}
	where := []string{`completed_at IS NOT NULL`, `+status IN (?` + strings.Repeat(",?", len(statuses)-1) + `)`}
	var args []any
	for _, st := range statuses {
		args = append(args, int32(st))
	}
	if q.LastInstanceKey != "" {
		var after sql.NullInt64
		err := r.queryRow(ctx, `SELECT completed_at FROM instances WHERE id = ?`, q.LastInstanceKey).Scan(&after)
		if errors.Is(err, sql.ErrNoRows) || err == nil && !after.Valid {
			return mgmt.IDPage{}, status.Error(codes.InvalidArgument, "lastInstanceKey names no finished instance: pass the key a page returned")
		}
		if err != nil {
			return mgmt.IDPage{}, fmt.Errorf("list instance IDs: %w", err)
		}
		where = append(where, `(completed_at, id) > (?, ?)`)
		args = append(args, after.Int64, q.LastInstanceKey)
	}
	where, args = within(where, args, "completed_at", q.CompletedFrom, q.CompletedTo)
	rows, err := r.query(ctx, `SELECT id FROM instances WHERE `+strings.Join(where, ` AND `)+` ORDER BY completed_at, id LIMIT ?`, append(args, size+1)...)
	if err != nil {
		return mgmt.IDPage{}, fmt.Errorf("list instance IDs: %w", err)
	}
	var page mgmt.IDPage
	if page.IDs, err = instanceIDs(rows, "list instance IDs"); err != nil {
		return mgmt.IDPage{}, err
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
	return instanceIDs(rows, "find finished instances")
}

// instanceIDs reads the instance IDs that rows of one column hold, and
// closes rows; what says what they were selected for.
func instanceIDs(rows *sql.Rows, what string) ([]api.InstanceID, error) {
	defer rows.Close()
	var ids []api.InstanceID
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		ids = append(ids, api.InstanceID(id))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return ids, nil
}
