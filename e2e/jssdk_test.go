package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/approvals-go/approvals/internal/nodetest"
)

// jssdkDir holds scripts that drive the stack with Microsoft's Durable Task
// JS SDK, pinned by its package-lock.json, to show that what we serve is
// the protocol and not only what our own Go client expects.
const jssdkDir = "testdata/jssdk"

// node runs a script from jssdkDir with args and fails the test if it exits
// non-zero; see internal/nodetest.
func node(t *testing.T, timeout time.Duration, script string, args ...string) string {
	t.Helper()
	return nodetest.Run(t, jssdkDir, nil, timeout, script, args...)
}

// nodeProc starts a long-running script from jssdkDir, such as a worker,
// with env added to its environment. Like the stack's binaries it is
// killed when the test ends, and its output is logged if the test failed.
func nodeProc(t *testing.T, script string, env []string, args ...string) *proc {
	t.Helper()
	return startCmd(t, "node "+script, nodetest.Command(t, context.Background(), jssdkDir, env, script, args...))
}

// TestJSSDKManagement runs the JS SDK client's management calls (schedule,
// query, suspend, resume, raise, history, terminate, restart, paging,
// purge) against the embedded scheduler with our worker.
func TestJSSDKManagement(t *testing.T) {
	s := newStack(t)
	out := node(t, 2*time.Minute, "check.mjs", fmt.Sprintf("127.0.0.1:%d", s.grpcPort))
	t.Log(out)
}
