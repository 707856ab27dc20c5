// Package scheduler is the embedded Durable Task Scheduler: a gRPC server
// speaking the protocol of the Azure service and its Docker emulator, with
// state in one SQLite file, so the whole application runs and is tested on
// one machine.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/approvals-go/approvals/dts"
	"github.com/approvals-go/approvals/scheduler/guard"
)

// DatabaseFile is the name of the SQLite file inside the data directory.
const DatabaseFile = "scheduler.db"

// Options configures a Server.
type Options struct {
	// DataDir holds the SQLite file; empty means in memory.
	DataDir string
	// Guard makes the server as strict as the Azure service: it checks the
	// task hub (and an optional bearer token) on every call, gives each work
	// item a completion token that its completion must echo, and pings
	// worker streams. The zero value serves hub "default".
	Guard guard.Options
	// Synchronous is SQLite's synchronous level, "full" (default) or
	// "normal".
	Synchronous string
	// Parallelism bounds the orchestration and activity work items handed
	// to connected workers at once. Zero means 64.
	Parallelism int
	Logger      *slog.Logger
	// ServerOptions are added to the gRPC server's, e.g. TLS credentials.
	ServerOptions []grpc.ServerOption
}

// Server is a running embedded scheduler.
type Server struct {
	store   *Store
	grpc    *grpc.Server
	workers backend.TaskHubWorker
	stop    chan any
	log     *slog.Logger

	closeOnce sync.Once
}

// New opens the store and prepares the gRPC service. Call Serve to accept
// connections and Close to stop.
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
	path := ""
	if opts.DataDir != "" {
		if err := os.MkdirAll(opts.DataDir, 0o750); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
		path = filepath.Join(opts.DataDir, DatabaseFile)
	}
	store, err := OpenStore(path, opts.Synchronous, log)
	if err != nil {
		return nil, err
	}

	// durabletask-go is chatty at Info about every stream and work item;
	// its messages are kept at Debug unless they are warnings or errors.
	dtLog := quietLogger{dts.Logger(log.With("source", "durabletask-go"))}
	stop := make(chan any)
	executor, register := backend.NewGrpcExecutor(store, dtLog, backend.WithStreamShutdownChannel(stop))
	if opts.Guard.Logger == nil {
		opts.Guard.Logger = log
	}
	// The guard's interceptors run first: a call for another task hub or
	// without the token never reaches the store.
	serverOpts := append(guard.New(opts.Guard).ServerOptions(), grpc.ChainUnaryInterceptor(mapErrors))
	gs := grpc.NewServer(append(serverOpts, opts.ServerOptions...)...)
	register(gs)

	par := backend.WithMaxParallelism(int32(opts.Parallelism))
	workers := backend.NewTaskHubWorker(store,
		backend.NewOrchestrationWorker(store, executor, dtLog, par),
		backend.NewActivityTaskWorker(store, executor, dtLog, par),
		dtLog)
	if err := workers.Start(ctx); err != nil {
		store.Close()
		return nil, fmt.Errorf("start dispatchers: %w", err)
	}
	return &Server{store: store, grpc: gs, workers: workers, stop: stop, log: log}, nil
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
// queue, and closes the database.
// Close may be called more than once; later calls do nothing.
func (s *Server) Close(ctx context.Context) error {
	var err error
	s.closeOnce.Do(func() { err = s.close(ctx) })
	return err
}

func (s *Server) close(ctx context.Context) error {
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
	// durabletask-go's Shutdown waits for its dispatchers without a limit;
	// ctx bounds how long we wait for it. Work it leaves in flight is not
	// lost: it was never acknowledged and is offered again after a restart.
	drained := make(chan error, 1)
	go func() { drained <- s.workers.Shutdown(ctx) }()
	select {
	case err := <-drained:
		if err != nil {
			s.log.Warn("stopping dispatchers", "err", err)
		}
	case <-ctx.Done():
		s.log.Warn("dispatchers did not stop in time; closing the store anyway")
	}
	return s.store.Close()
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
	}
	return resp, err
}

// quietLogger lowers durabletask-go's per-work-item Info messages to Debug.
type quietLogger struct{ backend.Logger }

func (q quietLogger) Info(v ...any)                 { q.Debug(v...) }
func (q quietLogger) Infof(format string, v ...any) { q.Debugf(format, v...) }
