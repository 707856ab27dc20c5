// Package schedserve starts and stops the embedded scheduler with its
// dashboard: the start-up cmd/scheduler is, and that cmd/dev runs beside
// the worker and the HTTP API.
//
// The scheduler's port serves gRPC and, as the service does at its
// endpoint, the task hub JSON API under /v1/taskhubs/ (the dashboard's
// /api/v1/taskhubs/ handlers), over HTTP/1.1 and HTTP/2; internal/portmux
// routes each connection to one or the other.
//
// The commands open the listeners themselves, since they check them for
// exposure together with their other listeners and word their refusals for
// their own flags; this package serves on them.
package schedserve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/approvals-go/approvals/internal/portmux"
	"github.com/approvals-go/approvals/scheduler"
	"github.com/approvals-go/approvals/scheduler/dashboard"
)

// ListenDashboard opens the dashboard's address. Empty addr turns the
// dashboard off: nil, nil. An address in use is an error when the command
// line named it (explicit), and otherwise turns the dashboard off as well,
// so that a scheduler whose default dashboard address is taken, by the
// emulator or another copy, still serves; the caller says so.
func ListenDashboard(addr string, explicit bool) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil && !explicit {
		return nil, nil
	}
	return lis, err
}

// Options are what Start serves.
type Options struct {
	// Scheduler configures the scheduler. Its Guard's token guards the
	// dashboard too, and its Logger receives the scheduler's messages.
	Scheduler scheduler.Options
	// GRPC is where the scheduler serves gRPC, and the task hub JSON API
	// under /v1/taskhubs/.
	GRPC net.Listener
	// Dashboard, when not nil, is where the dashboard and the emulator's
	// JSON API are served.
	Dashboard net.Listener
	// TLS, when set, serves the dashboard over TLS, and the GRPC listener
	// too (with ALPN h2 and http/1.1), so Scheduler.ServerOptions must then
	// not hold gRPC credentials of their own.
	TLS *tls.Config
	// Hosts are the host names browsers reach the dashboard under (see
	// dashboard.Options).
	Hosts []string
	// App is what the dashboard shows of the application's orchestrations
	// (see dashboard.App); nil shows them as any orchestration.
	App dashboard.App
	// Logger receives the dashboard's messages, as component "dashboard".
	Logger *slog.Logger
}

// Server is a scheduler serving gRPC, with its dashboard when it has one.
type Server struct {
	// Scheduler is the scheduler itself.
	Scheduler *scheduler.Server
	mux       *portmux.Mux
	// rest serves the JSON API at the scheduler's port.
	rest    *http.Server
	dash    *http.Server
	dashURL string
	errc    chan error
}

// Start creates the scheduler and serves gRPC, the JSON API at the
// scheduler's port and the dashboard in the background until Close.
func Start(ctx context.Context, opts Options) (*Server, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	sched, err := scheduler.New(ctx, opts.Scheduler)
	if err != nil {
		return nil, err
	}
	dash, err := dashboard.New(dashboard.Options{Hubs: dashboard.Embedded(sched), Token: opts.Scheduler.Guard.Token, TLS: opts.TLS != nil,
		Hosts: opts.Hosts, App: opts.App, Logger: log.With("component", "dashboard")})
	if err != nil {
		if opts.Dashboard != nil {
			opts.Dashboard.Close()
		}
		closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		sched.Close(closeCtx)
		return nil, err
	}
	s := &Server{Scheduler: sched, errc: make(chan error, 4)}
	grpcLis := opts.GRPC
	if opts.TLS != nil {
		cfg := opts.TLS.Clone()
		cfg.NextProtos = []string{"h2", "http/1.1"}
		grpcLis = tls.NewListener(grpcLis, cfg)
	}
	s.mux = portmux.New(grpcLis)
	s.rest = newHTTPServer(dash.ServiceAPI(), nil)
	// Over TLS, the mux hands on connections already decrypted, so the
	// server reads HTTP/2 from them as it would unencrypted.
	s.rest.Protocols = new(http.Protocols)
	s.rest.Protocols.SetHTTP1(true)
	s.rest.Protocols.SetUnencryptedHTTP2(true)
	go func() { s.errc <- sched.Serve(s.mux.GRPC()) }()
	go func() { s.errc <- serveHTTP("the JSON API at the scheduler's port", s.rest, s.mux.HTTP()) }()
	go func() { s.errc <- s.mux.Serve() }()
	if opts.Dashboard == nil {
		return s, nil
	}
	s.dash = newHTTPServer(dash, opts.TLS)
	s.dashURL = "http://" + opts.Dashboard.Addr().String()
	if opts.TLS != nil {
		s.dashURL = "https://" + opts.Dashboard.Addr().String()
	}
	go func() { s.errc <- serveHTTP("dashboard", s.dash, opts.Dashboard) }()
	return s, nil
}

func newHTTPServer(h http.Handler, tlsConfig *tls.Config) *http.Server {
	return &http.Server{Handler: h, TLSConfig: tlsConfig, ReadHeaderTimeout: 10 * time.Second}
}

// DashboardURL is where the dashboard is served, or "" without one.
func (s *Server) DashboardURL() string { return s.dashURL }

// Stopped delivers what gRPC, the JSON API at the scheduler's port or the
// dashboard stopped serving with, which before Close is always a failure
// (nil included).
func (s *Server) Stopped() <-chan error { return s.errc }

// Close stops accepting connections, stops the dashboard and the JSON API,
// draining their requests while ctx lasts, then the scheduler, and returns
// the scheduler's error.
func (s *Server) Close(ctx context.Context) error {
	s.mux.Close()
	for _, srv := range []*http.Server{s.dash, s.rest} {
		if srv == nil {
			continue
		}
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
	}
	return s.Scheduler.Close(ctx)
}

// serveHTTP serves until Shutdown, over TLS when the server has a TLS
// configuration.
func serveHTTP(what string, srv *http.Server, lis net.Listener) error {
	var err error
	if srv.TLSConfig != nil {
		err = srv.ServeTLS(lis, "", "")
	} else {
		err = srv.Serve(lis)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}
