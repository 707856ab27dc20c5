// Command dev runs the whole application in one process: the embedded
// scheduler, the worker and the HTTP API. It is the quickest way to try the
// approval workflow and needs neither Docker nor Azure.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/approvals-go/approvals/approvaldash"
	"github.com/approvals-go/approvals/config"
	"github.com/approvals-go/approvals/customhandler"
	"github.com/approvals-go/approvals/dts"
	"github.com/approvals-go/approvals/internal/exposure"
	"github.com/approvals-go/approvals/internal/logging"
	"github.com/approvals-go/approvals/scheduler"
	"github.com/approvals-go/approvals/scheduler/dashboard"
	"github.com/approvals-go/approvals/worker"
)

func main() {
	httpAddr := flag.String("http", "127.0.0.1:7071", "address of the HTTP API, which has no authentication; beyond loopback it needs -"+exposure.AllowFlag)
	grpcAddr := flag.String("grpc", "127.0.0.1:8080", "address of the embedded scheduler's gRPC endpoint, which has no TLS or token; beyond loopback it needs -"+exposure.AllowFlag)
	data := flag.String("data", ".data", "directory for the scheduler's SQLite files; empty keeps state in memory")
	level := flag.String("log-level", "info", "debug, info, warn or error")
	dashAddr := flag.String("dashboard", "127.0.0.1:8082", "address of the scheduler's dashboard and the emulator's JSON API, which have no authentication; empty turns them off; beyond loopback it needs -"+exposure.AllowFlag)
	retention := flag.Duration("retention", 0, "purge orchestrations this long after they complete, fail or are terminated (0 keeps them)")
	maxBacklog := flag.Int("max-backlog", scheduler.DefaultMaxBacklog, "refuse new approvals (503, nothing started) while this many orchestration work items and activities wait for the worker; decisions are never refused; 0 turns the bound off")
	allowRemote := flag.Bool(exposure.AllowFlag, false, "let -http, -grpc and -dashboard listen beyond loopback, although none has authentication: anyone who reaches them can start and decide any approval and terminate or purge any orchestration")
	flag.Parse()
	dashExplicit := false
	flag.Visit(func(f *flag.Flag) { dashExplicit = dashExplicit || f.Name == "dashboard" })
	if *maxBacklog <= 0 {
		*maxBacklog = -1 // no bound, in scheduler.Options' terms
	}
	if err := run(*httpAddr, *grpcAddr, *dashAddr, dashExplicit, *data, *level, *allowRemote, *retention, *maxBacklog); err != nil {
		fmt.Fprintln(os.Stderr, "dev:", err)
		os.Exit(1)
	}
}

