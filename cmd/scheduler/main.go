// Command scheduler is the embedded Durable Task Scheduler as a stand-alone
// server: a drop-in for the Docker emulator on port 8080, with its state in
// a SQLite file.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/approvals-go/approvals/internal/logging"
	"github.com/approvals-go/approvals/scheduler"
)

func main() {
	addr := flag.String("grpc", "127.0.0.1:8080", "address to serve gRPC on")
	data := flag.String("data", ".data", "directory for the SQLite file; empty keeps state in memory")
	sync := flag.String("sync", "full", "SQLite synchronous level: full or normal")
	hubs := flag.String("taskhubs", envOr("DTS_TASK_HUB_NAMES", "default"), "comma-separated task hub names to serve (env DTS_TASK_HUB_NAMES)")
	level := flag.String("log-level", envOr("APPROVALS_LOG_LEVEL", "info"), "debug, info, warn or error")
	flag.Parse()
	log := logging.New(os.Stderr, *level)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scheduler:", err)
		os.Exit(1)
	}
	srv, err := scheduler.New(ctx, scheduler.Options{DataDir: *data, Synchronous: *sync, TaskHubs: splitList(*hubs), Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "scheduler:", err)
		os.Exit(1)
	}
	log.Info("scheduler listening", "addr", lis.Addr().String(), "data", storage(*data), "taskhubs", *hubs)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	select {
	case err := <-served:
		log.Error("scheduler stopped", "err", err)
		os.Exit(1)
	case <-ctx.Done():
	}
	closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Close(closeCtx); err != nil {
		log.Error("scheduler close", "err", err)
		os.Exit(1)
	}
	log.Info("scheduler stopped")
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func storage(dir string) string {
	if dir == "" {
		return "memory"
	}
	return dir
}
