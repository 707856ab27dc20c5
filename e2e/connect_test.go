package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTLSAndBearerToken runs the stack the way a deployed scheduler is
// reached: TLS with a certificate the clients verify, a connection string,
// and a bearer token the scheduler requires.
func TestTLSAndBearerToken(t *testing.T) {
	cert, key, roots := certFiles(t)
	const token = "s3cret-for-tests"
	s := newStackWith(t, tlsStack(cert, key, token, token, 0))
	s.startApproval("tls-1", map[string]any{"timeout": "1h"})
	s.waitSubmitted("tls-1")
	s.decide("tls-1", true, "hana")
	if out := s.outcome("tls-1", 20*time.Second); out["status"] != "Approved" {
		t.Fatalf("over TLS with a token the approval ended %v", out)
	}
	serviceRoutesOverTLS(t, s.grpcPort, roots, token, "tls-1")
	for _, p := range []*proc{s.worker, s.handler, s.scheduler} {
		if strings.Contains(p.out.String(), token) {
			t.Errorf("%s logged the bearer token:\n%s", p.name, p.out.String())
		}
	}
}

// exitsWith starts a binary that should refuse to run and returns its
// output once it has exited.
func exitsWith(t *testing.T, name string, env []string) (int, string) {
	t.Helper()
	p := start(t, name, env)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s kept running:\n%s", name, p.out.String())
	}
	return p.cmd.ProcessState.ExitCode(), p.out.String()
}

func TestClearStartupErrors(t *testing.T) {
	s := newStack(t)
	endpoint := fmt.Sprintf("ENDPOINT=http://127.0.0.1:%d", s.grpcPort)
	port := fmt.Sprintf("FUNCTIONS_CUSTOMHANDLER_PORT=%d", freePort(t))

	t.Run("wrong task hub", func(t *testing.T) {
		for _, name := range []string{"worker", "handler"} {
			code, out := exitsWith(t, name, []string{endpoint, "TASKHUB=nope", port})
			if code == 0 || !strings.Contains(out, "nope") || !strings.Contains(out, "NotFound") {
				t.Errorf("%s with a wrong task hub: exit %d\n%s", name, code, out)
			}
			if n := strings.Count(out, `"level":"ERROR"`) + strings.Count(out, `"level":"WARN"`); n > 2 {
				t.Errorf("%s logged %d warnings and errors for one problem:\n%s", name, n, out)
			}
		}
	})

	t.Run("malformed connection string", func(t *testing.T) {
		const secret = "do-not-print-me"
		for _, name := range []string{"worker", "handler"} {
			code, out := exitsWith(t, name, []string{"DURABLE_TASK_SCHEDULER_CONNECTION_STRING=Endpoint=https://x.example;Authentication=Sometimes;Token=" + secret, port})
			if code == 0 || !strings.Contains(out, "Authentication") {
				t.Errorf("%s with a bad connection string: exit %d\n%s", name, code, out)
			}
			if strings.Contains(out, secret) {
				t.Errorf("%s echoed a secret:\n%s", name, out)
			}
		}
	})

	t.Run("unreachable endpoint", func(t *testing.T) {
		dead := fmt.Sprintf("ENDPOINT=http://127.0.0.1:%d", freePort(t))
		w := start(t, "worker", []string{dead})
		time.Sleep(8 * time.Second)
		out := w.out.String()
		if n := strings.Count(out, `"level":"WARN"`) + strings.Count(out, `"level":"ERROR"`); n != 1 {
			t.Errorf("an unreachable scheduler gave %d warning or error lines in 8s, want 1:\n%s", n, out)
		}
		w.stop(t, syscall.SIGTERM)
		if code := w.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("worker waiting for its scheduler exited %d on SIGTERM", code)
		}
	})

	// The stack itself is unaffected by the failed starts beside it.
	if code, _, out := s.call("StartApproval", "", map[string]any{"requester": "ana", "item": "pen"}); code != http.StatusAccepted {
		t.Fatalf("start after the failures = %d %v", code, out)
	}
}