func run(httpAddr, grpcAddr, dashAddr string, dashExplicit bool, data, level string, allowRemote bool, retention time.Duration, maxBacklog int) error {
	log := logging.New(os.Stderr, level)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Notifications, link keys and identity come from the environment as
	// for the separate binaries; where the parts find each other is ours.
	workerCfg, err := config.Load[config.Worker]()
	if err != nil {
		return err
	}
	handlerCfg, err := config.Load[config.Handler]()
	if err != nil {
		return err
	}

	grpcLis, err := net.Listen("tcp", grpcAddr)
	if err != nil {
		return fmt.Errorf("scheduler: %w (is another copy running? use -grpc to pick another address)", err)
	}
	httpLis, err := net.Listen("tcp", httpAddr)
	if err != nil {
		grpcLis.Close()
		return fmt.Errorf("HTTP API: %w (is another copy running? use -http to pick another address)", err)
	}
	listeners := []exposure.Listener{
		{Name: "the HTTP API", Flag: "-http", Addr: httpLis.Addr(), Grants: exposure.HTTPAPIGrants},
		{Name: "the scheduler's gRPC", Flag: "-grpc", Addr: grpcLis.Addr(), Grants: exposure.SchedulerGrants},
	}
	var dashLis net.Listener
	dashURL := "off (-dashboard is empty)"
	if dashAddr != "" {
		if dashLis, err = net.Listen("tcp", dashAddr); err != nil {
			if dashExplicit {
				httpLis.Close()
				grpcLis.Close()
				return fmt.Errorf("dashboard: %w (is another copy or the emulator running? use -dashboard to pick another address)", err)
			}
			// The default address is taken, by the emulator or another
			// copy: everything else still runs.
			dashURL = "off: " + dashAddr + " is in use (pick another address with -dashboard)"
		} else {
			defer dashLis.Close()
			listeners = append(listeners, exposure.Listener{Name: "the dashboard", Flag: "-dashboard", Addr: dashLis.Addr(), Grants: exposure.SchedulerGrants})
		}
	}
	warning, err := exposure.Check(allowRemote, listeners...)
	if err != nil {
		httpLis.Close()
		grpcLis.Close()
		return err
	}
	if warning != "" {
		log.Warn(warning)
	}
	sched, err := scheduler.New(ctx, scheduler.Options{DataDir: data, Logger: log.With("component", "scheduler"), Retention: retention, MaxBacklog: maxBacklog})
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := sched.Close(closeCtx); err != nil {
			log.Error("closing scheduler", "err", err)
		}
	}()
	errc := make(chan error, 4)
	go func() { errc <- sched.Serve(grpcLis) }()
	if dashLis != nil {
		dash, err := dashboard.New(dashboard.Options{Hubs: dashboard.Embedded(sched), App: approvaldash.App{}, Logger: log.With("component", "dashboard")})
		if err != nil {
			return err
		}
		dashURL = "http://" + dashLis.Addr().String()
		go func() { errc <- serveHTTP(ctx, dashLis, dash) }()
	}

	apiBase := "http://" + httpLis.Addr().String()
	schedulerSettings := dts.Settings{Endpoint: "http://" + grpcLis.Addr().String(), TaskHub: dts.DefaultTaskHub}
	workerCfg.APIBaseURL, workerCfg.Scheduler, handlerCfg.Scheduler = apiBase, schedulerSettings, schedulerSettings
	go func() {
		errc <- worker.Run(ctx, workerCfg, log.With("component", "worker"))
	}()
	go func() {
		errc <- customhandler.Serve(ctx, httpLis, handlerCfg, log.With("component", "handler"))
	}()

	banner(apiBase, grpcLis.Addr().String(), dashURL, data)
	select {
	case <-ctx.Done():
		fmt.Fprintln(os.Stderr, "stopping...")
		return nil
	case err := <-errc:
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			err = errors.New("a component stopped unexpectedly")
		}
		return err
	}
}

func banner(apiBase, grpcAddr, dashURL, data string) {
	state := "in memory (lost when this process stops)"
	if data != "" {
		if abs, err := filepath.Abs(filepath.Join(data, scheduler.DatabaseFile)); err == nil {
			state = abs
		}
	}
	fmt.Printf(`
Approvals dev server is running. Press Ctrl-C to stop.

  HTTP API    %[1]s/api/approvals
  scheduler   %[2]s (task hub "default"; point ENDPOINT=http://%[2]s at it)
  dashboard   %[4]s
  state       %[3]s

Try it:

  curl -i -X POST %[1]s/api/approvals -H 'Content-Type: application/json' \
       -d '{"requester":"ana","item":"Laptop, 1200 EUR","timeout":"10m"}'
  curl -i %[1]s/api/approvals/<id>
  curl -i -X POST %[1]s/api/approvals/<id>/decision -d approved=true -d approver=bob

or run the console client:  go run ./cmd/client -url %[1]s

`, apiBase, grpcAddr, state, dashURL)
}

// serveHTTP serves h on lis until ctx ends.
func serveHTTP(ctx context.Context, lis net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("dashboard: %w", err)
	}
	return nil
}
