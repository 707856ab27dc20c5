// Command scheduler is the embedded Durable Task Scheduler as a stand-alone
// server: a drop-in for the Docker emulator on port 8080, with each task
// hub's state in a SQLite file.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/approvals-go/approvals/approvaldash"
	"github.com/approvals-go/approvals/config"
	"github.com/approvals-go/approvals/internal/exposure"
	"github.com/approvals-go/approvals/internal/logging"
	"github.com/approvals-go/approvals/scheduler"
	"github.com/approvals-go/approvals/scheduler/dashboard"
	"github.com/approvals-go/approvals/scheduler/guard"
)

func main() {
	settings, err := config.Load[guard.Settings]()
	if err != nil {
		fail(err)
	}
	addr := flag.String("grpc", "127.0.0.1:8080", "address to serve gRPC on; beyond loopback it needs -tls-cert, -tls-key and env "+guard.EnvToken+", or -"+exposure.AllowFlag)
	data := flag.String("data", ".data", "directory for the SQLite files, one per task hub; empty keeps state in memory")
	sync := flag.String("sync", "full", "SQLite synchronous level: full or normal")
	flag.StringVar(&settings.TaskHubNames, "taskhubs", settings.TaskHubNames, "comma-separated task hubs to serve (env "+guard.EnvTaskHubNames+")")
	certFile := flag.String("tls-cert", "", "PEM certificate: serve TLS (needed when a bearer token is set in env "+guard.EnvToken+")")
	keyFile := flag.String("tls-key", "", "PEM private key for -tls-cert")
	level := flag.String("log-level", envOr("APPROVALS_LOG_LEVEL", "info"), "debug, info, warn or error")
	dashAddr := flag.String("dashboard", "127.0.0.1:8082", "address to serve the dashboard and the emulator's JSON API on, with the same TLS and token as gRPC; empty turns them off")
	dashHosts := flag.String("dashboard-hosts", "", "comma-separated host names browsers reach the dashboard under, such as its TLS certificate's; requests for any other name but localhost and IP addresses are refused, so that a web page cannot reach the dashboard by DNS rebinding")
	retention := flag.Duration("retention", 0, "purge instances this long after they complete, fail or are terminated, in small batches (0 keeps them; the Azure service's default is 720h)")
	maxBacklog := flag.Int("max-backlog", scheduler.DefaultMaxBacklog, "refuse clients' new starts (RESOURCE_EXHAUSTED, nothing started) while this many orchestration work items and activities of a task hub wait for workers; events and the rest are never refused; 0 turns the bound off")
	allowRemote := flag.Bool(exposure.AllowFlag, false, "serve a -grpc address beyond loopback without TLS and a bearer token, letting anyone who reaches it "+exposure.SchedulerGrants)
	flag.Parse()
	log := logging.New(os.Stderr, *level)

	guardOpts, err := settings.Options()
	if err != nil {
		fail(err)
	}
	var serverOpts []grpc.ServerOption
	var tlsConfig *tls.Config
	if *certFile != "" || *keyFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			fail(fmt.Errorf("load -tls-cert and -tls-key: %w", err))
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		serverOpts = append(serverOpts, grpc.Creds(credentials.NewTLS(tlsConfig.Clone())))
	} else if guardOpts.Token != "" {
		fail(fmt.Errorf("%s is set but TLS is not: a bearer token over plaintext would be readable on the network; give -tls-cert and -tls-key", guard.EnvToken))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		fail(err)
	}
	secure := "give -tls-cert, -tls-key and " + guard.EnvToken
	if len(serverOpts) > 0 {
		secure = "set " + guard.EnvToken
	}
	listeners := []exposure.Listener{{Name: "gRPC", Flag: "-grpc", Addr: lis.Addr(),
		TLS: len(serverOpts) > 0, Token: guardOpts.Token != "", Grants: exposure.SchedulerGrants, Secure: secure}}
	var dashLis net.Listener
	if *dashAddr != "" {
		if dashLis, err = net.Listen("tcp", *dashAddr); err != nil && flagSet("dashboard") {
			fail(fmt.Errorf("dashboard: %w (use -dashboard to pick another address, or -dashboard '' to turn it off)", err))
		}
	}
	if dashLis == nil && *dashAddr != "" {
		// The default address is taken, by the emulator or another
		// scheduler: the scheduler still serves, as it did before it had a
		// dashboard.
		log.Warn("dashboard not served: its default address is in use; pick one with -dashboard", "addr", *dashAddr)
	} else if dashLis != nil {
		listeners = append(listeners, exposure.Listener{Name: "the dashboard", Flag: "-dashboard", Addr: dashLis.Addr(),
			TLS: tlsConfig != nil, Token: guardOpts.Token != "", Grants: exposure.SchedulerGrants, Secure: secure})
	}
	warning, err := exposure.Check(*allowRemote, listeners...)
	if err != nil {
		fail(err)
	}
	if warning != "" {
		log.Warn(warning)
	}
	if *maxBacklog <= 0 {
		*maxBacklog = -1 // no bound, in scheduler.Options' terms
	}
	srv, err := scheduler.New(ctx, scheduler.Options{DataDir: *data, Synchronous: *sync, Guard: guardOpts, Logger: log, ServerOptions: serverOpts, Retention: *retention, MaxBacklog: *maxBacklog})
	if err != nil {
		fail(err)
	}
	log.Info("scheduler listening", "addr", lis.Addr().String(), "tls", len(serverOpts) > 0,
		"data", storage(*data), "taskhubs", guardOpts.TaskHubs, "bearer_token_required", guardOpts.Token != "", "retention", retentionText(*retention),
		"max_backlog", max(*maxBacklog, 0))
	served := make(chan error, 2)
	go func() { served <- srv.Serve(lis) }()
	var dashSrv *http.Server
	if dashLis != nil {
		dash, err := dashboard.New(dashboard.Options{Hubs: dashboard.Embedded(srv), App: approvaldash.App{}, Token: guardOpts.Token,
			TLS: tlsConfig != nil, Hosts: strings.Split(*dashHosts, ","), Logger: log.With("component", "dashboard")})
		if err != nil {
			fail(err)
		}
		dashSrv = &http.Server{Handler: dash, TLSConfig: tlsConfig, ReadHeaderTimeout: 10 * time.Second}
		go func() { served <- serveDashboard(dashSrv, dashLis) }()
		scheme := "http"
		if tlsConfig != nil {
			scheme = "https"
		}
		log.Info("dashboard listening", "url", scheme+"://"+dashLis.Addr().String(), "token_required", guardOpts.Token != "")
	}
	select {
	case err := <-served:
		log.Error("scheduler stopped", "err", err)
		os.Exit(1)
	case <-ctx.Done():
	}
	closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if dashSrv != nil {
		dashSrv.Shutdown(closeCtx)
	}
	if err := srv.Close(closeCtx); err != nil {
		log.Error("scheduler close", "err", err)
		os.Exit(1)
	}
	log.Info("scheduler stopped")
}

// serveDashboard serves until Shutdown, over TLS when the server has a
// TLS configuration.
func serveDashboard(srv *http.Server, lis net.Listener) error {
	var err error
	if srv.TLSConfig != nil {
		err = srv.ServeTLS(lis, "", "")
	} else {
		err = srv.Serve(lis)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("dashboard: %w", err)
}

// flagSet reports whether the command line set the flag.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "scheduler:", err)
	os.Exit(1)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func retentionText(d time.Duration) string {
	if d == 0 {
		return "off"
	}
	return d.String()
}

func storage(dir string) string {
	if dir == "" {
		return "memory"
	}
	return dir
}
