package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/microsoft/durabletask-go/backend"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/approvals-go/approvals/dts"
	"github.com/approvals-go/approvals/dts/dtsproto"
)

// Defaults of ListenerOptions.
const (
	// DefaultMaxSlowActivities bounds the slow activities running at once.
	// They spend their time waiting on a receiver (a hanging one for up to
	// four attempts of ten seconds), which costs a goroutine and a socket,
	// so the bound is high: with a receiver that hangs, the notices of a
	// burst of approvals still start at once, and the channels that work
	// deliver them at once.
	DefaultMaxSlowActivities = 256
	// DefaultShutdownGrace lets work in flight finish well inside the
	// 60 seconds Container Apps waits between SIGTERM and SIGKILL.
	DefaultShutdownGrace = 30 * time.Second
)

// completeTimeout bounds one completion call, so that a scheduler that
// stops answering cannot hold a pool's slot for ever.
const completeTimeout = time.Minute

// Reconnection back-off, as durabletask-go's own listener: from half a
// second, doubling, up to 15 seconds, for as long as the listener runs.
const (
	reconnectMin = 500 * time.Millisecond
	reconnectMax = 15 * time.Second
)

// ListenerOptions configure a Listener.
type ListenerOptions struct {
	// MaxOrchestrations and MaxActivities bound the orchestration and
	// activity work items running at once; zero means
	// dts.DefaultMaxWorkItems. They are the limits the worker's connection
	// sends the scheduler (see dts.Config).
	MaxOrchestrations int
	MaxActivities     int
	// SlowActivities names activities that wait on systems outside the
	// task hub, such as notification sends. They run in a pool of their
	// own, at most MaxSlowActivities at once (zero means
	// DefaultMaxSlowActivities), so the activities that decide approvals
	// never wait behind them.
	SlowActivities    []string
	MaxSlowActivities int
	// ShutdownGrace is how long work in flight may go on once the
	// listener's context ends; zero means DefaultShutdownGrace.
	ShutdownGrace time.Duration
	// Logger receives the listener's lines; nil means slog.Default().
	Logger *slog.Logger
}

// Listener receives work items from a scheduler and runs them with an
// executor. It replaces durabletask-go v0.6.0's StartWorkItemListener,
// which runs every work item in a goroutine of its own, unbounded, and lets
// an orchestrator's panic end the process.
//
// Orchestrations, activities and slow activities each run in a bounded pool
// of their own. The receiving loop never waits for a pool: the scheduler
// bounds the work items it hands out (the limits on the work item request),
// so those waiting for a slot are bounded too, and a full pool holds up
// only its own kind.
type Listener struct {
	conn  grpc.ClientConnInterface
	exec  backend.Executor
	log   *slog.Logger
	grace time.Duration

	orchestrations, activities, slow *pool
	slowNames                        map[string]bool

	started atomic.Bool
	done    chan struct{}

	// mu orders the start of work items before the wait for them:
	// once draining, nothing more starts.
	mu         sync.Mutex
	draining   bool
	inflight   sync.WaitGroup
	unfinished atomic.Int64
}

