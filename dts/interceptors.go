package dts

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/approvals-go/approvals/dts/dtsproto"
)

// authorizer yields the bearer token for one call.
type authorizer interface {
	Token(ctx context.Context) (string, error)
}

type staticToken string

func (t staticToken) Token(context.Context) (string, error) { return string(t), nil }

// metadataInjector adds the per-call metadata the scheduler expects.
type metadataInjector struct {
	pairs []string
	auth  authorizer
}

func (m *metadataInjector) outgoing(ctx context.Context) (context.Context, error) {
	ctx = metadata.AppendToOutgoingContext(ctx, m.pairs...)
	if m.auth == nil {
		return ctx, nil
	}
	tok, err := m.auth.Token(ctx)
	if err != nil {
		return nil, err
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok), nil
}

func (m *metadataInjector) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	ctx, err := m.outgoing(ctx)
	if err != nil {
		return err
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

func (m *metadataInjector) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	ctx, err := m.outgoing(ctx)
	if err != nil {
		return nil, err
	}
	return streamer(ctx, desc, cc, method, opts...)
}

// retryPolicy bounds the retries of unary calls.
type retryPolicy struct {
	attempts int
	initial  time.Duration
	max      time.Duration
}

// defaultRetry gives a scheduler restart or a token endpoint hiccup about
// three seconds to pass before the caller sees the error.
var defaultRetry = retryPolicy{attempts: 5, initial: 200 * time.Millisecond, max: 2 * time.Second}

// retryUnavailable retries unary calls that fail with codes.Unavailable,
// which the service, grpc-go's transport and our token source all use for
// "try again". It is an interceptor rather than a gRPC service config so
// that it also covers failed token fetches, which happen before the call
// reaches the transport.
func retryUnavailable(p retryPolicy) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		wait := p.initial
		for attempt := 1; ; attempt++ {
			err := invoker(ctx, method, req, reply, cc, opts...)
			if err == nil || attempt >= p.attempts || status.Code(err) != codes.Unavailable || ctx.Err() != nil {
				return err
			}
			// Full jitter spreads out the retries of many workers that
			// lost the same scheduler at the same moment.
			d := time.Duration(rand.Int64N(int64(wait)) + 1)
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return err
			case <-t.C:
			}
			wait = min(2*wait, p.max)
		}
	}
}

// workItemTracker carries completion tokens from work items to the
// completions that answer them, and keeps the work item stream healthy. One
// tracker serves one connection.
type workItemTracker struct {
	maxOrchestrations int32
	maxActivities     int32
	silence           time.Duration
	log               *slog.Logger

	mu     sync.Mutex
	tokens map[string]heldToken
}

type heldToken struct {
	token string
	at    time.Time
}

// Tokens of work items that are never completed (a worker that gave up on
// them) are dropped after staleTokenAge, checked once the map has grown
// past sweepThreshold entries.
const (
	staleTokenAge  = 24 * time.Hour
	sweepThreshold = 4096
)

func newWorkItemTracker(cfg Config, log *slog.Logger) *workItemTracker {
	t := &workItemTracker{
		maxOrchestrations: int32(cfg.MaxOrchestrationWorkItems),
		maxActivities:     int32(cfg.MaxActivityWorkItems),
		silence:           cfg.WorkItemStreamTimeout,
		log:               log,
		tokens:            map[string]heldToken{},
	}
	if t.maxOrchestrations <= 0 {
		t.maxOrchestrations = DefaultMaxWorkItems
	}
	if t.maxActivities <= 0 {
		t.maxActivities = DefaultMaxWorkItems
	}
	if t.silence == 0 {
		t.silence = DefaultWorkItemStreamTimeout
	}
	return t
}

func (t *workItemTracker) remember(key, token string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	if len(t.tokens) >= sweepThreshold {
		for k, h := range t.tokens {
			if now.Sub(h.at) > staleTokenAge {
				delete(t.tokens, k)
			}
		}
	}
	t.tokens[key] = heldToken{token: token, at: now}
}

func (t *workItemTracker) lookup(key string) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	h, ok := t.tokens[key]
	return h.token, ok
}

// forget drops the token for key unless a newer delivery of the same work
// item has replaced it meanwhile.
func (t *workItemTracker) forget(key, token string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if h, ok := t.tokens[key]; ok && h.token == token {
		delete(t.tokens, key)
	}
}

