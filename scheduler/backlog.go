package scheduler

import (
	"errors"
	"fmt"
	"time"
)

// Admission: a client's start is refused while the backlog, the work
// waiting for a worker, has reached a bound. Without one, a burst of starts
// queues work faster than workers can take it, and every instance started
// after the burst waits for all of it, however long that is, while its
// client was told it had started. A refusal is immediate and honest:
// nothing is stored, and the client knows to retry.

// DefaultMaxBacklog is the backlog bound a Server applies when none is
// configured. An approval is one work item in the backlog at a time, and
// one worker on two cores gets through one to two thousand approvals a
// second, a few hundred while a flood of requests competes for the same
// cores: so a start admitted at the bound waits about a second, a few
// under such a flood, to become decidable, where an unbounded backlog made
// it wait for the whole burst. A steady load leaves far less waiting, so
// only bursts are refused.
const DefaultMaxBacklog = 1000

// ErrBacklogFull is the error of a start refused because the backlog is
// at its bound; the gRPC service answers it RESOURCE_EXHAUSTED, as the
// Azure service answers a start it is too busy to take.
var ErrBacklogFull = errors.New("the scheduler is busy: start refused and nothing started; retry later")

// refusalLogEvery spaces the log lines about refused starts, so that a
// flood of refusals does not become a flood of log lines.
const refusalLogEvery = 10 * time.Second

// backlogLocked is the work waiting for a worker: instances with events
// they can act on now, and activities not handed out yet. Work already
// handed out is not counted (the dispatchers' parallelism bounds it), nor
// are events not due yet (an approval's timer is not work until it fires).
// Entries of instances purged while queued are counted until the
// dispatcher skips them; they are rare and short-lived.
func (s *Store) backlogLocked() int {
	return s.ready.len() + s.unstarted.len() + s.tasks.len() + s.firstTasks.len()
}

// admit reserves room in the backlog for the start of a new instance, or
// refuses it with ErrBacklogFull. Starts admitted but not yet written
// count, so that concurrent starts cannot all slip in under the bound;
// release returns the reservation once the start is written (or failed).
func (s *Store) admit() (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.maxBacklog <= 0 {
		return func() {}, nil
	}
	if n := s.backlogLocked() + s.admitting; n >= s.maxBacklog {
		s.refusedLocked(n)
		return nil, fmt.Errorf("%w (%d work items wait for workers; the bound is %d)", ErrBacklogFull, n, s.maxBacklog)
	}
	s.admitting++
	return func() {
		s.mu.Lock()
		s.admitting--
		s.mu.Unlock()
	}, nil
}

// refusedLocked counts a refused start and logs the refusals now and then.
func (s *Store) refusedLocked(backlog int) {
	s.refused++
	now := time.Now()
	if now.Sub(s.refusalLogged) < refusalLogEvery {
		return
	}
	s.log.Warn("refusing new starts: the backlog is at its bound", "backlog", backlog, "bound", s.maxBacklog,
		"refused_since_last_report", s.refused)
	s.refused, s.refusalLogged = 0, now
}
