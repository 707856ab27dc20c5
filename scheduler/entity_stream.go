package scheduler

import (
	"context"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/approvals-go/approvals/dts/mgmt"
)

// serveWorkItems serves a worker's GetWorkItems stream: durabletask-go's
// executor (serve) sends it orchestrations and activities, and entity work
// items go out beside them on the same stream to a worker that takes them.
//
// Which workers take entities: the service's protocol has no flag for it
// that every SDK sends (the JS SDK 0.4.0 sends an empty request and runs
// the entities it hosts), so a worker takes them unless it states its
// limits and none for entities (maxConcurrentEntityWorkItems 0 beside a
// non-zero limit for orchestrations or activities, as this project's Go
// worker does); work item filters that name entities restrict it to
// those. A work item a worker takes and never answers is offered again
// when its stream ends.
func (s *Store) serveWorkItems(stream grpc.ServerStream, serve func(grpc.ServerStream) error) error {
	ws := &workItemsStream{ServerStream: stream, received: make(chan struct{})}
	ctx, cancel := context.WithCancel(stream.Context())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.sendEntities(ctx, ws)
	}()
	err := serve(ws)
	cancel()
	wg.Wait()
	for token, id := range ws.handedOut {
		s.releaseEntity(id, token)
	}
	return err
}

// workItemsStream lets the entity sender share the stream: it serializes
// sends (grpc.ServerStream.SendMsg must not be called concurrently) and
// keeps the worker's request.
type workItemsStream struct {
	grpc.ServerStream
	mu       sync.Mutex
	once     sync.Once
	received chan struct{}
	request  proto.Message
	// handedOut are the entity work items sent on the stream, by token;
	// only the sender touches it until the stream ends.
	handedOut map[string]string
}

func (w *workItemsStream) RecvMsg(m any) error {
	err := w.ServerStream.RecvMsg(m)
	w.once.Do(func() {
		if msg, ok := m.(proto.Message); ok && err == nil {
			w.request = msg
		}
		close(w.received)
	})
	return err
}

func (w *workItemsStream) SendMsg(m any) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ServerStream.SendMsg(m)
}

// sendEntities hands entity work items to the stream's worker until ctx
// ends, if the worker takes them.
func (s *Store) sendEntities(ctx context.Context, ws *workItemsStream) {
	select {
	case <-ctx.Done():
		return
	case <-ws.received:
	}
	if ws.request == nil {
		return
	}
	statesLimits, entityLimit, names := mgmt.WorkerEntities(ws.request)
	if statesLimits && !entityLimit && len(names) == 0 {
		return
	}
	var accepts func(string) bool
	if len(names) > 0 {
		accepts = func(name string) bool { return slices.Contains(names, name) }
	}
	ws.handedOut = map[string]string{}
	for ctx.Err() == nil {
		wi, err := s.nextEntityWorkItem(ctx, accepts)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("fetching entity work failed; retrying in a second", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			continue
		}
		s.forgetFinished(ws.handedOut)
		ws.handedOut[wi.token] = wi.id
		if err := ws.SendMsg(mgmt.EntityWorkItem(wi.id, wi.state, wi.ops, wi.token)); err != nil {
			s.log.Debug("entity work item not sent", "entity", wi.id, "err", err)
			return
		}
	}
}

// forgetFinished drops the work items that were completed or abandoned.
func (s *Store) forgetFinished(handedOut map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for token := range handedOut {
		if _, ok := s.entityTokens[token]; !ok {
			delete(handedOut, token)
		}
	}
}
