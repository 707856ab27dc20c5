package scheduler

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/microsoft/durabletask-go/api"

	// The pure-Go SQLite driver keeps every binary buildable with
	// CGO_ENABLED=0; durabletask-go already depends on it.
	_ "modernc.org/sqlite"
)

// The store is split by concern: this file opens and closes it; index.go is
// the in-memory index of what is ready to run; orchestrations.go and
// execution.go hand out and save orchestration work items; activities.go
// does the same for activities; entities.go queues messages to durable
// entities, entity_index.go is the in-memory index of their queues and
// locks, entity_work.go hands out and saves their batches, entity_locks.go
// takes and releases their locks, entity_stream.go sends their work items
// on workers' streams and entity_reads.go answers queries about them;
// rewind.go rewinds failed orchestrations and carries the actions
// durabletask-go v0.6.0 does not know, and disguise.go passes the events
// it does not know through it; reads.go and query.go answer queries from
// the reader pool; purge.go deletes instances; wait.go wakes those waiting
// for an instance to change; backlog.go refuses clients' starts while too
// much work waits. Functions named ...Locked need s.mu held.

// maxEventsPerWorkItem bounds one orchestrator execution, so a flood of
// events to one instance cannot produce an unbounded work item.
const maxEventsPerWorkItem = 1000

// Store is a durabletask-go Backend on one SQLite file.
//
// SQLite is the source of truth and every change is committed before the
// call that made it returns. What is ready to run is also kept in memory, so
// fetching work never scans the database, and fetchers block until work is
// written or the next timer is due instead of polling.
type Store struct {
	db *sql.DB // the writer: one connection, used by commitLoop
	// stmts caches the writer's prepared statements.
	stmts *stmtCache
	// reader answers every read; it cannot reach the writer or s.mu.
	reader *Reader
	log    *slog.Logger
	lockID string

	writes    chan *write
	closing   chan struct{}
	committed chan struct{}
	closeOnce sync.Once

	mu        sync.Mutex
	instances map[api.InstanceID]*instance
	// ready holds the runnable instances that have run before, unstarted
	// the new ones that have not (see index.go).
	ready     fifo[api.InstanceID]
	unstarted fifo[api.InstanceID]
	timers    timerHeap
	// liveTimers is how many timers the last compaction kept.
	liveTimers int
	// tasks holds the activities waiting for a worker, firstTasks those
	// scheduled by an instance's first execution, which come after.
	tasks      fifo[int64]
	firstTasks fifo[int64]
	taskOwner  map[int64]api.InstanceID // queued and dispatched tasks
	taskLocks  map[int64]string         // dispatched tasks: the dispatch's lock
	locks      uint64
	orchWake   chan struct{}
	taskWake   chan struct{}
	// watches wake those waiting for an instance to change.
	watches map[api.InstanceID]*watch

	// entities index the entities with waiting messages or a lock,
	// entityReady those with something to do now, entityTokens the
	// batches handed out by completion token (see entity_index.go).
	entities     map[string]*entityQueue
	entityReady  []string
	entityTokens map[string]string
	entityWake   chan struct{}
	// newer holds, for an instance whose work item is out, what
	// v0.6.0's runtime cannot carry: the full history of a rewind between
	// its state's load and its dispatch, then the actions of the execution
	// it does not know (see rewind.go). Completing or abandoning the work
	// item clears it (takeNewer).
	newer map[api.InstanceID]*newerActions

	// maxBacklog bounds the backlog beyond which clients' starts are
	// refused (see admit); zero, as OpenStore leaves it, means no bound,
	// and a Server sets it from its options before serving. admitting
	// counts the starts admitted and not yet written; refused and
	// refusalLogged pace the log lines about refusals.
	maxBacklog    int
	admitting     int
	refused       int
	refusalLogged time.Time
}

// OpenStore opens (creating if needed) the store at path; an empty path
// means an in-memory database that is lost on Close. sync is SQLite's
// synchronous level: "full" or "normal".
func OpenStore(path, sync string, log *slog.Logger) (*Store, error) {
	level := strings.ToUpper(sync)
	if level != "FULL" && level != "NORMAL" {
		return nil, fmt.Errorf("synchronous level %q: want full or normal", sync)
	}
	dsn := "file::memory:"
	if path != "" {
		dsn = "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(" + level + ")&_pragma=busy_timeout(10000)"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dsn, err)
	}
	// One connection: writes are serialized by the store anyway, and an
	// in-memory database exists only on the connection that created it.
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	if err := migrate(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("prepare schema of %s: %w", displayPath(path), err)
	}
	rdb := db
	if path != "" {
		// WAL lets readers run beside the writer; they see committed data
		// only, which is all the in-memory queues ever point at.
		if rdb, err = sql.Open("sqlite", dsn); err != nil {
			db.Close()
			return nil, fmt.Errorf("open %s for reading: %w", dsn, err)
		}
		rdb.SetMaxOpenConns(4)
	}
	s := &Store{
		db:        db,
		stmts:     newStmtCache(db, true),
		reader:    newReader(rdb),
		writes:    make(chan *write, maxBatch),
		closing:   make(chan struct{}),
		committed: make(chan struct{}),
		log:       log,
		lockID:    "scheduler-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		instances: make(map[api.InstanceID]*instance),
		taskOwner: make(map[int64]api.InstanceID),
		taskLocks: make(map[int64]string),
		orchWake:  make(chan struct{}),
		taskWake:  make(chan struct{}),
		watches:   make(map[api.InstanceID]*watch),

		entities:     make(map[string]*entityQueue),
		entityTokens: make(map[string]string),
		entityWake:   make(chan struct{}),
		newer:        make(map[api.InstanceID]*newerActions),
	}
	if err := s.load(); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("load %s: %w", displayPath(path), err)
	}
	go s.commitLoop()
	return s, nil
}

