// Package customhandler runs the HTTP API as an Azure Functions custom handler:
// one scheduler connection per process, reused by every request.
package customhandler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/approvals-go/approvals/config"
	"github.com/approvals-go/approvals/dts"
	"github.com/approvals-go/approvals/httpapi"
	"github.com/approvals-go/approvals/internal/delegations"
	"github.com/approvals-go/approvals/internal/wire"
)

// Run listens on the configured port of the loopback interface, where the
// Functions host forwards requests, and serves until ctx ends.
func Run(ctx context.Context, cfg config.Handler, log *slog.Logger) error {
	lis, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen for the Functions host: %w", err)
	}
	return Serve(ctx, lis, cfg, log)
}

// Route is a handler served beside the API, at Path and below it, such as
// cmd/dev's outbox.
type Route struct {
	Path    string
	Handler http.Handler
}

// Serve serves the API, and any extra routes, on lis until ctx ends, then
// drains requests in flight for up to ten seconds.
func Serve(ctx context.Context, lis net.Listener, cfg config.Handler, log *slog.Logger, extra ...Route) error {
	// Serve owns lis from here: this closes it when start-up fails; once
	// serving, the HTTP server has closed it already by the time we return.
	defer lis.Close()
	if err := cfg.Validate(); err != nil {
		return err
	}
	links, err := wire.LinkSigner(cfg.Links)
	if err != nil {
		return err
	}
	sealer, err := wire.AuditSigner(cfg.Audit)
	if err != nil {
		return err
	}
	callbacks, err := wire.CallbackClient(cfg.CallbackAllow)
	if err != nil {
		return err
	}
	groups, err := wire.Groups(cfg.GroupsFile)
	if err != nil {
		return err
	}
	sched, err := dts.Settings(cfg.Scheduler).Resolve()
	if err != nil {
		return err
	}
	sched.Logger = log
	conn, err := dts.Dial(ctx, sched, dts.RoleClient)
	if err != nil {
		return err
	}
	defer conn.Close()
	api := httpapi.New(httpapi.NewScheduler(conn, dts.Logger(log)),
		httpapi.Options{PublicBaseURL: cfg.PublicBaseURL, TrustForwarded: cfg.TrustForwarded, Hosts: []string{cfg.SiteHostname},
			DecisionWait: cfg.DecisionWait, Identity: cfg.Identity, Links: links, Logger: log,
			CheckCallback: callbacks.CheckURL, Groups: groups, Audit: sealer,
			Delegations: delegations.New(conn, dts.Logger(log)),
			// App Service sets WEBSITE_HOSTNAME: the Functions host, which
			// checks the machine routes' function keys, is in front.
			FunctionKeys: cfg.SiteHostname != ""})
	handler := api
	if len(extra) > 0 {
		mux := http.NewServeMux()
		mux.Handle("/", api)
		for _, r := range extra {
			mux.Handle(r.Path, r.Handler)
		}
		handler = mux
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	log.Info("handler listening", "addr", "http://"+lis.Addr().String(), "scheduler", sched.Address, "taskhub", sched.TaskHub)

	errc := make(chan error, 2)
	go func() { errc <- fmt.Errorf("serve HTTP: %w", srv.Serve(lis)) }()
	// Checked beside serving, so the host's readiness probe is answered at
	// once. A scheduler that refuses us for good (wrong task hub) is a
	// configuration error worth stopping for; one that is not up yet is
	// not, since requests will retry it; one that refuses our identity is
	// retried for cfg.AccessWait after start, as role assignments take
	// minutes to apply after a first deployment.
	go func() {
		start := dts.Startup{Config: sched, AccessWait: cfg.AccessWait, Logger: log}
		err := start.Wait(ctx, func(ctx context.Context) error {
			checkCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
			defer cancel()
			return dts.Check(checkCtx, conn)
		})
		switch {
		case err == nil || ctx.Err() != nil:
		case dts.AccessDenied(err):
			errc <- fmt.Errorf("%w; the handler's identity needs the Durable Task Data Contributor role on the task hub", err)
		default:
			errc <- fmt.Errorf("scheduler %s refused the handler for task hub %q: %w", sched.Address, sched.TaskHub, err)
		}
	}()
	select {
	case err := <-errc:
		srv.Close()
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("stop HTTP server: %w", err)
	}
	log.Info("handler stopped")
	return nil
}
