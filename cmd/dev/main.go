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
	"os"
	"path/filepath"
	"time"

	"github.com/approvals-go/approvals/approvaldash"
	"github.com/approvals-go/approvals/config"
	"github.com/approvals-go/approvals/customhandler"
	"github.com/approvals-go/approvals/dts"
	"github.com/approvals-go/approvals/internal/cli"
	"github.com/approvals-go/approvals/internal/exposure"
	"github.com/approvals-go/approvals/internal/logging"
	"github.com/approvals-go/approvals/internal/outbox"
	"github.com/approvals-go/approvals/internal/schedserve"
	"github.com/approvals-go/approvals/notify"
	"github.com/approvals-go/approvals/scheduler"
	"github.com/approvals-go/approvals/worker"
)

// settings are the command line.
type settings struct {
	HTTP, GRPC string
	// Dashboard is the dashboard's address, empty for none. DashboardSet
	// says the command line gave it: in use, it is then an error rather
	// than a dashboard turned off.
	Dashboard    string
	DashboardSet bool
	Data         string
	LogLevel     string
	// Retention and MaxBacklog are scheduler.Options'.
	Retention   time.Duration
	MaxBacklog  int
	AllowRemote bool
	// Groups is the groups file, in place of APPROVALS_GROUPS_FILE.
	Groups string
}

func main() {
	var s settings
	flag.StringVar(&s.HTTP, "http", "127.0.0.1:7071", "address of the HTTP API, which has no authentication; beyond loopback it needs -"+exposure.AllowFlag)
	flag.StringVar(&s.GRPC, "grpc", "127.0.0.1:8080", "address of the embedded scheduler's gRPC endpoint and its task hub JSON API (/v1/taskhubs/...), which have no TLS or token; beyond loopback it needs -"+exposure.AllowFlag)
	flag.StringVar(&s.Data, "data", ".data", "directory for the scheduler's SQLite files; empty keeps state in memory")
	flag.StringVar(&s.LogLevel, "log-level", "info", "debug, info, warn or error")
	flag.StringVar(&s.Dashboard, "dashboard", "127.0.0.1:8082", "address of the scheduler's dashboard and the emulator's JSON API, which have no authentication; empty turns them off; beyond loopback it needs -"+exposure.AllowFlag)
	flag.DurationVar(&s.Retention, "retention", 0, "purge orchestrations this long after they complete, fail or are terminated (0 keeps them)")
	flag.IntVar(&s.MaxBacklog, "max-backlog", scheduler.DefaultMaxBacklog, "refuse new approvals (503, nothing started) while this many orchestration work items and activities wait for the worker; decisions are never refused; 0 turns the bound off")
	flag.StringVar(&s.Groups, "groups", "", "JSON file of approver groups and their members' names (cmd/dev/groups.sample.json is one), in place of APPROVALS_GROUPS_FILE")
	flag.BoolVar(&s.AllowRemote, exposure.AllowFlag, false, "let -http, -grpc and -dashboard listen beyond loopback, although none has authentication: anyone who reaches them can start and decide any approval and terminate or purge any orchestration")
	cli.Parse("Usage: dev [flags]\n\nRuns the whole application in one process, the embedded scheduler, the worker\nand the HTTP API, until it is stopped (SIGINT or SIGTERM). Notifications, link\nkeys and people's identity come from the environment as for cmd/worker and\ncmd/handler (see their -h); where the parts find each other is set by the flags.")
	flag.Visit(func(f *flag.Flag) { s.DashboardSet = s.DashboardSet || f.Name == "dashboard" })
	if s.MaxBacklog <= 0 {
		s.MaxBacklog = -1 // no bound, in scheduler.Options' terms
	}
	if err := run(s); err != nil {
		cli.Fail("dev", 1, err)
	}
}

