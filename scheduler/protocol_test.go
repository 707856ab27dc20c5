package scheduler_test

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/approvals-go/approvals/dts/dtstest"
	"github.com/approvals-go/approvals/internal/testenv"
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
		_, addr := testenv.ServeScheduler(t, context.Background(), scheduler.Options{Guard: opts, Logger: logs.Logger(), ServerOptions: extra})
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("scheduler logs:\n%s", logs)
			}
		})
		return addr
	})
}
