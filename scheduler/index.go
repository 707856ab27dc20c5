package scheduler

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/microsoft/durabletask-go/api"
)

// The in-memory index: which instances have events waiting, which of those
// can run now, the timers that make more of them runnable later, and the
// activity queues. It mirrors what the database holds and is rebuilt from it
// on open; the functions here all need s.mu held.
//
// Work that continues an instance is handed out before work that begins
// one: an instance that has run before goes ahead of instances that
// clients started and that have not run yet, and activities scheduled by
// a later execution go ahead of those an instance's first execution
// scheduled. (A sub-orchestration is work of its parent, under way, so it
// is not new.) Within each class the order is first come, first served.
// The rule knows nothing of what the orchestrations do; its point is that
// a burst of new instances queues behind the work of instances already
// under way (an event raised for one of them, an activity it waits on)
// instead of in front of it, so that work admitted earlier is not made to
// wait for work admitted later.
//
// The price is starvation: while work that continues instances keeps
// every dispatch slot busy, no new instance begins. Continuing work is
// finite unless orchestrations run forever, and it counts towards the
// backlog that refuses new starts (see admit), so a scheduler that cannot
// keep up says so to the clients starting instances instead of letting
// their instances wait unseen. Within one instance nothing changes: its
// start comes first, then its events in the order they became due,
// whichever class it is in.

// instance is the in-memory view of an instance that has events waiting or
// is being executed. Instances with neither are not held in memory.
//
// Invariants about starts, which the store keeps and the tests check:
//
//   - An instance whose start is in the future holds its other events. A
//     client may start an instance at a later time (ExecutionStarted with a
//     scheduledStartTimestamp); until its start is delivered, events raised
//     for it, suspends and resumes wait beside it, whatever their own
//     visibility. Once the start is due, the start is delivered first and
//     the held events after it, in the order they became due. An event
//     delivered without its start would be run by a worker as an execution
//     of nothing, and the start that came later would then find a history
//     without one, which the runtime refuses ("orchestration state is
//     invalid").
//   - A terminate before the start ends the instance at once: it is never
//     held. The store writes the history a worker given the start and the
//     terminate would have saved (OrchestratorStarted, ExecutionStarted,
//     ExecutionTerminated, ExecutionCompleted with status Terminated) in
//     the transaction that accepts the terminate (see terminateBeforeStart),
//     so the instance is Terminated before the call returns, can be waited
//     for and purged, and none of its code runs. Since no terminate ever
//     waits behind a start, rebuilding this index after a restart needs
//     nothing but the inbox's order (see Store.load).
//   - No stored status contradicts its history: a status row is written
//     only with the history it describes (see rowStatus). An instance
//     without an ExecutionStarted in its history is Pending, with no
//     completion time or output; one whose history ends in ExecutionCompleted
//     has that event's status and a completion time.
type instance struct {
	inbox     []inboxRef
	locked    bool
	lockedBy  string
	delivered []int64
	queued    bool
	// unstarted is true for an instance a client started until an
	// execution of it has been saved: it is queued behind those under way.
	unstarted bool
	dequeues  int32
	// notBefore holds the whole instance back after a failed attempt, so
	// that no event can overtake the ones that attempt was given.
	notBefore time.Time
}

// inboxRef is a waiting event. visibleAt is when it may be delivered (zero
// for at once; a client's start time for a delayed start); dueAt is when
// it happened for the orchestration: a timer's fire time, or when the
// scheduler accepted any other event. Events are delivered in dueAt order
// after the instance's start (isStart), so a decision accepted before a
// deadline is seen before that deadline's timer even when both wait out an
// outage; while the start is not visible, nothing of the instance is.
type inboxRef struct {
	seq       int64
	visibleAt time.Time
	dueAt     time.Time
	// starts marks the ExecutionStarted of an instance a client started
	// (or restarted); an instance first seen through it is unstarted.
	starts bool
	// isStart marks an instance's ExecutionStarted, whoever started it. The
	// instance's other events are held while it is not visible, and it is
	// delivered ahead of them. It is always the instance's first waiting
	// event: it is written with the instance, before any event can be
	// queued for it, and it stays until the execution it starts is saved,
	// after which the instance has a history. So after a restart it is the
	// first inbox row of an instance without history (see load).
	isStart bool
}

// compare orders refs by when they became due, then by arrival.
func (r inboxRef) compare(o inboxRef) int {
	if c := r.dueAt.Compare(o.dueAt); c != 0 {
		return c
	}
	return cmp.Compare(r.seq, o.seq)
}

