package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// jssdkDir holds scripts that drive the stack with Microsoft's Durable Task
// JS SDK, pinned by its package-lock.json, to show that what we serve is
// the protocol and not only what our own Go client expects.
const jssdkDir = "testdata/jssdk"

var (
	npmOnce sync.Once
	npmErr  error
)

// nodeReady skips or fails the test when Node is missing, and installs the
// pinned packages on first use. Without Node the test is skipped on a
// developer's machine; in CI it fails, since .ci/run promises these
// checks.
func nodeReady(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node is not installed; the JS SDK checks need Node.js 20 or later")
		}
		t.Skip("node is not installed; install Node.js 20 or later to run the JS SDK checks")
	}
	npmOnce.Do(func() {
		if _, err := os.Stat(filepath.Join(jssdkDir, "node_modules")); err == nil {
			return
		}
		out, err := exec.Command("npm", "ci", "--prefix", jssdkDir, "--no-audit", "--no-fund").CombinedOutput()
		if err != nil {
			npmErr = fmt.Errorf("npm ci in %s: %v\n%s", jssdkDir, err, out)
		}
	})
	if npmErr != nil {
		t.Fatal(npmErr)
	}
}

// node runs a script from jssdkDir with args and fails the test if it exits
// non-zero.
func node(t *testing.T, timeout time.Duration, script string, args ...string) string {
	t.Helper()
	nodeReady(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{script}, args...)...)
	cmd.Dir = jssdkDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", script, err, out)
	}
	return string(out)
}

// nodeProc starts a long-running script from jssdkDir, such as a worker,
// with env added to its environment. Like the stack's binaries it is
// killed when the test ends, and its output is logged if the test failed.
func nodeProc(t *testing.T, script string, env []string, args ...string) *proc {
	t.Helper()
	nodeReady(t)
	cmd := exec.Command("node", append([]string{script}, args...)...)
	cmd.Dir = jssdkDir
	cmd.Env = append(os.Environ(), env...)
	return startCmd(t, "node "+script, cmd)
}

// TestJSSDKManagement runs the JS SDK client's management calls (schedule,
// query, suspend, resume, raise, history, terminate, restart, paging,
// purge) against the embedded scheduler with our worker.
func TestJSSDKManagement(t *testing.T) {
	s := newStack(t)
	out := node(t, 2*time.Minute, "check.mjs", fmt.Sprintf("127.0.0.1:%d", s.grpcPort))
	t.Log(out)
}
