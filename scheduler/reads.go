package scheduler

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"
	"google.golang.org/protobuf/proto"
)

// Reader answers queries from the store's reader pool. It holds the pool
// and its prepared statements and nothing else: it cannot reach the writer
// or the store's lock, so no read, however slow, holds up a commit or a
// fetch. On a file database the readers see committed data only, through
// SQLite's write-ahead log; an in-memory database has one connection, which
// readers share with the writer.
type Reader struct {
	db    *sql.DB
	stmts *stmtCache
}

func newReader(db *sql.DB) *Reader {
	return &Reader{db: db, stmts: newStmtCache(db, false)}
}

// Reader returns the store's reader.
func (s *Store) Reader() *Reader { return s.reader }

// close releases the statements, and the pool unless it is the writer's.
func (r *Reader) close(writer *sql.DB) {
	r.stmts.close()
	if r.db != writer {
		r.db.Close()
	}
}

func (r *Reader) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := r.stmts.get(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return r.db.QueryContext(ctx, query, args...)
}

func (r *Reader) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := r.stmts.get(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return r.db.QueryRowContext(ctx, query, args...)
}

// inboxEvents reads waiting events, in the order of seqs.
func (r *Reader) inboxEvents(ctx context.Context, seqs []int64) ([]*backend.HistoryEvent, error) {
	events := make([]*backend.HistoryEvent, 0, len(seqs))
	if len(seqs) == 0 {
		return events, nil
	}
	args := make([]any, len(seqs))
	for i, seq := range seqs {
		args[i] = seq
	}
	rows, err := r.query(ctx, `SELECT seq, payload FROM inbox WHERE seq IN (?`+strings.Repeat(",?", len(seqs)-1)+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	bySeq := make(map[int64]*backend.HistoryEvent, len(seqs))
	for rows.Next() {
		var seq int64
		var payload []byte
		if err := rows.Scan(&seq, &payload); err != nil {
			return nil, fmt.Errorf("read event: %w", err)
		}
		e, err := backend.UnmarshalHistoryEvent(payload)
		if err != nil {
			return nil, err
		}
		bySeq[seq] = e
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	// In the order given: the order the events became due.
	for _, seq := range seqs {
		if e, ok := bySeq[seq]; ok {
			events = append(events, e)
		}
	}
	return events, nil
}

// history reads an instance's history in order; an unknown instance has
// none, for the backend callers that never asked whether it exists.
func (r *Reader) history(ctx context.Context, id api.InstanceID) ([]*backend.HistoryEvent, error) {
	history, err := r.History(ctx, id, "")
	if errors.Is(err, api.ErrInstanceNotFound) {
		return nil, nil
	}
	return history, err
}

// task reads a queued activity; found is false when it is gone.
func (r *Reader) task(ctx context.Context, seq int64) (payload []byte, found bool, err error) {
	err = r.queryRow(ctx, `SELECT payload FROM tasks WHERE seq = ?`, seq).Scan(&payload)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return payload, true, nil
}

// status reads an instance's runtime status; an unknown instance is
// api.ErrInstanceNotFound.
func (r *Reader) status(ctx context.Context, id api.InstanceID) (api.OrchestrationStatus, error) {
	var st int32
	err := r.queryRow(ctx, `SELECT status FROM instances WHERE id = ?`, string(id)).Scan(&st)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("instance %s: %w", id, api.ErrInstanceNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("read status of %s: %w", id, err)
	}
	return api.OrchestrationStatus(st), nil
}

// GetOrchestrationMetadata implements backend.Backend.
func (s *Store) GetOrchestrationMetadata(ctx context.Context, id api.InstanceID) (*api.OrchestrationMetadata, error) {
	return s.reader.metadata(ctx, id)
}

func (r *Reader) metadata(ctx context.Context, id api.InstanceID) (*api.OrchestrationMetadata, error) {
	var (
		name                        string
		status                      int32
		created, updated            int64
		input, output, customStatus sql.NullString
		failure                     []byte
	)
	err := r.queryRow(ctx, `SELECT name, status, created_at, updated_at, input, output, custom_status, failure
		FROM instances WHERE id = ?`, string(id)).Scan(&name, &status, &created, &updated, &input, &output, &customStatus, &failure)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, api.ErrInstanceNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read instance %s: %w", id, err)
	}
	var fd *backend.TaskFailureDetails
	if len(failure) > 0 {
		fd = &backend.TaskFailureDetails{}
		if err := proto.Unmarshal(failure, fd); err != nil {
			return nil, fmt.Errorf("read failure details of %s: %w", id, err)
		}
	}
	return api.NewOrchestrationMetadata(id, name, api.OrchestrationStatus(status), fromNanos(created), fromNanos(updated),
		input.String, output.String, customStatus.String, fd), nil
}