func run(s settings) error {
	log := logging.New(os.Stderr, s.LogLevel)
	ctx, stop := cli.Context()
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
	// Trails are sealed whether or not a key is given, so that the audit
	// routes work here as they do deployed.
	if handlerCfg.Audit.AuditKey == "" {
		if handlerCfg.Audit.AuditKey, err = devAuditKey(s.Data); err != nil {
			return err
		}
		workerCfg.Audit = handlerCfg.Audit
	}
	auditPublic, err := auditPublicKey(handlerCfg.Audit.AuditKey)
	if err != nil {
		return err
	}

	grpcLis, err := net.Listen("tcp", s.GRPC)
	if err != nil {
		return fmt.Errorf("scheduler: %w (is another copy running? use -grpc to pick another address)", err)
	}
	httpLis, err := net.Listen("tcp", s.HTTP)
	if err != nil {
		grpcLis.Close()
		return fmt.Errorf("HTTP API: %w (is another copy running? use -http to pick another address)", err)
	}
	listeners := []exposure.Listener{
		{Name: "the HTTP API", Flag: "-http", Addr: httpLis.Addr(), Grants: exposure.HTTPAPIGrants},
		{Name: "the scheduler's gRPC", Flag: "-grpc", Addr: grpcLis.Addr(), Grants: exposure.SchedulerGrants},
	}
	dashLis, err := schedserve.ListenDashboard(s.Dashboard, s.DashboardSet)
	if err != nil {
		httpLis.Close()
		grpcLis.Close()
		return fmt.Errorf("dashboard: %w (is another copy or the emulator running? use -dashboard to pick another address)", err)
	}
	dashURL := "off (-dashboard is empty)"
	if dashLis != nil {
		defer dashLis.Close()
		listeners = append(listeners, exposure.Listener{Name: "the dashboard", Flag: "-dashboard", Addr: dashLis.Addr(), Grants: exposure.SchedulerGrants})
	} else if s.Dashboard != "" {
		// The default address is taken, by the emulator or another
		// copy: everything else still runs.
		dashURL = "off: " + s.Dashboard + " is in use (pick another address with -dashboard)"
	}
	warning, err := exposure.Check(s.AllowRemote, listeners...)
	if err != nil {
		httpLis.Close()
		grpcLis.Close()
		return err
	}
	if warning != "" {
		log.Warn(warning)
	}
	sched, err := schedserve.Start(ctx, schedserve.Options{
		Scheduler: scheduler.Options{DataDir: s.Data, Logger: log.With("component", "scheduler"), Retention: s.Retention, MaxBacklog: s.MaxBacklog},
		GRPC:      grpcLis, Dashboard: dashLis, App: approvaldash.App{}, Logger: log,
	})
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
	if dashLis != nil {
		dashURL = sched.DashboardURL()
	}

	apiBase := "http://" + httpLis.Addr().String()
	schedulerSettings := config.Scheduler{Endpoint: "http://" + grpcLis.Addr().String(), TaskHub: dts.DefaultTaskHub}
	workerCfg.APIBaseURL, workerCfg.Scheduler, handlerCfg.Scheduler = apiBase, schedulerSettings, schedulerSettings
	if s.Groups != "" {
		handlerCfg.GroupsFile, workerCfg.GroupsFile = s.Groups, s.Groups
	}
	// Every notice the worker sends, signed links included, kept for a
	// person to open at /dev/outbox as an approver would.
	box := &outbox.Outbox{}
	errc := make(chan error, 2)
	go func() {
		errc <- worker.Run(ctx, workerCfg, log.With("component", "worker"), notify.Channel{Name: "outbox", Notifier: box})
	}()
	go func() {
		errc <- customhandler.Serve(ctx, httpLis, handlerCfg, log.With("component", "handler"), customhandler.Route{Path: outbox.Path, Handler: box})
	}()

	banner(apiBase, grpcLis.Addr().String(), dashURL, s.Data, auditPublic)
	var failed error
	select {
	case <-ctx.Done():
		fmt.Fprintln(os.Stderr, "stopping...")
		return nil
	case failed = <-errc:
	case failed = <-sched.Stopped():
	}
	if ctx.Err() != nil {
		return nil
	}
	if failed == nil {
		failed = errors.New("a component stopped unexpectedly")
	}
	return failed
}

func banner(apiBase, grpcAddr, dashURL, data, auditPublic string) {
	state := "in memory (lost when this process stops)"
	if data != "" {
		if abs, err := filepath.Abs(filepath.Join(data, scheduler.DatabaseFile)); err == nil {
			state = abs
		}
	}
	fmt.Printf(`
Approvals dev server is running. Press Ctrl-C to stop.

  HTTP API    %[1]s/api/approvals
  outbox      %[1]s/dev/outbox (every notice sent, signed links included)
  scheduler   %[2]s (task hub "default"; point ENDPOINT=http://%[2]s at it)
  dashboard   %[4]s
  state       %[3]s
  audit       %[1]s/api/audit?from=<RFC 3339 time>, sealed with the key whose public key is
              %[5]s (check with: go run ./cmd/audit verify -key %[5]s FILE)

Try it:

  curl -i -X POST %[1]s/api/approvals -H 'Content-Type: application/json' \
       -d '{"requester":"ana","item":"Laptop, 1200 EUR","timeout":"10m"}'
  curl -i %[1]s/api/approvals/<id>
  curl -i -X POST %[1]s/api/approvals/<id>/decision -d approved=true -d approver=bob

or run the console client:  go run ./cmd/client -url %[1]s

`, apiBase, grpcAddr, state, dashURL, auditPublic)
}
