// Package scheduler is the embedded Durable Task Scheduler: a gRPC server
// speaking the protocol of the Azure service and its Docker emulator, with
// each task hub's state in a SQLite file, so the whole application runs and
// is tested on one machine.
package scheduler

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/approvals-go/approvals/dts"
	"github.com/approvals-go/approvals/dts/mgmt"
	"github.com/approvals-go/approvals/scheduler/guard"
)

// DatabaseFile is the name of the default task hub's SQLite file inside
// the data directory; other hubs get files of their own (see HubFile).
const DatabaseFile = "scheduler.db"

// Options configures a Server.
type Options struct {
	// DataDir holds the SQLite files; empty means in memory.
	DataDir string
	// Guard makes the server as strict as the Azure service: it checks the
	// task hub (and an optional bearer token) on every call, gives each work
	// item a completion token that its completion must echo, and pings
	// worker streams. Its TaskHubs are the hubs served, each with a store
	// of its own; none means just "default".
	Guard guard.Options
	// Synchronous is SQLite's synchronous level, "full" (default) or
	// "normal".
	Synchronous string
	// Parallelism bounds the orchestration work items of each hub handed
	// to connected workers at once. Zero means 64.
	Parallelism int
	// ActivityParallelism bounds the activities of each hub handed to
	// workers at once. Zero means 1024: activities spend their time waiting
	// on the outside world (a mail server, a webhook that hangs), and each
	// one handed out holds a slot here until its worker completes it, so a
	// bound as low as the orchestrations' would let one slow receiver's
	// notices hold up the activities that decide approvals. Workers bound
	// what they run at once themselves.
	ActivityParallelism int
	Logger              *slog.Logger
	// ServerOptions are added to the gRPC server's. When
	// internal/schedserve serves TLS, it decrypts connections before gRPC
	// sees them, so these must then hold no gRPC credentials.
	ServerOptions []grpc.ServerOption
	// Retention, when positive, purges instances that completed, failed
	// or were terminated longer ago than that, a small batch at a time.
	// Zero keeps them until they are purged by a client.
	Retention time.Duration
	// MaxBacklog bounds each hub's backlog, the orchestration work and
	// activities waiting for a worker: while it is at that bound, clients'
	// starts are refused with RESOURCE_EXHAUSTED and nothing is started.
	// Events, terminations and the rest are never refused. Zero means
	// DefaultMaxBacklog; a negative value turns the bound off.
	MaxBacklog int
}

// Server is a running embedded scheduler.
type Server struct {
	hubs   []*hub
	grpc   *grpc.Server
	stop   chan any
	log    *slog.Logger
	unlock func()

	closeOnce sync.Once
}

// hub is one task hub: its own store, dispatchers and gRPC executor, so
// that hubs share nothing but the port, as in the emulator.
type hub struct {
	name        string
	store       *Store
	dispatchers []backend.TaskWorker
	// cancel stops the dispatch loops, and loops ends when they have.
	cancel context.CancelFunc
	loops  sync.WaitGroup
	// service is durabletask-go's implementation of the gRPC service for
	// this hub's executor.
	service any
}

// HubFile is the SQLite file of a task hub inside the data directory.
// Hub names match case-insensitively, so the file name is lower-case; a
// name with characters unsafe in file names is hex-encoded, under a prefix
// no plain name can produce.
func HubFile(name string) string {
	name = strings.ToLower(name)
	if name == guard.DefaultTaskHub {
		return DatabaseFile
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return "scheduler-x." + hex.EncodeToString([]byte(name)) + ".db"
		}
	}
	return "scheduler-" + name + ".db"
}

// hubNames checks the task hubs to serve: none means "default", and two
// names that differ only in case are one hub.
func hubNames(names []string) ([]string, error) {
	if len(names) == 0 {
		return []string{guard.DefaultTaskHub}, nil
	}
	seen := map[string]string{}
	for _, n := range names {
		if prev, ok := seen[HubFile(n)]; ok {
			return nil, fmt.Errorf("task hubs %q and %q are the same hub (names match regardless of case)", prev, n)
		}
		seen[HubFile(n)] = n
	}
	return names, nil
}

