package scheduler

import (
	"context"

	"github.com/microsoft/durabletask-go/api"

	"github.com/approvals-go/approvals/dts/mgmt"
)

// Waiting for an instance: callers of WaitForInstanceCompletion (the HTTP
// API waits on every decision) are woken by the commit that changes the
// instance, instead of polling the database as durabletask-go's executor
// does.

// watch is the signal for one instance's next change, shared by everyone
// waiting for it.
type watch struct {
	changed chan struct{}
	waiters int
}

// watchLocked returns the channel closed at the instance's next change;
// call unwatchLocked when done with it.
func (s *Store) watchLocked(id api.InstanceID) <-chan struct{} {
	w := s.watches[id]
	if w == nil {
		w = &watch{changed: make(chan struct{})}
		s.watches[id] = w
	}
	w.waiters++
	return w.changed
}

func (s *Store) unwatchLocked(id api.InstanceID, ch <-chan struct{}) {
	w := s.watches[id]
	if w == nil || w.changed != ch {
		return // already signalled and replaced
	}
	if w.waiters--; w.waiters == 0 {
		delete(s.watches, id)
	}
}

// changedLocked wakes those waiting for the instance; the change is
// committed.
func (s *Store) changedLocked(id api.InstanceID) {
	if w := s.watches[id]; w != nil {
		close(w.changed)
		delete(s.watches, id)
	}
}

// WaitForInstance returns the instance once done holds for its status.
// It reads the instance, and again after each committed change to it,
// until then or until ctx ends; an unknown instance is
// api.ErrInstanceNotFound at once.
func (s *Store) WaitForInstance(ctx context.Context, id api.InstanceID, payloads bool, done func(api.OrchestrationStatus) bool) (*mgmt.Instance, error) {
	for {
		// Watching before reading: a change committed between the read
		// and the wait still wakes it.
		s.mu.Lock()
		ch := s.watchLocked(id)
		s.mu.Unlock()
		in, err := s.reader.Instance(ctx, id, payloads)
		if err == nil && !done(in.RuntimeStatus) {
			select {
			case <-ch:
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
		s.mu.Lock()
		s.unwatchLocked(id, ch)
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if done(in.RuntimeStatus) {
			return in, nil
		}
	}
}
