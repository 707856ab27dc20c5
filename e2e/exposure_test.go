package e2e

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/approvals-go/approvals/dts"
	"github.com/approvals-go/approvals/dts/dtstest"
)

// These tests bind the wildcard address only to see a command refuse it or
// accept it on -allow-insecure-remote; they connect only over loopback.

// refusal runs a command that must refuse to start and returns the one
// line it printed.
func refusal(t *testing.T, name string, args ...string) string {
	t.Helper()
	p := start(t, name, nil, args...)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s %v kept running:\n%s", name, args, p.out.String())
	}
	out := p.out.String()
	if code := p.cmd.ProcessState.ExitCode(); code == 0 {
		t.Errorf("%s %v exited 0:\n%s", name, args, out)
	}
	line := strings.TrimSuffix(out, "\n")
	if line == "" || strings.Contains(line, "\n") {
		t.Errorf("%s %v: want one line saying why, got:\n%s", name, args, out)
	}
	return line
}

func wantAll(t *testing.T, what, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s: %q does not say %q", what, got, w)
		}
	}
}

// waitLog waits until p has written s, failing if p exits first.
func waitLog(t *testing.T, p *proc, s string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(p.out.String(), s) {
		select {
		case <-p.done:
			t.Fatalf("%s exited before writing %q:\n%s", p.name, s, p.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never wrote %q:\n%s", p.name, s, p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// certFiles writes a certificate for the loopback names and its key, and
// returns them and the roots that verify the certificate.
func certFiles(t *testing.T) (cert, key string, roots *x509.CertPool) {
	tlsCfg, roots := dtstest.SelfSigned(t, "localhost", "127.0.0.1")
	cert, key = dtstest.WritePEM(t, tlsCfg, t.TempDir())
	return cert, key, roots
}

func warnings(p *proc) int { return strings.Count(p.out.String(), `"level":"WARN"`) }

func TestSchedulerRefusesExposure(t *testing.T) {
	cert, key, _ := certFiles(t)
	port := freePort(t)
	wild := fmt.Sprintf("0.0.0.0:%d", port)

	line := refusal(t, "scheduler", "-grpc", wild, "-data", "", "-dashboard", "")
	t.Logf("plaintext: %s", line)
	wantAll(t, "plaintext on "+wild, line, "scheduler: refusing to serve gRPC on ", fmt.Sprintf(":%d without TLS and a bearer token", port),
		"decide any approval and terminate or purge any orchestration",
		fmt.Sprintf("listen on loopback (-grpc 127.0.0.1:%d)", port), "give -tls-cert, -tls-key and DURABLE_TASK_SCHEDULER_TOKEN",
		"pass -allow-insecure-remote")

	line = refusal(t, "scheduler", "-grpc", fmt.Sprintf(":%d", port), "-data", "", "-dashboard", "")
	wantAll(t, "plaintext on :port", line, "refusing to serve gRPC", "-allow-insecure-remote")

	line = refusal(t, "scheduler", "-grpc", wild, "-data", "", "-dashboard", "", "-tls-cert", cert, "-tls-key", key)
	t.Logf("TLS, no token: %s", line)
	wantAll(t, "TLS without a token on "+wild, line, fmt.Sprintf(":%d without a bearer token", port),
		"set DURABLE_TASK_SCHEDULER_TOKEN", "pass -allow-insecure-remote")
}

func TestSchedulerServesBeyondLoopbackOnlyWhenSafeOrAllowed(t *testing.T) {
	t.Run("allowed", func(t *testing.T) {
		port := freePort(t)
		p := start(t, "scheduler", nil, "-grpc", fmt.Sprintf("0.0.0.0:%d", port), "-data", "", "-dashboard", "", "-allow-insecure-remote")
		waitLog(t, p, "scheduler listening")
		if n := warnings(p); n != 1 || !strings.Contains(p.out.String(), "as -allow-insecure-remote asks") {
			t.Errorf("want one warning naming what is exposed, got %d:\n%s", n, p.out.String())
		}
		cfg, err := dts.Settings{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), TaskHub: "default"}.Resolve()
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := dts.Dial(ctx, cfg, dts.RoleClient)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := dts.Check(ctx, conn); err != nil {
			t.Fatalf("scheduler allowed beyond loopback does not answer on 127.0.0.1: %v", err)
		}
	})

	t.Run("TLS and token", func(t *testing.T) {
		cert, key, _ := certFiles(t)
		port := freePort(t)
		p := start(t, "scheduler", []string{"DURABLE_TASK_SCHEDULER_TOKEN=t0ken-for-tests"},
			"-grpc", fmt.Sprintf("0.0.0.0:%d", port), "-data", "", "-dashboard", "", "-tls-cert", cert, "-tls-key", key)
		waitLog(t, p, "scheduler listening")
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatalf("protected scheduler not listening: %v", err)
		}
		conn.Close()
		if n := warnings(p); n != 0 {
			t.Errorf("a protected scheduler warned:\n%s", p.out.String())
		}
	})

	t.Run("loopback", func(t *testing.T) {
		p := start(t, "scheduler", nil, "-grpc", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "-data", "", "-dashboard", "")
		waitLog(t, p, "scheduler listening")
		if n := warnings(p); n != 0 {
			t.Errorf("a scheduler on loopback warned:\n%s", p.out.String())
		}
	})
}

func TestDevRefusesExposure(t *testing.T) {
	httpPort, grpcPort := freePort(t), freePort(t)
	localHTTP, localGRPC := fmt.Sprintf("127.0.0.1:%d", httpPort), fmt.Sprintf("127.0.0.1:%d", grpcPort)

	line := refusal(t, "dev", "-http", fmt.Sprintf("0.0.0.0:%d", httpPort), "-grpc", localGRPC, "-data", "", "-dashboard", "")
	t.Logf("HTTP exposed: %s", line)
	wantAll(t, "dev -http 0.0.0.0", line, "dev: refusing to serve the HTTP API on ", "start and decide any approval",
		"listen on loopback (-http "+localHTTP+")", "pass -allow-insecure-remote")

	line = refusal(t, "dev", "-http", localHTTP, "-grpc", fmt.Sprintf("0.0.0.0:%d", grpcPort), "-data", "", "-dashboard", "")
	wantAll(t, "dev -grpc 0.0.0.0", line, "dev: refusing to serve the scheduler's gRPC on ", "terminate or purge any orchestration",
		"listen on loopback (-grpc "+localGRPC+")", "pass -allow-insecure-remote")
	if strings.Contains(line, "HTTP API") {
		t.Errorf("the loopback HTTP API was named as exposed: %s", line)
	}

	dev := start(t, "dev", nil, "-http", fmt.Sprintf("0.0.0.0:%d", httpPort), "-grpc", localGRPC, "-data", "", "-dashboard", "", "-allow-insecure-remote")
	waitLog(t, dev, "Press Ctrl-C to stop")
	if n := warnings(dev); n != 1 || !strings.Contains(dev.out.String(), "as -allow-insecure-remote asks") {
		t.Errorf("want one warning naming what is exposed, got %d:\n%s", n, dev.out.String())
	}
	resp, err := http.Get("http://" + localHTTP + "/")
	if err != nil {
		t.Fatalf("dev allowed beyond loopback does not answer on 127.0.0.1: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d", resp.StatusCode)
	}
	dev.stop(t, syscall.SIGINT)
	if code := dev.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("dev exited %d on Ctrl-C:\n%s", code, dev.out.String())
	}
}