func displayPath(path string) string {
	if path == "" {
		return "in-memory database"
	}
	return path
}

// load rebuilds the in-memory queues from the database after a restart.
// Locks are not persisted: whatever was in flight when the process stopped
// is simply offered again. Nothing else runs yet, so s.mu is not taken.
//
// An instance without history has not run: it is new, a sub-orchestration
// that has not run included (before the restart it counted as its
// parent's work), and its first waiting event is its ExecutionStarted (see
// inboxRef.isStart), which holds the others while its start time is
// ahead. Which execution scheduled a queued activity is not stored, so
// every activity counts as continuing work; all of them were accepted
// before anything that comes after the restart.
//
// Nothing else about the waiting events needs to be known: a terminate
// never waits behind a start (see terminateBeforeStart), so no waiting
// event needs its payload read here.
func (s *Store) load() error {
	rows, err := s.db.Query(`SELECT seq, instance_id, visible_at, due_at,
		NOT EXISTS (SELECT 1 FROM history WHERE history.instance_id = inbox.instance_id)
		FROM inbox ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("read inbox: %w", err)
	}
	defer rows.Close()
	now := time.Now()
	for rows.Next() {
		var seq, visible, due int64
		var id string
		var unstarted bool
		if err := rows.Scan(&seq, &id, &visible, &due, &unstarted); err != nil {
			return fmt.Errorf("read inbox row: %w", err)
		}
		// Rows come in seq order: an instance not seen yet is at its
		// first waiting event.
		first := s.instances[api.InstanceID(id)] == nil
		s.addEventLocked(api.InstanceID(id), inboxRef{seq: seq, visibleAt: fromNanos(visible), dueAt: fromNanos(due),
			starts: unstarted, isStart: unstarted && first}, now)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read inbox: %w", err)
	}
	trows, err := s.db.Query(`SELECT seq, instance_id FROM tasks ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("read tasks: %w", err)
	}
	defer trows.Close()
	for trows.Next() {
		var seq int64
		var id string
		if err := trows.Scan(&seq, &id); err != nil {
			return fmt.Errorf("read task row: %w", err)
		}
		s.tasks.push(seq)
		s.taskOwner[seq] = api.InstanceID(id)
	}
	if err := trows.Err(); err != nil {
		return err
	}
	return s.loadEntities()
}

// Close stops taking writes and releases the database. Call it after the
// workers have stopped.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closing)
		<-s.committed
		err = s.closeDBs()
	})
	return err
}

func (s *Store) closeDBs() error {
	s.stmts.close()
	s.reader.close(s.db)
	return s.db.Close()
}

// CreateTaskHub implements backend.Backend. The schema is created on open.
func (s *Store) CreateTaskHub(context.Context) error { return nil }

// DeleteTaskHub implements backend.Backend.
func (s *Store) DeleteTaskHub(context.Context) error {
	return errors.New("deleting a task hub is not supported; remove the data directory instead")
}

// Start implements backend.Backend.
func (s *Store) Start(context.Context) error { return nil }

// Stop implements backend.Backend. durabletask-go calls it before draining
// its workers, so the database stays open until Close.
func (s *Store) Stop(context.Context) error { return nil }

func (s *Store) String() string { return "approvals embedded scheduler store" }

// instanceStatus reads an instance's runtime status inside a write; found
// is false when there is no such instance.
func instanceStatus(ctx context.Context, tx *txn, id api.InstanceID) (status api.OrchestrationStatus, found bool, err error) {
	var st int32
	err = tx.QueryRowContext(ctx, `SELECT status FROM instances WHERE id = ?`, string(id)).Scan(&st)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read status of %s: %w", id, err)
	}
	return api.OrchestrationStatus(st), true, nil
}

// insertInbox stores a waiting event and returns ref with its sequence
// number.
func insertInbox(ctx context.Context, tx *txn, id api.InstanceID, ref inboxRef, payload []byte) (inboxRef, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO inbox (instance_id, visible_at, due_at, payload) VALUES (?, ?, ?, ?)`,
		string(id), toNanos(ref.visibleAt), toNanos(ref.dueAt), payload)
	if err != nil {
		return ref, fmt.Errorf("queue event for %s: %w", id, err)
	}
	ref.seq, err = res.LastInsertId()
	return ref, err
}

// acceptedNow is the ref of an event that may be delivered at once and is
// due from the moment the scheduler accepted it.
func acceptedNow() inboxRef { return inboxRef{dueAt: time.Now()} }

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func toNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
