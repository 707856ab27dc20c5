package scheduler

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	// The pure-Go SQLite driver keeps every binary buildable with
	// CGO_ENABLED=0; durabletask-go already depends on it.
	_ "modernc.org/sqlite"
)

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
	db  *sql.DB // the writer: one connection, used by commitLoop
	rdb *sql.DB // readers; the writer itself for an in-memory database
	// stmts and reads cache prepared statements for the writer and the
	// readers.
	stmts, reads *stmtCache
	log          *slog.Logger
	lockID       string

	writes    chan *write
	closing   chan struct{}
	committed chan struct{}
	closeOnce sync.Once

	mu        sync.Mutex
	instances map[api.InstanceID]*instance
	ready     fifo[api.InstanceID]
	timers    timerHeap
	// liveTimers is how many timers the last compaction kept.
	liveTimers int
	tasks      fifo[int64]
	taskOwner  map[int64]api.InstanceID // queued and dispatched tasks
	taskLocks  map[int64]string         // dispatched tasks: the dispatch's lock
	locks      uint64
	orchWake   chan struct{}
	taskWake   chan struct{}
}

// instance is the in-memory view of an instance that has events waiting or
// is being executed. Instances with neither are not held in memory.
type instance struct {
	inbox     []inboxRef
	locked    bool
	lockedBy  string
	delivered []int64
	queued    bool
	dequeues  int32
	// notBefore holds the whole instance back after a failed attempt, so
	// that no event can overtake the ones that attempt was given.
	notBefore time.Time
}

// inboxRef is a waiting event. visibleAt is when it may be delivered (zero
// for at once); dueAt is when it happened for the orchestration: a timer's
// fire time, or when the scheduler accepted any other event. Events are
// delivered in dueAt order, so a decision accepted before a deadline is
// seen before that deadline's timer even when both wait out an outage.
type inboxRef struct {
	seq       int64
	visibleAt time.Time
	dueAt     time.Time
}

// compare orders refs by when they became due, then by arrival.
func (r inboxRef) compare(o inboxRef) int {
	if c := r.dueAt.Compare(o.dueAt); c != 0 {
		return c
	}
	return cmp.Compare(r.seq, o.seq)
}