// New opens a store for every task hub and prepares the gRPC service. Call
// Serve to accept connections and Close to stop.
func New(ctx context.Context, opts Options) (*Server, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if opts.Synchronous == "" {
		opts.Synchronous = "full"
	}
	if opts.Parallelism <= 0 {
		opts.Parallelism = 64
	}
	if opts.ActivityParallelism <= 0 {
		opts.ActivityParallelism = 1024
	}
	if opts.Retention < 0 {
		return nil, fmt.Errorf("retention %s is negative", opts.Retention)
	}
	switch {
	case opts.MaxBacklog == 0:
		opts.MaxBacklog = DefaultMaxBacklog
	case opts.MaxBacklog < 0:
		opts.MaxBacklog = 0
	}
	hubs, err := hubNames(opts.Guard.TaskHubs)
	if err != nil {
		return nil, err
	}
	opts.Guard.TaskHubs = hubs
	if opts.Guard.Logger == nil {
		opts.Guard.Logger = log
	}
	s := &Server{stop: make(chan any), log: log, unlock: func() {}}
	if opts.DataDir != "" {
		if err := os.MkdirAll(opts.DataDir, 0o750); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
		unlock, err := lockDataDir(opts.DataDir)
		if err != nil {
			return nil, err
		}
		s.unlock = unlock
	}
	// durabletask-go is chatty at Info about every stream and work item;
	// its messages are kept at Debug unless they are warnings or errors.
	dtLog := quietLogger{dts.Logger(log.With("source", "durabletask-go"))}
	par := backend.WithMaxParallelism(int32(opts.Parallelism))
	var desc *grpc.ServiceDesc
	for _, name := range hubs {
		path := ""
		if opts.DataDir != "" {
			path = filepath.Join(opts.DataDir, HubFile(name))
		}
		store, err := OpenStore(path, opts.Synchronous, log.With("taskhub", name))
		if err != nil {
			s.closeHubs(context.Background())
			s.unlock()
			return nil, fmt.Errorf("task hub %q: %w", name, err)
		}
		store.maxBacklog = opts.MaxBacklog
		executor, register := backend.NewGrpcExecutor(store, dtLog, backend.WithStreamShutdownChannel(s.stop))
		var c capture
		register(&c)
		desc = c.desc
		h := &hub{name: name, store: store, service: c.impl, dispatchers: []backend.TaskWorker{
			backend.NewOrchestrationWorker(store, newerExecutor{executor, store}, dtLog, par),
			backend.NewActivityTaskWorker(store, executor, dtLog, backend.WithMaxParallelism(int32(opts.ActivityParallelism))),
		}}
		s.hubs = append(s.hubs, h)
		h.start(ctx, log, opts.Retention)
	}

	// The guard's interceptors run first: a call for another task hub or
	// without the token never reaches a store.
	serverOpts := append(guard.New(opts.Guard).ServerOptions(), grpc.ChainUnaryInterceptor(mapErrors))
	s.grpc = grpc.NewServer(append(serverOpts, opts.ServerOptions...)...)
	s.grpc.RegisterService(s.routed(desc), s.hubs[0].service)
	return s, nil
}

// capture records the service durabletask-go registers, so that the server
// can route each call to the executor of its task hub.
type capture struct {
	desc *grpc.ServiceDesc
	impl any
}

func (c *capture) RegisterService(desc *grpc.ServiceDesc, impl any) { c.desc, c.impl = desc, impl }