// unary writes the remembered completion token into CompleteOrchestratorTask
// and CompleteActivityTask requests.
func (t *workItemTracker) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	var (
		field protowire.Number
		keyOf func(m proto.Message) string
	)
	switch method {
	case dtsproto.MethodCompleteOrchestratorTask:
		field = dtsproto.FieldOrchestratorResponseCompletionToken
		keyOf = func(m proto.Message) string { return dtsproto.OrchestratorResponseKey(m.ProtoReflect()) }
	case dtsproto.MethodCompleteActivityTask:
		field = dtsproto.FieldActivityResponseCompletionToken
		keyOf = func(m proto.Message) string { return dtsproto.ActivityResponseKey(m.ProtoReflect()) }
	default:
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	msg, ok := req.(proto.Message)
	if !ok {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	key := keyOf(msg)
	token, ok := t.lookup(key)
	if !ok {
		// A scheduler that issues no tokens (durabletask-go's own sidecar)
		// needs none back.
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	dtsproto.SetString(msg.ProtoReflect(), field, token)
	err := invoker(ctx, method, req, reply, cc, opts...)
	t.forget(key, token)
	return err
}

// stream wraps the GetWorkItems stream.
func (t *workItemTracker) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if method != dtsproto.MethodGetWorkItems {
		return streamer(ctx, desc, cc, method, opts...)
	}
	// The stream gets its own context so that the silence watchdog can
	// break it without touching the caller's context: a worker
	// reconnects on a stream error only while its own context is alive.
	sctx, cancel := context.WithCancel(ctx)
	cs, err := streamer(sctx, desc, cc, method, opts...)
	if err != nil {
		cancel()
		return nil, err
	}
	return &workItemStream{ClientStream: cs, t: t, parent: ctx, cancel: cancel}, nil
}

// workItemStream is the worker's view of one GetWorkItems stream.
type workItemStream struct {
	grpc.ClientStream
	t      *workItemTracker
	parent context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	watchdog *time.Timer // nil until the first health ping
	ended    bool
	silenced atomic.Bool
}

// SendMsg adds the work item limits to the GetWorkItemsRequest. v0.6.0's
// request type has no such fields, so they go out as unknown fields; the
// caller's message is cloned rather than changed.
func (s *workItemStream) SendMsg(m any) error {
	if msg, ok := m.(proto.Message); ok {
		msg = proto.Clone(msg)
		r := msg.ProtoReflect()
		dtsproto.SetInt32(r, dtsproto.FieldMaxConcurrentOrchestrationWorkItems, s.t.maxOrchestrations)
		dtsproto.SetInt32(r, dtsproto.FieldMaxConcurrentActivityWorkItems, s.t.maxActivities)
		m = msg
	}
	return s.ClientStream.SendMsg(m)
}

// RecvMsg hands the caller the next real work item. Health pings only feed
// the watchdog: v0.6.0 would log each one as an unknown work item type.
func (s *workItemStream) RecvMsg(m any) error {
	for {
		err := s.ClientStream.RecvMsg(m)
		if err != nil {
			s.end()
			if s.silenced.Load() && s.parent.Err() == nil {
				return status.Errorf(codes.Unavailable, "work item stream was silent for %s; reconnecting", s.t.silence)
			}
			return err
		}
		s.kick()
		msg, ok := m.(proto.Message)
		if !ok {
			return nil
		}
		r := msg.ProtoReflect()
		key := dtsproto.WorkItemKey(r)
		if key == "" && dtsproto.HasMessage(r, dtsproto.FieldWorkItemHealthPing) {
			s.arm()
			proto.Reset(msg)
			continue
		}
		if key != "" {
			if tok, ok := dtsproto.String(r, dtsproto.FieldWorkItemCompletionToken); ok {
				s.t.remember(key, tok)
			}
		}
		return nil
	}
}

// arm starts the silence watchdog. It waits for the first health ping
// because a scheduler that never pings (durabletask-go's own sidecar) would
// otherwise have its idle streams broken, and with them any long-running
// work item it is waiting on.
func (s *workItemStream) arm() {
	if s.t.silence <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watchdog == nil && !s.ended {
		s.watchdog = time.AfterFunc(s.t.silence, s.fire)
	}
}

func (s *workItemStream) kick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watchdog != nil && !s.ended {
		s.watchdog.Reset(s.t.silence)
	}
}

func (s *workItemStream) fire() {
	s.mu.Lock()
	ended := s.ended
	s.mu.Unlock()
	if ended || s.parent.Err() != nil {
		return
	}
	s.silenced.Store(true)
	s.t.log.Warn("work item stream silent; breaking it so the worker reconnects", "timeout", s.t.silence)
	s.cancel()
}

func (s *workItemStream) end() {
	s.mu.Lock()
	s.ended = true
	if s.watchdog != nil {
		s.watchdog.Stop()
	}
	s.mu.Unlock()
	s.cancel()
}