func (in *instance) visible(now time.Time) bool {
	if now.Before(in.notBefore) {
		return false
	}
	for _, r := range in.inbox {
		if !r.visibleAt.After(now) {
			return true
		}
	}
	return false
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
		rdb:       rdb,
		stmts:     newStmtCache(db, true),
		reads:     newStmtCache(rdb, false),
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
// is simply offered again.
func (s *Store) load() error {
	rows, err := s.db.Query(`SELECT seq, instance_id, visible_at, due_at FROM inbox ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("read inbox: %w", err)
	}
	defer rows.Close()
	now := time.Now()
	for rows.Next() {
		var seq, visible, due int64
		var id string
		if err := rows.Scan(&seq, &id, &visible, &due); err != nil {
			return fmt.Errorf("read inbox row: %w", err)
		}
		s.addEvent(api.InstanceID(id), inboxRef{seq: seq, visibleAt: fromNanos(visible), dueAt: fromNanos(due)}, now)
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
	return trows.Err()
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
	s.reads.close()
	if s.rdb != s.db {
		s.rdb.Close()
	}
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

// addEvent records a waiting event in memory and queues its instance if it
// can run. The caller holds s.mu.
func (s *Store) addEvent(id api.InstanceID, ref inboxRef, now time.Time) {
	in := s.instances[id]
	if in == nil {
		in = &instance{}
		s.instances[id] = in
	}
	in.inbox = append(in.inbox, ref)
	if ref.visibleAt.After(now) {
		s.addTimer(timer{at: ref.visibleAt, id: id})
	}
	s.enqueue(id, in, now)
}

// addTimer schedules a wake-up. Sleeping fetchers are woken when the new
// timer is the earliest, since they sleep only until the earliest they saw.
// The caller holds s.mu.
func (s *Store) addTimer(t timer) {
	first, ok := s.timers.peek()
	s.timers.push(t)
	if !ok || t.at.Before(first.at) {
		s.wakeOrchestrations()
	}
	// Compact when most of the heap is likely stale: well past what the
	// last compaction kept, so that live timers alone never trigger it.
	if s.timers.len() > 2*s.liveTimers+1024 {
		s.compactTimers()
	}
}

// compactTimers rebuilds the timer heap from the instances still waiting.
// Timers of instances that finished early (an approval decided long before
// its timeout) would otherwise stay in the heap until they fall due. The
// caller holds s.mu.
func (s *Store) compactTimers() {
	var live timerHeap
	for id, in := range s.instances {
		// Due timers are kept too: only popping one queues its instance.
		if !in.notBefore.IsZero() {
			live.h = append(live.h, timer{at: in.notBefore, id: id})
		}
		for _, r := range in.inbox {
			if !r.visibleAt.IsZero() {
				live.h = append(live.h, timer{at: r.visibleAt, id: id})
			}
		}
	}
	live.init()
	s.timers = live
	s.liveTimers = live.len()
}

func (s *Store) wakeOrchestrations() {
	close(s.orchWake)
	s.orchWake = make(chan struct{})
}

// enqueue puts an instance on the ready queue when it has visible events and
// nobody is executing it. The caller holds s.mu.
func (s *Store) enqueue(id api.InstanceID, in *instance, now time.Time) {
	if in.locked || in.queued || !in.visible(now) {
		return
	}
	in.queued = true
	s.ready.push(id)
	s.wakeOrchestrations()
}

func (s *Store) forget(id api.InstanceID, in *instance) {
	if !in.locked && !in.queued && len(in.inbox) == 0 {
		delete(s.instances, id)
	}
}

// CreateOrchestrationInstance implements backend.Backend.
func (s *Store) CreateOrchestrationInstance(ctx context.Context, e *backend.HistoryEvent, opts ...backend.OrchestrationIdReusePolicyOptions) error {
	es := e.GetExecutionStarted()
	if es == nil || e.GetTimestamp() == nil {
		return errors.New("create instance: want an ExecutionStarted event with a timestamp")
	}
	id := api.InstanceID(es.GetOrchestrationInstance().GetInstanceId())
	if id == "" {
		return errors.New("create instance: empty instance ID")
	}
	policy := &api.OrchestrationIdReusePolicy{}
	for _, opt := range opts {
		if err := opt(policy); err != nil {
			return fmt.Errorf("create instance %s: %w", id, err)
		}
	}
	payload, err := backend.MarshalHistoryEvent(e)
	if err != nil {
		return err
	}
	var visible time.Time
	if ts := es.GetScheduledStartTimestamp(); ts != nil {
		visible = ts.AsTime()
	}

	return s.write(ctx, func(ctx context.Context, tx *txn) (func(time.Time), error) {
		err := s.insertInstance(ctx, tx, id, e, policy)
		if errors.Is(err, api.ErrIgnoreInstance) {
			return nil, nil // the policy asked to keep the existing instance
		}
		if err != nil {
			return nil, err
		}
		ref, err := insertInbox(ctx, tx, id, inboxRef{visibleAt: visible, dueAt: latest(visible, time.Now())}, payload)
		if err != nil {
			return nil, err
		}
		return func(now time.Time) { s.addEvent(id, ref, now) }, nil
	})
}

// insertInstance adds the instance row, applying the ID reuse policy when an
// instance with the same ID exists: by default that is an error.
func (s *Store) insertInstance(ctx context.Context, tx *txn, id api.InstanceID, e *backend.HistoryEvent, policy *api.OrchestrationIdReusePolicy) error {
	es := e.GetExecutionStarted()
	created := e.GetTimestamp().AsTime().UnixNano()
	res, err := tx.ExecContext(ctx, `INSERT INTO instances (id, name, execution_id, status, created_at, updated_at, input)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		string(id), es.GetName(), es.GetOrchestrationInstance().GetExecutionId().GetValue(),
		int32(api.RUNTIME_STATUS_PENDING), created, created, es.GetInput().GetValue())
	if err != nil {
		return fmt.Errorf("create instance %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	existing, _, err := instanceStatus(ctx, tx, id)
	if err != nil {
		return fmt.Errorf("create instance %s: %w", id, err)
	}
	matches := false
	for _, st := range policy.GetOperationStatus() {
		if st == existing {
			matches = true
		}
	}
	if !matches {
		return api.ErrDuplicateInstance
	}
	switch policy.GetAction() {
	case api.REUSE_ID_ACTION_IGNORE:
		return api.ErrIgnoreInstance
	case api.REUSE_ID_ACTION_TERMINATE:
		// Replacing an instance that may be executing at this moment needs
		// more care than this sample calls for; the design notes also warn
		// against sending v0.6.0's reuse policy to the service.
		return status.Error(codes.Unimplemented, "the embedded scheduler does not replace existing instances (reuse policy TERMINATE)")
	default:
		return api.ErrDuplicateInstance
	}
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

// dropInstance forgets an instance's waiting events and any lock on it, so
// that a work item handed out before it was purged or replaced can no longer
// be completed. The caller holds s.mu.
func (s *Store) dropInstance(id api.InstanceID) {
	delete(s.instances, id)
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

// AddNewOrchestrationEvent implements backend.Backend. An event for an
// unknown instance is refused rather than stored where nothing reads it; an
// event for a finished instance is dropped, as the service does.
func (s *Store) AddNewOrchestrationEvent(ctx context.Context, id api.InstanceID, e *backend.HistoryEvent) error {
	payload, err := backend.MarshalHistoryEvent(e)
	if err != nil {
		return err
	}
	// Accepted now, not when the group commit gets to it: this is the time
	// a deadline is compared with.
	accepted := acceptedNow()
	return s.write(ctx, func(ctx context.Context, tx *txn) (func(time.Time), error) {
		status, found, err := instanceStatus(ctx, tx, id)
		if err != nil {
			return nil, fmt.Errorf("add event to %s: %w", id, err)
		}
		if !found {
			return nil, api.ErrInstanceNotFound
		}
		if isFinal(status) {
			s.log.Debug("dropping event for finished instance", "instance_id", id)
			return nil, nil
		}
		ref, err := insertInbox(ctx, tx, id, accepted, payload)
		if err != nil {
			return nil, err
		}
		return func(now time.Time) { s.addEvent(id, ref, now) }, nil
	})
}

func isFinal(st api.OrchestrationStatus) bool {
	switch st {
	case api.RUNTIME_STATUS_COMPLETED, api.RUNTIME_STATUS_FAILED, api.RUNTIME_STATUS_TERMINATED, api.RUNTIME_STATUS_CANCELED:
		return true
	}
	return false
}

// GetOrchestrationWorkItem implements backend.Backend. It blocks until an
// instance has work or ctx ends, so durabletask-go's poller never sleeps
// through new work.
func (s *Store) GetOrchestrationWorkItem(ctx context.Context) (*backend.OrchestrationWorkItem, error) {
	for {
		s.mu.Lock()
		now := time.Now()
		s.fireTimers(now)
		id, in, ok := s.nextReady(now)
		var seqs []int64
		var lockedBy string
		var retries int32
		if ok {
			s.locks++
			lockedBy = s.lockID + "-" + strconv.FormatUint(s.locks, 36)
			in.locked, in.lockedBy = true, lockedBy
			seqs = deliverable(in.inbox, now)
			in.delivered = seqs
			retries = in.dequeues
			in.dequeues++
		}
		wake, wait := s.orchWake, s.timers.until(now)
		s.mu.Unlock()

		if ok {
			events, err := s.readInbox(ctx, seqs)
			if err != nil {
				s.unlock(id, lockedBy, 0)
				return nil, err
			}
			return &backend.OrchestrationWorkItem{InstanceID: id, NewEvents: events, LockedBy: lockedBy, RetryCount: retries}, nil
		}
		if err := sleep(ctx, wake, wait); err != nil {
			return nil, err
		}
	}
}

// deliverable picks the events of one work item: those visible at now, in
// the order they became due, at most maxEventsPerWorkItem of them.
func deliverable(inbox []inboxRef, now time.Time) []int64 {
	var refs []inboxRef
	for _, r := range inbox {
		if !r.visibleAt.After(now) {
			refs = append(refs, r)
		}
	}
	slices.SortFunc(refs, inboxRef.compare)
	seqs := make([]int64, 0, min(len(refs), maxEventsPerWorkItem))
	for _, r := range refs[:min(len(refs), maxEventsPerWorkItem)] {
		seqs = append(seqs, r.seq)
	}
	return seqs
}

// nextReady pops the first runnable instance. The caller holds s.mu.
func (s *Store) nextReady(now time.Time) (api.InstanceID, *instance, bool) {
	for {
		id, ok := s.ready.pop()
		if !ok {
			return "", nil, false
		}
		in := s.instances[id]
		if in == nil {
			continue
		}
		in.queued = false
		if in.locked || !in.visible(now) {
			continue
		}
		return id, in, true
	}
}

// fireTimers queues the instances whose timers are due. The caller holds s.mu.
func (s *Store) fireTimers(now time.Time) {
	for {
		t, ok := s.timers.peek()
		if !ok || t.at.After(now) {
			return
		}
		s.timers.pop()
		if in := s.instances[t.id]; in != nil {
			s.enqueue(t.id, in, now)
		}
	}
}

func sleep(ctx context.Context, wake <-chan struct{}, wait time.Duration) error {
	var due <-chan time.Time
	if wait >= 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		due = t.C
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-wake:
	case <-due:
	}
	return nil
}

func (s *Store) readInbox(ctx context.Context, seqs []int64) ([]*backend.HistoryEvent, error) {
	events := make([]*backend.HistoryEvent, 0, len(seqs))
	if len(seqs) == 0 {
		return events, nil
	}
	args := make([]any, len(seqs))
	for i, seq := range seqs {
		args[i] = seq
	}
	rows, err := s.query(ctx, `SELECT seq, payload FROM inbox WHERE seq IN (?`+strings.Repeat(",?", len(seqs)-1)+`)`, args...)
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

// unlock releases an instance, holding it back for delay.
func (s *Store) unlock(id api.InstanceID, lockedBy string, delay time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.instances[id]
	if in == nil || !in.locked || in.lockedBy != lockedBy {
		return backend.ErrWorkItemLockLost
	}
	now := time.Now()
	if delay > 0 {
		in.notBefore = now.Add(delay)
		s.addTimer(timer{at: in.notBefore, id: id})
	}
	in.locked, in.lockedBy, in.delivered = false, "", nil
	s.enqueue(id, in, now)
	return nil
}

// AbandonOrchestrationWorkItem implements backend.Backend.
func (s *Store) AbandonOrchestrationWorkItem(_ context.Context, wi *backend.OrchestrationWorkItem) error {
	return s.unlock(wi.InstanceID, wi.LockedBy, wi.GetAbandonDelay())
}

// GetOrchestrationRuntimeState implements backend.Backend.
func (s *Store) GetOrchestrationRuntimeState(ctx context.Context, wi *backend.OrchestrationWorkItem) (*backend.OrchestrationRuntimeState, error) {
	rows, err := s.query(ctx, `SELECT payload FROM history WHERE instance_id = ? ORDER BY seq`, string(wi.InstanceID))
	if err != nil {
		return nil, fmt.Errorf("read history of %s: %w", wi.InstanceID, err)
	}
	defer rows.Close()
	var history []*backend.HistoryEvent
	for rows.Next() {
		var payload []byte
		if err := rows.Scan(&payload); err != nil {
			return nil, fmt.Errorf("read history of %s: %w", wi.InstanceID, err)
		}
		e, err := backend.UnmarshalHistoryEvent(payload)
		if err != nil {
			return nil, err
		}
		history = append(history, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read history of %s: %w", wi.InstanceID, err)
	}
	return backend.NewOrchestrationRuntimeState(wi.InstanceID, history), nil
}

// GetOrchestrationMetadata implements backend.Backend.
func (s *Store) GetOrchestrationMetadata(ctx context.Context, id api.InstanceID) (*api.OrchestrationMetadata, error) {
	var (
		name                        string
		status                      int32
		created, updated            int64
		input, output, customStatus sql.NullString
		failure                     []byte
	)
	err := s.queryRow(ctx, `SELECT name, status, created_at, updated_at, input, output, custom_status, failure
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

// CompleteOrchestrationWorkItem implements backend.Backend: it saves what
// one orchestrator execution did, in one transaction.
func (s *Store) CompleteOrchestrationWorkItem(ctx context.Context, wi *backend.OrchestrationWorkItem) error {
	st := wi.State
	s.mu.Lock()
	in := s.instances[wi.InstanceID]
	if in == nil || !in.locked || in.lockedBy != wi.LockedBy {
		s.mu.Unlock()
		return backend.ErrWorkItemLockLost
	}
	delivered := in.delivered
	s.mu.Unlock()
	return s.write(ctx, func(ctx context.Context, tx *txn) (func(time.Time), error) {
		return s.saveExecution(ctx, tx, wi.InstanceID, st, delivered)
	})
}

// saveExecution writes what one orchestrator execution did and returns the
// matching in-memory update.
func (s *Store) saveExecution(ctx context.Context, tx *txn, id api.InstanceID, st *backend.OrchestrationRuntimeState, delivered []int64) (func(time.Time), error) {
	var err error
	now := time.Now()
	set := []string{"status = ?", "updated_at = ?"}
	args := []any{int32(st.RuntimeStatus()), now.UnixNano()}
	for _, e := range st.NewEvents() {
		if ec := e.GetExecutionCompleted(); ec != nil {
			set = append(set, "completed_at = ?", "output = ?", "failure = ?")
			var failure []byte
			if fd := ec.GetFailureDetails(); fd != nil {
				if failure, err = proto.Marshal(fd); err != nil {
					return nil, fmt.Errorf("complete %s: encode failure: %w", id, err)
				}
			}
			args = append(args, now.UnixNano(), ec.GetResult().GetValue(), failure)
		}
	}
	if st.CustomStatus != nil {
		set = append(set, "custom_status = ?")
		args = append(args, st.CustomStatus.GetValue())
	}
	args = append(args, string(id))
	res, err := tx.ExecContext(ctx, `UPDATE instances SET `+strings.Join(set, ", ")+` WHERE id = ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("complete %s: update instance: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil, backend.ErrWorkItemLockLost // purged while it ran
	}

	if st.ContinuedAsNew() {
		if _, err := tx.ExecContext(ctx, `DELETE FROM history WHERE instance_id = ?`, string(id)); err != nil {
			return nil, fmt.Errorf("complete %s: reset history: %w", id, err)
		}
	}
	next := len(st.OldEvents())
	for _, e := range st.NewEvents() {
		payload, err := backend.MarshalHistoryEvent(e)
		if err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO history (instance_id, seq, payload) VALUES (?, ?, ?)`, string(id), next, payload); err != nil {
			return nil, fmt.Errorf("complete %s: append history: %w", id, err)
		}
		next++
	}

	var newTasks []int64
	for _, e := range st.PendingTasks() {
		payload, err := backend.MarshalHistoryEvent(e)
		if err != nil {
			return nil, err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO tasks (instance_id, payload) VALUES (?, ?)`, string(id), payload)
		if err != nil {
			return nil, fmt.Errorf("complete %s: schedule activity: %w", id, err)
		}
		seq, err := res.LastInsertId()
		if err != nil {
			return nil, fmt.Errorf("complete %s: schedule activity: %w", id, err)
		}
		newTasks = append(newTasks, seq)
	}

	type queued struct {
		id  api.InstanceID
		ref inboxRef
	}
	var newEvents []queued
	completed := st.IsCompleted()
	if !completed {
		for _, e := range st.PendingTimers() {
			payload, err := backend.MarshalHistoryEvent(e)
			if err != nil {
				return nil, err
			}
			at := e.GetTimerFired().GetFireAt().AsTime()
			ref, err := insertInbox(ctx, tx, id, inboxRef{visibleAt: at, dueAt: at}, payload)
			if err != nil {
				return nil, err
			}
			newEvents = append(newEvents, queued{id, ref})
		}
	}
	for _, msg := range st.PendingMessages() {
		target := api.InstanceID(msg.TargetInstanceID)
		if msg.HistoryEvent.GetExecutionStarted() == nil {
			status, found, err := instanceStatus(ctx, tx, target)
			if err != nil {
				return nil, fmt.Errorf("complete %s: %w", id, err)
			}
			if !found || isFinal(status) {
				s.log.Debug("dropping a message for a missing or finished instance", "instance_id", id, "target", target)
				continue
			}
		} else {
			err := s.insertInstance(ctx, tx, target, msg.HistoryEvent, &api.OrchestrationIdReusePolicy{})
			if errors.Is(err, api.ErrDuplicateInstance) {
				s.log.Warn("sub-orchestration already exists; not starting it again", "instance_id", id, "target", target)
				continue
			}
			if err != nil {
				return nil, err
			}
		}
		payload, err := backend.MarshalHistoryEvent(msg.HistoryEvent)
		if err != nil {
			return nil, err
		}
		ref, err := insertInbox(ctx, tx, target, acceptedNow(), payload)
		if err != nil {
			return nil, err
		}
		newEvents = append(newEvents, queued{target, ref})
	}

	// A finished instance keeps no waiting events: its pending timers and
	// late events would only replay a completed orchestration.
	if completed {
		if _, err := tx.ExecContext(ctx, `DELETE FROM inbox WHERE instance_id = ?`, string(id)); err != nil {
			return nil, fmt.Errorf("complete %s: clear inbox: %w", id, err)
		}
	} else if err := deleteSeqs(ctx, tx, delivered); err != nil {
		return nil, fmt.Errorf("complete %s: %w", id, err)
	}

	return func(now time.Time) {
		in := s.instances[id]
		if completed {
			in.inbox = nil
		} else {
			in.inbox = without(in.inbox, delivered)
		}
		in.locked, in.lockedBy, in.delivered, in.dequeues, in.notBefore = false, "", nil, 0, time.Time{}
		for _, q := range newEvents {
			s.addEvent(q.id, q.ref, now)
		}
		s.enqueue(id, in, now)
		s.forget(id, in)
		if len(newTasks) > 0 {
			for _, seq := range newTasks {
				s.tasks.push(seq)
				s.taskOwner[seq] = id
			}
			close(s.taskWake)
			s.taskWake = make(chan struct{})
		}
	}, nil
}

func deleteSeqs(ctx context.Context, tx *txn, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	args := make([]any, len(seqs))
	for i, seq := range seqs {
		args[i] = seq
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM inbox WHERE seq IN (?`+strings.Repeat(",?", len(seqs)-1)+`)`, args...)
	if err != nil {
		return fmt.Errorf("remove processed events: %w", err)
	}
	return nil
}

func without(refs []inboxRef, seqs []int64) []inboxRef {
	drop := make(map[int64]bool, len(seqs))
	for _, seq := range seqs {
		drop[seq] = true
	}
	kept := refs[:0]
	for _, r := range refs {
		if !drop[r.seq] {
			kept = append(kept, r)
		}
	}
	return kept
}

// GetActivityWorkItem implements backend.Backend. Like its orchestration
// counterpart it blocks until there is work.
func (s *Store) GetActivityWorkItem(ctx context.Context) (*backend.ActivityWorkItem, error) {
	for {
		s.mu.Lock()
		seq, ok := s.tasks.pop()
		id, owned := s.taskOwner[seq]
		var lockedBy string
		if ok && owned {
			s.locks++
			lockedBy = s.lockID + "-" + strconv.FormatUint(s.locks, 36)
			s.taskLocks[seq] = lockedBy
		}
		wake := s.taskWake
		s.mu.Unlock()
		if !ok {
			if err := sleep(ctx, wake, -1); err != nil {
				return nil, err
			}
			continue
		}
		if !owned {
			continue
		}
		var payload []byte
		err := s.queryRow(ctx, `SELECT payload FROM tasks WHERE seq = ?`, seq).Scan(&payload)
		if errors.Is(err, sql.ErrNoRows) {
			// Its orchestration was purged or replaced.
			s.dropTask(seq)
			continue
		}
		if err != nil {
			s.requeueTask(seq)
			return nil, fmt.Errorf("read activity %d of %s: %w", seq, id, err)
		}
		e, err := backend.UnmarshalHistoryEvent(payload)
		if err != nil {
			// Retrying cannot mend a payload that does not decode.
			s.log.Error("dropping an activity that cannot be decoded", "instance_id", id, "task", seq, "err", err)
			s.dropTask(seq)
			continue
		}
		return &backend.ActivityWorkItem{SequenceNumber: seq, InstanceID: id, NewEvent: e, LockedBy: lockedBy}, nil
	}
}

func (s *Store) dropTask(seq int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.taskOwner, seq)
	delete(s.taskLocks, seq)
}

func (s *Store) requeueTask(seq int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.taskLocks, seq)
	s.tasks.pushFront(seq)
	close(s.taskWake)
	s.taskWake = make(chan struct{})
}

// holdsTask reports whether wi is the current dispatch of its task.
func (s *Store) holdsTask(wi *backend.ActivityWorkItem) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.taskLocks[wi.SequenceNumber] == wi.LockedBy && wi.LockedBy != ""
}

// CompleteActivityWorkItem implements backend.Backend: the activity's
// result becomes an event for its orchestration.
func (s *Store) CompleteActivityWorkItem(ctx context.Context, wi *backend.ActivityWorkItem) error {
	payload, err := backend.MarshalHistoryEvent(wi.Result)
	if err != nil {
		return err
	}
	if !s.holdsTask(wi) {
		return backend.ErrWorkItemLockLost
	}
	return s.write(ctx, func(ctx context.Context, tx *txn) (func(time.Time), error) {
		// Deleting the task is what claims the completion: a second
		// completion of the same dispatch finds nothing to delete.
		res, err := tx.ExecContext(ctx, `DELETE FROM tasks WHERE seq = ?`, wi.SequenceNumber)
		if err != nil {
			return nil, fmt.Errorf("complete activity %s: %w", wi, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil, backend.ErrWorkItemLockLost
		}
		// The result of an activity whose orchestration has finished (or
		// been purged) has nobody to go to.
		status, found, err := instanceStatus(ctx, tx, wi.InstanceID)
		if err != nil {
			return nil, fmt.Errorf("complete activity %s: %w", wi, err)
		}
		alive := found && !isFinal(status)
		var ref inboxRef
		if alive {
			if ref, err = insertInbox(ctx, tx, wi.InstanceID, acceptedNow(), payload); err != nil {
				return nil, err
			}
		}
		return func(now time.Time) {
			delete(s.taskOwner, wi.SequenceNumber)
			delete(s.taskLocks, wi.SequenceNumber)
			if alive {
				s.addEvent(wi.InstanceID, ref, now)
			}
		}, nil
	})
}

// AbandonActivityWorkItem implements backend.Backend.
func (s *Store) AbandonActivityWorkItem(_ context.Context, wi *backend.ActivityWorkItem) error {
	if !s.holdsTask(wi) {
		return backend.ErrWorkItemLockLost
	}
	s.requeueTask(wi.SequenceNumber)
	return nil
}

// instanceStatus reads an instance's runtime status; found is false when
// there is no such instance.
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
		return func(time.Time) { s.dropInstance(id) }, nil
	})
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
