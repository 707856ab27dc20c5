package e2e

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// TestJSSDKEntities runs Microsoft's JS SDK worker and client against the
// scheduler binary alone (no worker of ours, which would take the SDK's
// orchestrations): a counter entity hosted by the SDK's worker, signalled,
// read, queried and cleaned by its client, called, signalled and locked by
// an orchestration, and an orchestration rewound after its activity failed
// (testdata/jssdk/entities.mjs).
func TestJSSDKEntities(t *testing.T) {
	s := &stack{t: t, grpcPort: freePort(t), data: t.TempDir()}
	s.startScheduler()
	addr := fmt.Sprintf("127.0.0.1:%d", s.grpcPort)
	waitListening(t, addr)
	t.Log(node(t, 2*time.Minute, "entities.mjs", addr))
}

// waitListening waits until something accepts connections on addr.
func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}
