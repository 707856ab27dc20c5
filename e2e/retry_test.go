package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// refusalLine is the warning the worker and the handler log, once, while
// the scheduler refuses their identity.
const refusalLine = "scheduler refused this identity"

// waitForOutput waits until p has written want, or fails.
func waitForOutput(t *testing.T, p *proc, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(p.out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("%s never wrote %q:\n%s", p.name, want, p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// decideTaken sends a decision and fails unless it is taken: 200 when the
// API reports the outcome at once, 202 when the outcome is yet to come.
func decideTaken(t *testing.T, s *stack, id string, approved bool, approver string) {
	t.Helper()
	code, _, out := s.call("SubmitDecision", id, map[string]any{"approved": approved, "approver": approver, "comments": "via e2e"})
	if code != http.StatusOK && code != http.StatusAccepted {
		t.Fatalf("decide %s = %d %v", id, code, out)
	}
}

func running(p *proc) bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// tlsTokenEnv is how the worker and the handler reach a TLS scheduler at
// port with a bearer token, waiting accessWait for it to be accepted (zero:
// their default).
func tlsTokenEnv(port int, token, cert string, accessWait time.Duration) []string {
	env := []string{
		fmt.Sprintf("DURABLE_TASK_SCHEDULER_CONNECTION_STRING=Endpoint=https://localhost:%d;TaskHub=default;Authentication=None;Token=%s", port, token),
		"SSL_CERT_FILE=" + cert,
	}
	if accessWait != 0 {
		env = append(env, "APPROVALS_SCHEDULER_ACCESS_WAIT="+accessWait.String())
	}
	return env
}

// tlsStack has the stack's scheduler serve TLS with cert and key and
// require token, and its worker and handler carry carried (see
// tlsTokenEnv).
func tlsStack(cert, key, token, carried string, accessWait time.Duration) func(*stack) {
	return func(s *stack) {
		s.schedArgs = []string{"-tls-cert", cert, "-tls-key", key}
		s.schedEnv = []string{"DURABLE_TASK_SCHEDULER_TOKEN=" + token}
		s.clientEnv = tlsTokenEnv(s.grpcPort, carried, cert, accessWait)
	}
}

// TestRefusedIdentityIsRetried is a first deployment in miniature: the
// scheduler refuses the apps' credential (on Azure, until their new role
// assignments apply), and then, restarted with the credential they carry,
// accepts it. The worker and the handler keep trying instead of exiting,
// say so in one line each, and then work.
func TestRefusedIdentityIsRetried(t *testing.T) {
	cert, key, _ := certFiles(t)
	const carried = "token-the-apps-carry"
	s := newStackWith(t, tlsStack(cert, key, "token-not-granted-yet", carried, 5*time.Minute))
	for _, p := range []*proc{s.worker, s.handler} {
		waitForOutput(t, p, refusalLine, 20*time.Second)
	}

	s.scheduler.stop(t, syscall.SIGTERM)
	s.schedEnv = []string{"DURABLE_TASK_SCHEDULER_TOKEN=" + carried}
	granted := time.Now()
	s.startScheduler()
	waitForOutput(t, s.worker, `"msg":"worker started"`, 60*time.Second)
	t.Logf("worker started %s after the scheduler began accepting its token", time.Since(granted).Round(time.Millisecond))

	// The handler's connection may still be backing off from the
	// restart; a 503 tells a client to retry, and the start is idempotent
	// by request_id.
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _, out := s.call("StartApproval", "retry-1", map[string]any{"request_id": "retry-1", "requester": "ana", "item": "badge", "timeout": "1h"})
		if code == http.StatusAccepted {
			break
		}
		if code != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("start after the scheduler accepted the token = %d %v", code, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.waitSubmitted("retry-1")
	decideTaken(t, s, "retry-1", true, "ines")
	if out := s.outcome("retry-1", 20*time.Second); out["status"] != "Approved" {
		t.Fatalf("after the refusal mended the approval ended %v", out)
	}

	for _, p := range []*proc{s.worker, s.handler} {
		if !running(p) {
			t.Errorf("%s exited while the scheduler refused it:\n%s", p.name, p.out.String())
		}
		if n := strings.Count(p.out.String(), refusalLine); n != 1 {
			t.Errorf("%s logged the refusal %d times, want once:\n%s", p.name, n, p.out.String())
		}
		if strings.Contains(p.out.String(), carried) {
			t.Errorf("%s logged its bearer token:\n%s", p.name, p.out.String())
		}
	}
}

// TestRefusedIdentityGivesUp: a refusal that outlasts
// APPROVALS_SCHEDULER_ACCESS_WAIT ends each binary with a non-zero exit,
// one warning and one error that names the role the identity needs.
func TestRefusedIdentityGivesUp(t *testing.T) {
	cert, key, _ := certFiles(t)
	port := freePort(t)
	sched := start(t, "scheduler", []string{"DURABLE_TASK_SCHEDULER_TOKEN=token-the-scheduler-wants"},
		"-grpc", fmt.Sprintf("127.0.0.1:%d", port), "-data", t.TempDir(), "-dashboard", "", "-tls-cert", cert, "-tls-key", key)
	waitForOutput(t, sched, "scheduler listening", 20*time.Second)

	const carried = "token-never-granted"
	const accessWait = 2 * time.Second
	roles := map[string]string{"worker": "Durable Task Worker", "handler": "Durable Task Data Contributor"}
	for _, name := range []string{"worker", "handler"} {
		env := append(tlsTokenEnv(port, carried, cert, accessWait), fmt.Sprintf("FUNCTIONS_CUSTOMHANDLER_PORT=%d", freePort(t)))
		began := time.Now()
		code, out := exitsWith(t, name, env)
		t.Logf("%s exited %d after %s (access wait %s)", name, code, time.Since(began).Round(time.Millisecond), accessWait)
		if code == 0 {
			t.Errorf("%s exited 0 after its identity was refused:\n%s", name, out)
		}
		if n := strings.Count(out, refusalLine); n != 1 {
			t.Errorf("%s logged the refusal %d times, want once:\n%s", name, n, out)
		}
		if warn, errs := strings.Count(out, `"level":"WARN"`), strings.Count(out, `"level":"ERROR"`); warn != 1 || errs != 1 {
			t.Errorf("%s logged %d warnings and %d errors, want one of each:\n%s", name, warn, errs, out)
		}
		for _, want := range []string{"Unauthenticated", roles[name] + " role", accessWait.String()} {
			if !strings.Contains(out, want) {
				t.Errorf("%s's output does not say %q:\n%s", name, want, out)
			}
		}
		if strings.Contains(out, carried) {
			t.Errorf("%s logged its bearer token:\n%s", name, out)
		}
	}
}