// NewListener returns a listener that receives work items over conn and
// runs them with exec. conn is normally a dts.Dial connection with
// dts.RoleWorker, whose interceptors add the protocol fields v0.6.0 lacks.
func NewListener(conn grpc.ClientConnInterface, exec backend.Executor, opts ListenerOptions) *Listener {
	orDefault := func(v, def int) int {
		if v <= 0 {
			return def
		}
		return v
	}
	l := &Listener{
		conn:           conn,
		exec:           exec,
		log:            opts.Logger,
		grace:          opts.ShutdownGrace,
		orchestrations: newPool(orDefault(opts.MaxOrchestrations, dts.DefaultMaxWorkItems)),
		activities:     newPool(orDefault(opts.MaxActivities, dts.DefaultMaxWorkItems)),
		slow:           newPool(orDefault(opts.MaxSlowActivities, DefaultMaxSlowActivities)),
		slowNames:      map[string]bool{},
		done:           make(chan struct{}),
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	if l.grace <= 0 {
		l.grace = DefaultShutdownGrace
	}
	for _, name := range opts.SlowActivities {
		l.slowNames[name] = true
	}
	return l
}

// Start says hello to the scheduler and opens a work item stream, returning
// the error if either fails, so that the caller can tell a scheduler that
// refuses it from one not reachable yet (see dts.Startup). Once it has
// succeeded the listener serves in the background until ctx ends,
// reopening the stream with back-off whenever it breaks; then it waits up
// to the shutdown grace for the work in flight, and Done is closed.
func (l *Listener) Start(ctx context.Context) error {
	if l.started.Load() {
		return errors.New("work item listener already started")
	}
	stream, cancel, err := l.connect(ctx)
	if err != nil {
		return err
	}
	if !l.started.CompareAndSwap(false, true) {
		cancel()
		return errors.New("work item listener already started")
	}
	go l.serve(ctx, stream, cancel)
	return nil
}

// Done is closed when a started listener has stopped.
func (l *Listener) Done() <-chan struct{} { return l.done }

var workItemsStream = grpc.StreamDesc{StreamName: "GetWorkItems", ServerStreams: true}

// connect opens a work item stream; cancel ends it.
func (l *Listener) connect(ctx context.Context) (stream grpc.ClientStream, cancel context.CancelFunc, err error) {
	if err := dts.Check(ctx, l.conn); err != nil {
		return nil, nil, err
	}
	// The stream ends when the listener has drained its work, after ctx
	// has ended; see serve.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		if err != nil {
			cancel()
		}
	}()
	stream, err = l.conn.NewStream(sctx, &workItemsStream, dtsproto.MethodGetWorkItems)
	if err != nil {
		return nil, nil, fmt.Errorf("open the work item stream: %w", err)
	}
	if err := stream.SendMsg(typeGetWorkItemsRequest.New().Interface()); err != nil {
		return nil, nil, fmt.Errorf("request work items: %w", err)
	}
	if err := stream.CloseSend(); err != nil {
		return nil, nil, fmt.Errorf("request work items: %w", err)
	}
	return stream, cancel, nil
}

func (l *Listener) serve(ctx context.Context, stream grpc.ClientStream, cancel context.CancelFunc) {
	defer close(l.done)
	// Work in flight outlives ctx by the shutdown grace: an activity
	// halfway through a send should finish it, not be cut off.
	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	for {
		broken := make(chan error, 1)
		go func() { broken <- l.receive(ctx.Done(), work, stream) }()
		select {
		case <-ctx.Done():
			// The stream stays open until the work in flight has been
			// completed over it: a scheduler forgets the work items of a
			// stream that ends, and would refuse their completions.
			l.drain(stopWork)
			cancel()
			<-broken
			return
		case err := <-broken:
			cancel()
			if ctx.Err() != nil {
				l.drain(stopWork)
				return
			}
			if errors.Is(err, io.EOF) {
				l.log.Warn("the scheduler ended the work item stream; reconnecting")
			} else {
				l.log.Warn("work item stream broken; reconnecting", "err", err)
			}
		}
		if stream, cancel = l.reconnect(ctx); stream == nil {
			l.drain(stopWork)
			return
		}
	}
}

// receive hands out work items until the stream fails. Once stop is
// closed, what arrives is left to the scheduler.
func (l *Listener) receive(stop <-chan struct{}, work context.Context, stream grpc.ClientStream) error {
	for {
		wi := typeWorkItem.New()
		if err := stream.RecvMsg(wi.Interface()); err != nil {
			return err
		}
		l.dispatch(stop, work, wi)
	}
}

