// Package bench measures the embedded scheduler against durabletask-go's own
// SQLite backend with the same approval workload and the same worker code,
// each scheduler in a process of its own so that its memory and CPU can be
// read from /proc.
package bench

import (
	"context"
	"expvar"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime"

	"github.com/microsoft/durabletask-go/backend"
	"github.com/microsoft/durabletask-go/backend/sqlite"
	"google.golang.org/grpc"

	"github.com/approvals-go/approvals/dts"
	"github.com/approvals-go/approvals/scheduler"
)

// Backends that can be served.
const (
	Ours    = "ours"
	Vanilla = "vanilla"
)

// Serve runs one scheduler until ctx ends. It prints one line, "LISTENING
// <grpc addr> <debug addr>", once both listeners are up; the debug address
// serves expvar with the process's goroutine count and heap size, and a
// CPU profile at /debug/pprof/profile.
func Serve(ctx context.Context, kind, dataDir string, out io.Writer) error {
	// Warnings and errors go to stderr: a benchmark that hits a problem
	// should say so rather than just report odd numbers.
	quiet := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	debug, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	expvar.Publish("goroutines", expvar.Func(func() any { return runtime.NumGoroutine() }))
	mux := http.NewServeMux()
	mux.Handle("/", expvar.Handler())
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	go http.Serve(debug, mux)

	var stop func()
	switch kind {
	case Ours:
		srv, err := scheduler.New(ctx, scheduler.Options{DataDir: dataDir, Logger: quiet})
		if err != nil {
			return err
		}
		go srv.Serve(lis)
		stop = func() { srv.Close(context.Background()) }
	case Vanilla:
		// The same wiring as durabletask-go's own sidecar (its main.go).
		logger := dts.Logger(quiet)
		gs := grpc.NewServer()
		be := sqlite.NewSqliteBackend(sqlite.NewSqliteOptions(filepath.Join(dataDir, "vanilla.db")), logger)
		executor, register := backend.NewGrpcExecutor(be, logger)
		register(gs)
		w := backend.NewTaskHubWorker(be, backend.NewOrchestrationWorker(be, executor, logger), backend.NewActivityTaskWorker(be, executor, logger), logger)
		if err := w.Start(ctx); err != nil {
			return err
		}
		go gs.Serve(lis)
		stop = gs.Stop
	default:
		return fmt.Errorf("unknown backend %q: want %s or %s", kind, Ours, Vanilla)
	}
	fmt.Fprintf(out, "LISTENING %s %s\n", lis.Addr(), debug.Addr())
	<-ctx.Done()
	stop()
	return nil
}

// dirSize is the bytes of the files in dir, the SQLite database and its
// write-ahead log.
func dirSize(dir string) int64 {
	var total int64
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if info, err := e.Info(); err == nil && !e.IsDir() && filepath.Ext(e.Name()) != ".db-shm" {
			total += info.Size()
		}
	}
	return total
}