// routed returns desc with every handler dispatching to the implementation
// of the call's task hub, and with the management calls served by the
// hub's store (see hubService) instead of durabletask-go's executor, which
// answers most of them Unimplemented or by polling.
func (s *Server) routed(desc *grpc.ServiceDesc) *grpc.ServiceDesc {
	out := *desc
	methods, streams := mgmt.Methods(func(ctx context.Context) mgmt.Service { return hubService{s.hubFor(ctx).store} })
	ours := map[string]bool{}
	for _, m := range methods {
		ours[m.MethodName] = true
	}
	for _, sd := range streams {
		ours[sd.StreamName] = true
	}
	out.Methods = methods
	for _, m := range desc.Methods {
		if ours[m.MethodName] {
			continue
		}
		handler := m.Handler
		if m.MethodName == "StartInstance" {
			handler = withStartTags(handler)
		}
		out.Methods = append(out.Methods, grpc.MethodDesc{MethodName: m.MethodName,
			Handler: func(_ any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
				return handler(s.hubFor(ctx).service, ctx, dec, ic)
			}})
	}
	out.Streams = streams
	for _, sd := range desc.Streams {
		if ours[sd.StreamName] {
			continue
		}
		handler := sd.Handler
		sd.Handler = func(_ any, stream grpc.ServerStream) error {
			h := s.hubFor(stream.Context())
			if sd.StreamName == "GetWorkItems" {
				return h.store.serveWorkItems(stream, func(stream grpc.ServerStream) error { return handler(h.service, stream) })
			}
			return handler(h.service, stream)
		}
		out.Streams = append(out.Streams, sd)
	}
	return &out
}

// hubFor picks the task hub a call names. A unary handler runs before the
// interceptors, so the hub is read from the metadata as the guard reads
// it; a call naming no served hub gets the first hub, and the guard
// refuses it before it gets there.
func (s *Server) hubFor(ctx context.Context) *hub {
	name := guard.TaskHub(ctx)
	if name == "" {
		if md, ok := metadata.FromIncomingContext(ctx); ok {
			if v := md.Get("taskhub"); len(v) > 0 {
				name = strings.TrimSpace(v[0])
			}
		}
	}
	for _, h := range s.hubs {
		if strings.EqualFold(h.name, name) {
			return h
		}
	}
	return s.hubs[0]
}

// Reader returns the reader of a task hub's store (names match regardless
// of case), or nil when the server has no such hub. Reads through it never
// hold up the scheduler's writes.
func (s *Server) Reader(taskHub string) *Reader {
	for _, h := range s.hubs {
		if strings.EqualFold(h.name, taskHub) {
			return h.store.Reader()
		}
	}
	return nil
}

// TaskHubs returns the names of the hubs the server serves.
func (s *Server) TaskHubs() []string {
	names := make([]string, len(s.hubs))
	for i, h := range s.hubs {
		names[i] = h.name
	}
	return names
}

// hubService serves the management calls of one hub: reads come from the
// store's reader, writes go through the store.
type hubService struct{ store *Store }

func (h hubService) Instance(ctx context.Context, id api.InstanceID, payloads bool) (*mgmt.Instance, error) {
	return h.store.reader.Instance(ctx, id, payloads)
}

func (h hubService) WaitForInstance(ctx context.Context, id api.InstanceID, payloads bool, done func(api.OrchestrationStatus) bool) (*mgmt.Instance, error) {
	return h.store.WaitForInstance(ctx, id, payloads, done)
}

func (h hubService) QueryInstances(ctx context.Context, q mgmt.Query) (mgmt.Page, error) {
	return h.store.reader.QueryInstances(ctx, q)
}

func (h hubService) ListInstanceIDs(ctx context.Context, q mgmt.IDQuery) (mgmt.IDPage, error) {
	return h.store.reader.ListInstanceIDs(ctx, q)
}

func (h hubService) History(ctx context.Context, id api.InstanceID, executionID string) ([]*backend.HistoryEvent, error) {
	return h.store.reader.History(ctx, id, executionID)
}

func (h hubService) Purge(ctx context.Context, r mgmt.PurgeRequest) (int, error) {
	return h.store.Purge(ctx, r)
}

func (h hubService) Restart(ctx context.Context, id api.InstanceID, newInstanceID bool) (api.InstanceID, error) {
	return h.store.Restart(ctx, id, newInstanceID)
}

func (h hubService) Rewind(ctx context.Context, id api.InstanceID, reason string) error {
	return h.store.Rewind(ctx, id, reason)
}

func (h hubService) SignalEntity(ctx context.Context, m *mgmt.EntityMessage) error {
	return h.store.SignalEntity(ctx, m)
}

func (h hubService) Entity(ctx context.Context, id string, withState bool) (*mgmt.Entity, error) {
	return h.store.reader.Entity(ctx, id, withState)
}