// visible reports whether the instance has events it may be given now: it
// is not held back after a failed attempt, its start (if waiting) is due,
// and some event is.
func (in *instance) visible(now time.Time) bool {
	if now.Before(in.notBefore) {
		return false
	}
	some := false
	for _, r := range in.inbox {
		if !r.visibleAt.After(now) {
			some = true
		} else if r.isStart {
			return false // everything waits for the start
		}
	}
	return some
}

// addEventLocked records a waiting event in memory and queues its instance
// if it can run.
func (s *Store) addEventLocked(id api.InstanceID, ref inboxRef, now time.Time) {
	in := s.instances[id]
	if in == nil {
		in = &instance{unstarted: ref.starts}
		s.instances[id] = in
	}
	in.inbox = append(in.inbox, ref)
	if ref.visibleAt.After(now) {
		s.addTimerLocked(timer{at: ref.visibleAt, id: id})
	}
	s.enqueueLocked(id, in, now)
}

// addTimerLocked schedules a wake-up. Sleeping fetchers are woken when the
// new timer is the earliest, since they sleep only until the earliest they
// saw.
func (s *Store) addTimerLocked(t timer) {
	first, ok := s.timers.peek()
	s.timers.push(t)
	if !ok || t.at.Before(first.at) {
		s.wakeOrchestrationsLocked()
	}
	// Compact when most of the heap is likely stale: well past what the
	// last compaction kept, so that live timers alone never trigger it.
	if s.timers.len() > 2*s.liveTimers+1024 {
		s.compactTimersLocked()
	}
}

// compactTimersLocked rebuilds the timer heap from the instances still
// waiting. Timers of instances that finished early (an approval decided
// long before its timeout) would otherwise stay in the heap until they fall
// due.
func (s *Store) compactTimersLocked() {
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

func (s *Store) wakeOrchestrationsLocked() {
	close(s.orchWake)
	s.orchWake = make(chan struct{})
}

func (s *Store) wakeTasksLocked() {
	close(s.taskWake)
	s.taskWake = make(chan struct{})
}

// enqueueLocked puts an instance on its ready queue when it has visible
// events and nobody is executing it.
func (s *Store) enqueueLocked(id api.InstanceID, in *instance, now time.Time) {
	if in.locked || in.queued || !in.visible(now) {
		return
	}
	in.queued = true
	if in.unstarted {
		s.unstarted.push(id)
	} else {
		s.ready.push(id)
	}
	s.wakeOrchestrationsLocked()
}

func (s *Store) forgetLocked(id api.InstanceID, in *instance) {
	if !in.locked && !in.queued && len(in.inbox) == 0 {
		delete(s.instances, id)
	}
}

// dropInstanceLocked forgets an instance's waiting events and any lock on
// it, so that a work item handed out before it was purged or replaced can
// no longer be completed.
func (s *Store) dropInstanceLocked(id api.InstanceID) {
	delete(s.instances, id)
}

// nextReadyLocked pops the first runnable instance: one under way if any,
// else a new one.
func (s *Store) nextReadyLocked(now time.Time) (api.InstanceID, *instance, bool) {
	for {
		id, ok := s.ready.pop()
		if !ok {
			id, ok = s.unstarted.pop()
		}
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

// fireTimersLocked queues the instances whose timers are due.
func (s *Store) fireTimersLocked(now time.Time) {
	for {
		t, ok := s.timers.peek()
		if !ok || t.at.After(now) {
			return
		}
		s.timers.pop()
		if in := s.instances[t.id]; in != nil {
			s.enqueueLocked(t.id, in, now)
		}
	}
}

// deliverable picks the events of one work item: those visible at now, in
// the order they became due, at most maxEventsPerWorkItem of them. The
// instance's start comes first, and nothing is picked while it is not
// visible (see instance).
func deliverable(inbox []inboxRef, now time.Time) []int64 {
	var refs []inboxRef
	for _, r := range inbox {
		if !r.visibleAt.After(now) {
			refs = append(refs, r)
		} else if r.isStart {
			return nil
		}
	}
	slices.SortFunc(refs, func(a, b inboxRef) int {
		if a.isStart != b.isStart {
			if a.isStart {
				return -1
			}
			return 1
		}
		return a.compare(b)
	})
	seqs := make([]int64, 0, min(len(refs), maxEventsPerWorkItem))
	for _, r := range refs[:min(len(refs), maxEventsPerWorkItem)] {
		seqs = append(seqs, r.seq)
	}
	return seqs
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

// sleep waits until wake is closed, wait has passed (never for a negative
// wait) or ctx ends.
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

// nextLockIDLocked names a dispatch of an orchestration or activity work
// item, unique within the store's life. Workers echo the guard's random
// completion tokens, not this, so a counter will do.
func (s *Store) nextLockIDLocked() string {
	s.locks++
	return s.lockID + "-" + strconv.FormatUint(s.locks, 36)
}
