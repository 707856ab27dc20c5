package schedserve

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/approvals-go/approvals/scheduler"
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
	for range 2 {
		select {
		case err := <-srv.Stopped():
			if err != nil {
				t.Errorf("serving ended with %v after Close", err)
			}
		case <-ctx.Done():
			t.Fatal("gRPC and the dashboard did not both stop")
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
