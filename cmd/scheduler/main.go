// Command scheduler is the embedded Durable Task Scheduler as a stand-alone
// server: a drop-in for the Docker emulator on port 8080, with each task
// hub's state in a SQLite file.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/approvals-go/approvals/approvaldash"
	"github.com/approvals-go/approvals/config"
	"github.com/approvals-go/approvals/internal/cli"
	"github.com/approvals-go/approvals/internal/exposure"
	"github.com/approvals-go/approvals/internal/logging"
	"github.com/approvals-go/approvals/internal/schedserve"
	"github.com/approvals-go/approvals/scheduler"
	"github.com/approvals-go/approvals/scheduler/guard"
)

// settings are the command line, and the guard's settings from the
// environment that -taskhubs overrides.
type settings struct {
	Guard          guard.Settings
	GRPC           string
	Data           string
	Sync           string
	CertFile       string
	KeyFile        string
	LogLevel       string
	Dashboard      string
	DashboardSet   bool
	DashboardHosts string
	Retention      time.Duration
	MaxBacklog     int
	AllowRemote    bool
}

func main() {
	s := parseFlags()
	log := logging.New(os.Stderr, s.LogLevel)
	ctx, stop := cli.Context()
	defer stop()
	srv, err := start(ctx, s, log)
	if err != nil {
		cli.Fail("scheduler", 1, err)
	}
	select {
	case err := <-srv.Stopped():
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

// parseFlags reads the command line, then the environment, so that -h
// answers whatever the environment holds.
func parseFlags() settings {
	var s settings
	var taskHubs string
	flag.StringVar(&s.GRPC, "grpc", "127.0.0.1:8080", "address to serve gRPC and the task hub JSON API (/v1/taskhubs/...) on; beyond loopback it needs -tls-cert, -tls-key and env "+guard.EnvToken+", or -"+exposure.AllowFlag)
	flag.StringVar(&s.Data, "data", ".data", "directory for the SQLite files, one per task hub; empty keeps state in memory")
	flag.StringVar(&s.Sync, "sync", "full", "SQLite synchronous level: full or normal")
	flag.StringVar(&taskHubs, "taskhubs", "", "comma-separated task hubs to serve (default: env "+guard.EnvTaskHubNames+")")
	flag.StringVar(&s.CertFile, "tls-cert", "", "PEM certificate: serve TLS (needed when a bearer token is set in env "+guard.EnvToken+")")
	flag.StringVar(&s.KeyFile, "tls-key", "", "PEM private key for -tls-cert")
	flag.StringVar(&s.LogLevel, "log-level", cli.EnvOr("APPROVALS_LOG_LEVEL", "info"), "debug, info, warn or error (env APPROVALS_LOG_LEVEL)")
	flag.StringVar(&s.Dashboard, "dashboard", "127.0.0.1:8082", "address to serve the dashboard and the emulator's JSON API on, with the same TLS and token as gRPC; empty turns them off")
	flag.StringVar(&s.DashboardHosts, "dashboard-hosts", "", "comma-separated host names browsers and tools reach the dashboard and the JSON API under, such as its TLS certificate's; requests for any other name but localhost and IP addresses are refused, so that a web page cannot reach them by DNS rebinding")
	flag.DurationVar(&s.Retention, "retention", 0, "purge instances this long after they complete, fail or are terminated, in small batches (0 keeps them; the Azure service's default is 720h)")
	flag.IntVar(&s.MaxBacklog, "max-backlog", scheduler.DefaultMaxBacklog, "refuse clients' new starts (RESOURCE_EXHAUSTED, nothing started) while this many orchestration work items and activities of a task hub wait for workers; events and the rest are never refused; 0 turns the bound off")
	flag.BoolVar(&s.AllowRemote, exposure.AllowFlag, false, "serve a -grpc address beyond loopback without TLS and a bearer token, letting anyone who reaches it "+exposure.SchedulerGrants)
	cli.Parse("Usage: scheduler [flags]\n\nServes the embedded Durable Task Scheduler: gRPC for the SDKs and the task hub\nJSON API on -grpc, the dashboard on -dashboard, until it is stopped (SIGINT or\nSIGTERM).",
		config.Usage[guard.Settings])
	var err error
	if s.Guard, err = config.Load[guard.Settings](); err != nil {
		cli.Fail("scheduler", 2, err)
	}
	if flagSet("taskhubs") {
		s.Guard.TaskHubNames = taskHubs
	}
	s.DashboardSet = flagSet("dashboard")
	if s.MaxBacklog <= 0 {
		s.MaxBacklog = -1 // no bound, in scheduler.Options' terms
	}
	return s
}

// start checks the settings and the listeners' exposure, and serves.
func start(ctx context.Context, s settings, log *slog.Logger) (*schedserve.Server, error) {
	guardOpts, err := s.Guard.Options()
	if err != nil {
		return nil, err
	}
	var tlsConfig *tls.Config
	if s.CertFile != "" || s.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load -tls-cert and -tls-key: %w", err)
		}
		// schedserve serves both ports over TLS with it.
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	} else if guardOpts.Token != "" {
		return nil, fmt.Errorf("%s is set but TLS is not: a bearer token over plaintext would be readable on the network; give -tls-cert and -tls-key", guard.EnvToken)
	}

	lis, err := net.Listen("tcp", s.GRPC)
	if err != nil {
		return nil, err
	}
	secure := "give -tls-cert, -tls-key and " + guard.EnvToken
	if tlsConfig != nil {
		secure = "set " + guard.EnvToken
	}
	listeners := []exposure.Listener{{Name: "gRPC", Flag: "-grpc", Addr: lis.Addr(),
		TLS: tlsConfig != nil, Token: guardOpts.Token != "", Grants: exposure.SchedulerGrants, Secure: secure}}
	dashLis, err := schedserve.ListenDashboard(s.Dashboard, s.DashboardSet)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w (use -dashboard to pick another address, or -dashboard '' to turn it off)", err)
	}
	if dashLis != nil {
		listeners = append(listeners, exposure.Listener{Name: "the dashboard", Flag: "-dashboard", Addr: dashLis.Addr(),
			TLS: tlsConfig != nil, Token: guardOpts.Token != "", Grants: exposure.SchedulerGrants, Secure: secure})
	} else if s.Dashboard != "" {
		// The default address is taken, by the emulator or another
		// scheduler: the scheduler still serves, as it did before it had a
		// dashboard.
		log.Warn("dashboard not served: its default address is in use; pick one with -dashboard", "addr", s.Dashboard)
	}
	warning, err := exposure.Check(s.AllowRemote, listeners...)
	if err != nil {
		return nil, err
	}
	if warning != "" {
		log.Warn(warning)
	}
	srv, err := schedserve.Start(ctx, schedserve.Options{
		Scheduler: scheduler.Options{DataDir: s.Data, Synchronous: s.Sync, Guard: guardOpts, Logger: log,
			Retention: s.Retention, MaxBacklog: s.MaxBacklog},
		GRPC: lis, Dashboard: dashLis, TLS: tlsConfig, Hosts: strings.Split(s.DashboardHosts, ","), App: approvaldash.App{}, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	log.Info("scheduler listening", "addr", lis.Addr().String(), "tls", tlsConfig != nil,
		"data", storage(s.Data), "taskhubs", guardOpts.TaskHubs, "bearer_token_required", guardOpts.Token != "", "retention", retentionText(s.Retention),
		"max_backlog", max(s.MaxBacklog, 0), "json_api", "/v1/taskhubs/ on the same address")
	if url := srv.DashboardURL(); url != "" {
		log.Info("dashboard listening", "url", url, "token_required", guardOpts.Token != "")
	}
	return srv, nil
}

// flagSet reports whether the command line set the flag.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
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
