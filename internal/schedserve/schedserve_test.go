package schedserve

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/client"

	"github.com/approvals-go/approvals/dts"
	"github.com/approvals-go/approvals/dts/dtstest"
	"github.com/approvals-go/approvals/internal/testenv"
	"github.com/approvals-go/approvals/scheduler"
	"github.com/approvals-go/approvals/scheduler/guard"
)

func TestListenDashboard(t *testing.T) {
	if lis, err := ListenDashboard("", true); lis != nil || err != nil {
		t.Errorf("empty address: %v, %v; want the dashboard off", lis, err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	if lis, err := ListenDashboard(taken.Addr().String(), false); lis != nil || err != nil {
		t.Errorf("default address in use: %v, %v; want the dashboard off", lis, err)
	}
	if _, err := ListenDashboard(taken.Addr().String(), true); err == nil {
		t.Error("an address the command line named is in use, and no error")
	}
	lis, err := ListenDashboard("127.0.0.1:0", true)
	if err != nil || lis == nil {
		t.Fatalf("free address: %v, %v", lis, err)
	}
	lis.Close()
}

func TestStartServesAndCloses(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	grpcLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dashLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Start(context.Background(), Options{Scheduler: scheduler.Options{Logger: quiet}, GRPC: grpcLis, Dashboard: dashLis, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if want := "http://" + dashLis.Addr().String(); srv.DashboardURL() != want {
		t.Errorf("dashboard URL %q, want %q", srv.DashboardURL(), want)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.DashboardURL()+"/api/v1/taskhubs/ping", nil)
	req.Header.Set("X-Taskhub", "default")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("dashboard ping: %d", resp.StatusCode)
	}
	if conn, err := net.Dial("tcp", grpcLis.Addr().String()); err != nil {
		t.Errorf("gRPC not served: %v", err)
	} else {
		conn.Close()
	}
	select {
	case err := <-srv.Stopped():
		t.Fatalf("stopped while running: %v", err)
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for range 4 { // gRPC, the mux, the JSON API at its port, the dashboard
		select {
		case err := <-srv.Stopped():
			if err != nil {
				t.Errorf("serving ended with %v after Close", err)
			}
		case <-ctx.Done():
			t.Fatal("gRPC, the mux, the JSON API and the dashboard did not all stop")
		}
	}

	// Without a dashboard there is no URL.
	grpcLis, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err = Start(context.Background(), Options{Scheduler: scheduler.Options{Logger: quiet}, GRPC: grpcLis})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	if srv.DashboardURL() != "" {
		t.Errorf("dashboard URL %q without a dashboard", srv.DashboardURL())
	}
}

// start serves a scheduler with no dashboard, as the given options say,
// and returns its port's address.
func start(t testing.TB, opts Options) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts.GRPC = lis
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
		opts.Scheduler.Logger = opts.Logger
	}
	srv, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return lis.Addr().String()
}

// rest calls the JSON API with client and decodes its answer into out.
func rest(t *testing.T, c *http.Client, method, url, hub, body string, out any) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if hub != "" {
		req.Header.Set("x-taskhub", hub)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
	}
	return resp
}

// TestServiceRoutesAtTheSchedulerPort: the JSON API answers at
// /v1/taskhubs/ on the scheduler's own port, over HTTP/1.1 and HTTP/2 with
// prior knowledge, as the service does for tools given its endpoint, while
// gRPC clients on the same port go on working.
func TestServiceRoutesAtTheSchedulerPort(t *testing.T) {
	addr := start(t, Options{})
	ctx := context.Background()
	conn, err := dts.Dial(ctx, dts.Config{Address: addr, TaskHub: "default"}, dts.RoleClient)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tc := client.NewTaskHubGrpcClient(conn, dts.Logger(slog.New(slog.DiscardHandler)))
	id, err := tc.ScheduleNewOrchestration(ctx, "approval", api.WithInstanceID("rest-1"))
	if err != nil {
		t.Fatalf("gRPC start on the shared port: %v", err)
	}

	h2 := &http.Transport{Protocols: new(http.Protocols)}
	h2.Protocols.SetUnencryptedHTTP2(true)
	clients := map[string]*http.Client{"HTTP/1.1": {Timeout: 10 * time.Second}, "HTTP/2.0": {Transport: h2, Timeout: 10 * time.Second}}
	base := "http://" + addr + "/v1/taskhubs/"
	for proto, c := range clients {
		var q struct {
			Orchestrations []struct{ InstanceID, OrchestrationStatus string }
			TotalCount     int
		}
		resp := rest(t, c, "POST", base+"orchestrations/query", "default", `{"filter":{},"pagination":{"startIndex":0,"count":100}}`, &q)
		if resp.StatusCode != http.StatusOK || resp.Proto != proto || q.TotalCount != 1 || q.Orchestrations[0].InstanceID != string(id) ||
			q.Orchestrations[0].OrchestrationStatus != "ORCHESTRATION_STATUS_PENDING" {
			t.Errorf("%s query: %d %s %+v", proto, resp.StatusCode, resp.Proto, q)
		}
		var in struct{ InstanceID, Name string }
		if resp := rest(t, c, "GET", base+"orchestrations/rest-1", "", "", &in); resp.StatusCode != http.StatusOK || in.InstanceID != "rest-1" || in.Name != "approval" {
			t.Errorf("%s instance, default task hub: %d %+v", proto, resp.StatusCode, in)
		}
		// The task hub header means what it means at the dashboard's
		// /api/v1/taskhubs/: a hub not served is 404.
		if resp := rest(t, c, "GET", base+"ping", "other", "", nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s ping for a task hub not served: %d, want 404", proto, resp.StatusCode)
		}
		// Only the API: the dashboard's pages and its /api/ prefix are not
		// served on this port.
		for _, path := range []string{"/", "/api/v1/taskhubs/ping", "/hubs/default/"} {
			if resp := rest(t, c, "GET", "http://"+addr+path, "", "", nil); resp.StatusCode != http.StatusNotFound {
				t.Errorf("%s GET %s: %d, want 404", proto, path, resp.StatusCode)
			}
		}
	}
	if err := tc.TerminateOrchestration(ctx, id); err != nil {
		t.Fatalf("gRPC after the REST calls: %v", err)
	}
}

// TestServiceRoutesOverTLS: with TLS and a token, the port serves gRPC and
// the JSON API over TLS, and the API asks for the token as gRPC does.
func TestServiceRoutesOverTLS(t *testing.T) {
	cfg, roots := dtstest.SelfSigned(t)
	const token = "s3cret-token-for-the-test"
	addr := start(t, Options{Scheduler: scheduler.Options{Guard: guard.Options{Token: token}}, TLS: cfg})
	ctx := context.Background()
	conn, err := dts.Dial(ctx, dts.Config{Address: addr, TLS: true, RootCAs: roots, Token: token, TaskHub: "default"}, dts.RoleClient)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tc := client.NewTaskHubGrpcClient(conn, dts.Logger(slog.New(slog.DiscardHandler)))
	if _, err := tc.ScheduleNewOrchestration(ctx, "approval", api.WithInstanceID("tls-1")); err != nil {
		t.Fatalf("gRPC over TLS: %v", err)
	}
	for _, h2 := range []bool{false, true} {
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: h2}}
		url := "https://" + addr + "/v1/taskhubs/orchestrations/tls-1"
		if resp := rest(t, c, "GET", url, "", "", nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("HTTP/2 %v: without the token %d, want 401", h2, resp.StatusCode)
		}
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || (resp.ProtoMajor == 2) != h2 {
			t.Errorf("HTTP/2 %v: with the token %d over %s, want 200", h2, resp.StatusCode, resp.Proto)
		}
	}
}

// BenchmarkStartInstance measures gRPC StartInstance calls, 64 in flight,
// on an in-memory scheduler served on its port directly by gRPC
// ("direct", as before the JSON API shared the port) and as Start serves it,
// each connection routed by internal/portmux ("shared").
func BenchmarkStartInstance(b *testing.B) {
	quiet := slog.New(slog.DiscardHandler)
	opts := scheduler.Options{Logger: quiet, MaxBacklog: -1}
	for _, how := range []string{"direct", "shared"} {
		b.Run(how, func(b *testing.B) {
			var addr string
			if how == "shared" {
				addr = start(b, Options{Scheduler: opts, Logger: quiet})
			} else {
				_, addr = testenv.ServeScheduler(b, context.Background(), opts)
			}
			conn, err := dts.Dial(context.Background(), dts.Config{Address: addr, TaskHub: "default", Logger: quiet}, dts.RoleClient)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			tc := client.NewTaskHubGrpcClient(conn, dts.Logger(quiet))
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := tc.ScheduleNewOrchestration(context.Background(), "approval"); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