func (h hubService) QueryEntities(ctx context.Context, q mgmt.EntityQuery) (mgmt.EntityPage, error) {
	return h.store.reader.QueryEntities(ctx, q)
}

func (h hubService) CleanEntityStorage(ctx context.Context, r mgmt.CleanEntities) (mgmt.CleanedEntities, error) {
	return h.store.CleanEntityStorage(ctx, r)
}

func (h hubService) CompleteEntityTask(ctx context.Context, r mgmt.EntityBatchResult) error {
	return h.store.CompleteEntityTask(ctx, r)
}

func (h hubService) AbandonEntityTask(ctx context.Context, token string) error {
	return h.store.AbandonEntityTask(ctx, token)
}

// Serve accepts connections on lis until Close.
func (s *Server) Serve(lis net.Listener) error {
	err := s.grpc.Serve(lis)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// Close ends the worker streams, lets in-flight work finish or return to the
// queue, and closes the databases. Close may be called more than once;
// later calls do nothing.
func (s *Server) Close(ctx context.Context) error {
	var err error
	s.closeOnce.Do(func() {
		close(s.stop)
		done := make(chan struct{})
		go func() {
			s.grpc.GracefulStop()
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			s.grpc.Stop()
		}
		err = s.closeHubs(ctx)
		s.unlock()
	})
	return err
}

// start runs a loop per dispatcher that hands work items to it as the
// store releases them, and the retention sweep when keep is positive. The
// loops are ours rather than durabletask-go's (TaskHubWorker.Start): its
// loop polls with backoff, which the blocking store makes pointless, and
// its shutdown races the loop's bookkeeping.
func (h *hub) start(ctx context.Context, log *slog.Logger, keep time.Duration) {
	ctx, h.cancel = context.WithCancel(ctx)
	if keep > 0 {
		h.loops.Add(1)
		go func() {
			defer h.loops.Done()
			h.retain(ctx, keep, log)
		}()
	}
	for _, d := range h.dispatchers {
		h.loops.Add(1)
		go func() {
			defer h.loops.Done()
			for ctx.Err() == nil {
				if _, err := d.ProcessNext(ctx); err != nil && ctx.Err() == nil {
					log.Error("fetching work failed; retrying in a second", "taskhub", h.name, "err", err)
					select {
					case <-ctx.Done():
					case <-time.After(time.Second):
					}
				}
			}
		}()
	}
}

// stop ends the dispatch loops and the retention sweep, then waits for
// work items in flight.
func (h *hub) stop() {
	h.cancel()
	h.loops.Wait()
	for _, d := range h.dispatchers {
		d.StopAndDrain()
	}
}

// closeHubs stops every hub's dispatchers and closes its store.
func (s *Server) closeHubs(ctx context.Context) error {
	var errs []error
	for _, h := range s.hubs {
		// Work items in flight end when their worker streams close; ctx
		// bounds the wait all the same. Work left in flight is not lost: it
		// was never acknowledged and is offered again after a restart.
		stopped := make(chan struct{})
		go func() { h.stop(); close(stopped) }()
		select {
		case <-stopped:
		case <-ctx.Done():
			s.log.Warn("dispatchers did not stop in time; closing the store anyway", "taskhub", h.name)
		}
		if err := h.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("task hub %q: %w", h.name, err))
		}
	}
	return errors.Join(errs...)
}

// mapErrors turns the store's sentinel errors into the gRPC status codes the
// service uses, so clients can tell "not found" from a failure.
func mapErrors(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	switch {
	case err == nil:
	case errors.Is(err, api.ErrInstanceNotFound):
		err = status.Error(codes.NotFound, err.Error())
	case errors.Is(err, api.ErrDuplicateInstance):
		err = status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, api.ErrNotCompleted):
		err = status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, ErrBacklogFull):
		err = status.Error(codes.ResourceExhausted, err.Error())
	}
	return resp, err
}

// quietLogger lowers durabletask-go's per-work-item Info messages to Debug.
type quietLogger struct{ backend.Logger }

func (q quietLogger) Info(v ...any)                 { q.Debug(v...) }
func (q quietLogger) Infof(format string, v ...any) { q.Debugf(format, v...) }
