package scheduler_test

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/approvals-go/approvals/dts/dtstest"
	"github.com/approvals-go/approvals/scheduler"
	"github.com/approvals-go/approvals/scheduler/guard"
	"github.com/approvals-go/approvals/scheduler/guard/guardtest"
)

// TestProtocol runs the scheduler protocol suite (task hubs, completion
// tokens, health pings, TLS and bearer tokens) against the embedded
// scheduler, as it runs against durabletask-go's own executor in guard.
func TestProtocol(t *testing.T) {
	guardtest.Run(t, func(t *testing.T, opts guard.Options, creds credentials.TransportCredentials) string {
		t.Helper()
		logs := &dtstest.Logs{}
		var extra []grpc.ServerOption
		if creds != nil {
			extra = append(extra, grpc.Creds(creds))
		}
		srv, err := scheduler.New(context.Background(), scheduler.Options{Guard: opts, Logger: logs.Logger(), ServerOptions: extra})
		if err != nil {
			t.Fatal(err)
		}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(lis)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			srv.Close(ctx)
			if t.Failed() {
				t.Logf("scheduler logs:\n%s", logs)
			}
		})
		return lis.Addr().String()
	})
}