// reconnect opens a new stream, retrying with back-off until it succeeds
// or ctx ends (then it returns nil).
func (l *Listener) reconnect(ctx context.Context) (grpc.ClientStream, context.CancelFunc) {
	wait := reconnectMin
	for attempt := 1; ; attempt++ {
		// Half the wait plus a random part spreads out the workers that
		// lost the same scheduler at the same moment.
		t := time.NewTimer(wait/2 + rand.N(wait/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil
		case <-t.C:
		}
		stream, cancel, err := l.connect(ctx)
		if err == nil {
			l.log.Info("work item stream reconnected", "attempts", attempt)
			return stream, cancel
		}
		if ctx.Err() != nil {
			return nil, nil
		}
		l.log.Warn("work item stream not reconnected yet; retrying", "attempt", attempt, "err", err)
		wait = min(2*wait, reconnectMax)
	}
}

// dispatch starts a work item in its pool. stop closes when the listener
// stops: a work item still waiting for a slot then is left to the
// scheduler, which hands it out again.
func (l *Listener) dispatch(stop <-chan struct{}, work context.Context, wi protoreflect.Message) {
	if m := request(wi, "orchestratorRequest"); m != nil {
		req, ok := m.(orchestratorRequest)
		if !ok {
			l.log.Error("orchestration work item of an unexpected type; ignoring it", "type", fmt.Sprintf("%T", m))
			return
		}
		l.start(stop, l.orchestrations, func() { l.runOrchestration(work, req) })
		return
	}
	if m := request(wi, "activityRequest"); m != nil {
		req, ok := m.(activityRequest)
		if !ok {
			l.log.Error("activity work item of an unexpected type; ignoring it", "type", fmt.Sprintf("%T", m))
			return
		}
		p := l.activities
		if l.slowNames[req.GetName()] {
			p = l.slow
		}
		l.start(stop, p, func() { l.runActivity(work, req) })
		return
	}
	var kinds []string
	wi.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		kinds = append(kinds, string(fd.Name()))
		return true
	})
	l.log.Warn("ignoring a work item of a kind this worker does not run", "fields", kinds)
}

func (l *Listener) start(stop <-chan struct{}, p *pool, run func()) {
	l.mu.Lock()
	if l.draining {
		l.mu.Unlock()
		return
	}
	l.inflight.Add(1)
	l.mu.Unlock()
	l.unfinished.Add(1)
	go func() {
		defer l.inflight.Done()
		defer l.unfinished.Add(-1)
		if !p.acquire(stop) {
			return
		}
		defer p.release()
		// Execution recovers the panics of orchestrators and activities;
		// this is for a fault of the listener's own with one work item,
		// which must not stop the others either.
		defer func() {
			if v := recover(); v != nil {
				l.log.Error("work item abandoned after a panic in the listener", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			}
		}()
		run()
	}()
}

// complete sends a work item's result. A completion that fails leaves the
// work item with the scheduler, which hands it out again.
func (l *Listener) complete(ctx context.Context, method string, resp proto.Message, attrs ...any) {
	ctx, cancel := context.WithTimeout(ctx, completeTimeout)
	defer cancel()
	if err := l.conn.Invoke(ctx, method, resp, typeCompleteTaskResponse.New().Interface()); err != nil {
		l.log.Warn("work item not completed; the scheduler will hand it out again", append(attrs, "err", err)...)
	}
}

// drain waits up to the shutdown grace for the work items in flight, then
// cancels the context of those still running.
func (l *Listener) drain(stopWork context.CancelFunc) {
	l.mu.Lock()
	l.draining = true
	l.mu.Unlock()
	finished := make(chan struct{})
	go func() {
		l.inflight.Wait()
		close(finished)
	}()
	t := time.NewTimer(l.grace)
	defer t.Stop()
	select {
	case <-finished:
	case <-t.C:
		l.log.Warn("stopping with work items unfinished; the scheduler will hand them out again",
			"unfinished", l.unfinished.Load(), "grace", l.grace.String())
		stopWork()
	}
}
