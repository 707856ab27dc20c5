// Package e2e drives the application as it runs in production: separate
// scheduler, worker and handler processes, called the way the Azure
// Functions host calls the handler.
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/approvals-go/approvals/dts/dtstest"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds every command under cmd/ once per test run, into one
// directory, each under its folder's name.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "approvals-e2e-bin")
		if buildErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", binDir+string(filepath.Separator), "../cmd/...").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build the commands: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// proc is a child process whose output is kept for failure reports.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *dtstest.Logs
	done chan struct{}
}

func start(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(filepath.Join(binaries(t), name), args...)
	cmd.Env = append(os.Environ(), env...)
	return startCmd(t, name, cmd)
}

// startCmd starts cmd as the process name, killed when the test ends and
// its output logged if the test failed.
func startCmd(t *testing.T, name string, cmd *exec.Cmd) *proc {
	t.Helper()
	out := &dtstest.Logs{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(t, syscall.SIGKILL)
		if t.Failed() {
			t.Logf("--- output of %s ---\n%s", name, out.String())
		}
	})
	return p
}

// stop sends sig and waits for the process to end.
// startDev runs cmd/dev with env on free ports, in memory and without its
// dashboard unless args say otherwise (a later flag wins), and waits until
// it serves; s calls its HTTP API.
func startDev(t *testing.T, env []string, args ...string) (dev *proc, s *stack) {
	t.Helper()
	port := freePort(t)
	dev = start(t, "dev", env, append([]string{"-http", fmt.Sprintf("127.0.0.1:%d", port), "-grpc", fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"-dashboard", "", "-data", ""}, args...)...)
	waitLog(t, dev, fmt.Sprintf("curl -i -X POST http://127.0.0.1:%d", port))
	return dev, &stack{t: t, httpPort: port, routes: functionRoutes(t)}
}

func (p *proc) stop(t *testing.T, sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		t.Errorf("%s did not stop within 15s of %v", p.name, sig)
	}
}

// route is one HTTP trigger as the Functions host would expose it.
type route struct {
	function string
	// methods are the trigger's methods, upper case; method is the first,
	// the one call uses.
	methods   []string
	method    string
	path      string
	authLevel string
}

// functionRoutes reads every function.json the Functions host would load.
// A function may take several methods; no two functions take the same
// method on the same route, which the host could route to either.
func functionRoutes(t *testing.T) map[string]route {
	t.Helper()
	files, err := filepath.Glob("../*/function.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no function.json found: %v", err)
	}
	routes := map[string]route{}
	taken := map[string]string{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var def struct {
			Bindings []struct {
				Type, Direction, Route, AuthLevel string
				Methods                           []string
			}
		}
		if err := json.Unmarshal(raw, &def); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var in, out int
		var r route
		for _, b := range def.Bindings {
			switch {
			case b.Type == "httpTrigger" && b.Direction == "in":
				in++
				if len(b.Methods) == 0 || b.Route == "" {
					t.Fatalf("%s: want methods and a route, got %v %q", f, b.Methods, b.Route)
				}
				r = route{function: filepath.Base(filepath.Dir(f)), path: "/api/" + b.Route, authLevel: b.AuthLevel}
				for _, m := range b.Methods {
					m = strings.ToUpper(m)
					if !slices.Contains([]string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}, m) {
						t.Fatalf("%s: method %q", f, m)
					}
					key := m + " " + r.path
					if other, ok := taken[key]; ok {
						t.Fatalf("%s and %s both take %s", other, r.function, key)
					}
					taken[key] = r.function
					r.methods = append(r.methods, m)
				}
				r.method = r.methods[0]
			case b.Type == "http" && b.Direction == "out":
				out++
			}
		}
		// The host forwards requests only for exactly one httpTrigger in
		// and one http out.
		if in != 1 || out != 1 || len(def.Bindings) != 2 {
			t.Fatalf("%s: want exactly one httpTrigger in and one http out binding", f)
		}
		routes[r.function] = r
	}
	for _, fn := range []string{"StartApproval", "GetApproval", "SubmitDecision"} {
		if _, ok := routes[fn]; !ok {
			t.Fatalf("function %s is missing", fn)
		}
	}
	return routes
}

// stack is a scheduler, a worker and a handler running as processes.
type stack struct {
	t        *testing.T
	grpcPort int
	httpPort int
	data     string
	// schedArgs and schedEnv are extra flags and environment of the
	// scheduler; clientEnv, when set, replaces how the worker and handler
	// find the scheduler.
	schedArgs []string
	schedEnv  []string
	clientEnv []string
	// workerEnv is added to the worker's environment.
	workerEnv []string
	// runWorker, when set, starts the worker in place of cmd/worker, with
	// the environment that finds the scheduler.
	runWorker func(env []string) *proc
	// vanilla runs durabletask-go v0.6.0's own sidecar on its SQLite
	// backend (cmd/bench -serve vanilla) instead of cmd/scheduler. It
	// listens on a port of its choosing, so a restarted one is not found
	// by a running worker or handler.
	vanilla   bool
	scheduler *proc
	worker    *proc
	handler   *proc
	routes    map[string]route

	// handlerEnv is added to the handler's environment.
	handlerEnv []string
}

func newStack(t *testing.T) *stack {
	return newStackWith(t, func(*stack) {})
}

// newStackWith lets configure adjust the stack before anything starts.
func newStackWith(t *testing.T, configure func(*stack)) *stack {
	s := &stack{t: t, grpcPort: freePort(t), httpPort: freePort(t), data: t.TempDir(), routes: functionRoutes(t)}
	configure(s)
	s.startScheduler()
	s.startWorker()
	s.startHandler()
	s.waitReady()
	return s
}

// startHandler starts the handler. A decision waits a second for its
// outcome, not the default five, so tests with the worker down run
// quickly, unless handlerEnv says otherwise.
func (s *stack) startHandler() {
	env := append(s.schedulerEnv(), fmt.Sprintf("FUNCTIONS_CUSTOMHANDLER_PORT=%d", s.httpPort), "APPROVALS_DECISION_WAIT=1s")
	s.handler = start(s.t, "handler", append(env, s.handlerEnv...))
}

func (s *stack) schedulerEnv() []string {
	if s.clientEnv != nil {
		return s.clientEnv
	}
	return []string{fmt.Sprintf("ENDPOINT=http://127.0.0.1:%d", s.grpcPort), "TASKHUB=default"}
}

func (s *stack) startScheduler() {
	if s.vanilla {
		s.startVanilla()
		return
	}
	// No dashboard: its default port would be shared by every scheduler
	// the tests start, and by a developer's own.
	args := append([]string{"-grpc", fmt.Sprintf("127.0.0.1:%d", s.grpcPort), "-data", s.data, "-dashboard", ""}, s.schedArgs...)
	s.scheduler = start(s.t, "scheduler", s.schedEnv, args...)
}

func (s *stack) startWorker() {
	env := append(s.schedulerEnv(), fmt.Sprintf("APPROVALS_API_BASE_URL=http://127.0.0.1:%d", s.httpPort))
	if s.runWorker != nil {
		s.worker = s.runWorker(append(env, s.workerEnv...))
		return
	}
	s.worker = start(s.t, "worker", append(env, s.workerEnv...))
}

// waitReady waits for GET / as the Functions host does before routing.
func (s *stack) waitReady() {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.url("/"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatal("handler never answered GET /")
}

func (s *stack) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", s.httpPort, path)
}

// call invokes a function by name, filling {id} in its route.
func (s *stack) call(function, id string, body any) (int, http.Header, map[string]any) {
	s.t.Helper()
	return s.callQuery(function, id, nil, body)
}

// callQuery is call with query added to the route's URL.
func (s *stack) callQuery(function, id string, query url.Values, body any) (int, http.Header, map[string]any) {
	s.t.Helper()
	r := s.routes[function]
	u := s.url(strings.ReplaceAll(r.path, "{id}", id))
	if query != nil {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(r.method, u, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s: %v", function, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, resp.Header, out
}

func (s *stack) startApproval(id string, extra map[string]any) {
	s.t.Helper()
	body := map[string]any{"request_id": id, "requester": "ana", "item": "laptop"}
	for k, v := range extra {
		body[k] = v
	}
	code, h, out := s.call("StartApproval", id, body)
	if code != http.StatusAccepted || h.Get("Location") != s.url("/api/approvals/"+id) {
		s.t.Fatalf("start %s = %d %v %v", id, code, h, out)
	}
}

// startApprovals starts n approvals with timeout, named prefix-00,
// prefix-01 and on, and returns their IDs.
func (s *stack) startApprovals(prefix string, n int, timeout string) []string {
	s.t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%02d", prefix, i)
		s.startApproval(ids[i], map[string]any{"timeout": timeout})
	}
	return ids
}

// waitSubmitted waits until the worker has run the submit activity.
func (s *stack) waitSubmitted(id string) {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		code, _, out := s.call("GetApproval", id, nil)
		if code == http.StatusAccepted && out["submitted_at"] != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.t.Fatalf("%s was never submitted", id)
}

// decide sends a decision and returns its answer's status code: 200 when
// it is the outcome, 202 when it was delivered with the outcome not known
// yet (no worker is running).
func (s *stack) decide(id string, approved bool, approver string) int {
	s.t.Helper()
	code, _, out := s.call("SubmitDecision", id, map[string]any{"approved": approved, "approver": approver, "comments": "via e2e"})
	if code != http.StatusOK && code != http.StatusAccepted {
		s.t.Fatalf("decide %s = %d %v", id, code, out)
	}
	return code
}

// outcome polls until the approval is final and returns its status.
func (s *stack) outcome(id string, within time.Duration) map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		code, _, out := s.call("GetApproval", id, nil)
		if code == http.StatusOK {
			return out
		}
		// 503 is what a client sees while the scheduler restarts; it is
		// told to retry, and does.
		if code != http.StatusAccepted && code != http.StatusServiceUnavailable {
			s.t.Fatalf("status of %s = %d %v", id, code, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.t.Fatalf("%s did not finish within %s", id, within)
	return nil
}

func TestApprovalsAcrossProcesses(t *testing.T) {
	s := newStack(t)

	s.startApproval("e2e-approve", map[string]any{"timeout_hours": 1})
	s.startApproval("e2e-reject", map[string]any{"timeout": "1h"})
	s.startApproval("e2e-timeout", map[string]any{"timeout": "1s"})
	s.waitSubmitted("e2e-approve")
	s.waitSubmitted("e2e-reject")

	s.decide("e2e-approve", true, "bob")
	if out := s.outcome("e2e-approve", 20*time.Second); out["status"] != "Approved" {
		t.Fatalf("e2e-approve ended %v", out)
	}
	s.decide("e2e-reject", false, "carol")
	if out := s.outcome("e2e-reject", 20*time.Second); out["status"] != "Rejected" {
		t.Fatalf("e2e-reject ended %v", out)
	}
	if out := s.outcome("e2e-timeout", 20*time.Second); out["status"] != "Timeout" {
		t.Fatalf("e2e-timeout ended %v", out)
	}

	// On an idle system a decision shows up in the status route quickly;
	// the time is reported, not asserted (CI machines are noisy).
	s.startApproval("e2e-idle", nil)
	s.waitSubmitted("e2e-idle")
	time.Sleep(3 * time.Second)
	began := time.Now()
	if code := s.decide("e2e-idle", true, "dave"); code != http.StatusOK {
		t.Fatalf("decision with the worker running = %d, want 200 with the outcome", code)
	}
	t.Logf("idle decision answered with its outcome after %s", time.Since(began).Round(time.Millisecond))
}

func TestWorkerRestartKeepsPendingApproval(t *testing.T) {
	s := newStack(t)
	s.startApproval("e2e-restart", map[string]any{"timeout": "1h"})
	s.waitSubmitted("e2e-restart")

	s.worker.stop(t, syscall.SIGKILL)
	// A decision sent while no worker runs waits in the scheduler, and its
	// answer says the outcome is not known yet.
	if code := s.decide("e2e-restart", true, "erin"); code != http.StatusAccepted {
		t.Fatalf("decision with no worker = %d, want 202", code)
	}
	if code, _, out := s.call("GetApproval", "e2e-restart", nil); code != http.StatusAccepted {
		t.Fatalf("approval finished with no worker running: %d %v", code, out)
	}
	s.startWorker()
	out := s.outcome("e2e-restart", 30*time.Second)
	if out["status"] != "Approved" {
		t.Fatalf("after restart the approval ended %v", out)
	}
	result, _ := out["result"].(map[string]any)
	if result["approver"] != "erin" {
		t.Fatalf("result = %v", result)
	}
}

func TestSchedulerRestartLosesNothing(t *testing.T) {
	s := newStack(t)
	s.startApproval("e2e-durable", map[string]any{"timeout": "1h"})
	s.waitSubmitted("e2e-durable")

	s.scheduler.stop(t, syscall.SIGKILL)
	s.startScheduler()
	s.waitSubmitted("e2e-durable")
	s.decide("e2e-durable", false, "frank")
	if out := s.outcome("e2e-durable", 30*time.Second); out["status"] != "Rejected" {
		t.Fatalf("after a scheduler restart the approval ended %v", out)
	}

	// A decision acknowledged just before the scheduler is killed is not
	// lost either. The worker is stopped first so that the kill lands
	// while the decision is only stored, not yet processed.
	s.startApproval("e2e-acked", map[string]any{"timeout": "1h"})
	s.waitSubmitted("e2e-acked")
	s.worker.stop(t, syscall.SIGKILL)
	s.decide("e2e-acked", true, "gina")
	s.scheduler.stop(t, syscall.SIGKILL)
	s.startScheduler()
	s.startWorker()
	if out := s.outcome("e2e-acked", 30*time.Second); out["status"] != "Approved" {
		t.Fatalf("a decision acknowledged before the kill ended %v", out)
	}
}

func TestGracefulStop(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGTERM is not deliverable on Windows")
	}
	s := newStack(t)
	// The stack is ready when the handler is; on a loaded machine the
	// scheduler may not have reached its signal handling yet, and a
	// SIGTERM before it does ends it as the Go runtime does, with -1.
	waitLog(t, s.scheduler, "scheduler listening")
	for _, p := range []*proc{s.handler, s.worker, s.scheduler} {
		p.stop(t, syscall.SIGTERM)
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("%s exited %d on SIGTERM:\n%s", p.name, code, p.out.String())
		}
	}
}

// TestDevAndClient runs the README's two commands: the all-in-one dev server
// and the console client, answering its prompt on standard input.
func TestDevAndClient(t *testing.T) {
	httpPort, grpcPort := freePort(t), freePort(t)
	httpAddr := fmt.Sprintf("127.0.0.1:%d", httpPort)
	dev := start(t, "dev", nil, "-http", httpAddr, "-grpc", fmt.Sprintf("127.0.0.1:%d", grpcPort), "-dashboard", "", "-data", "")
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(dev.out.String(), "curl -i -X POST http://"+httpAddr) {
		if time.Now().After(deadline) {
			t.Fatalf("dev never printed its banner:\n%s", dev.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	for _, c := range []struct {
		input, want string
		args        []string
	}{
		{"\n", "Final status: Approved", nil},
		{"reject\n", "Final status: Rejected", nil},
		{"", "Final status: Approved", []string{"-approve"}},
		{"", "Final status: Timeout", []string{"-no-decision", "-timeout", "1s"}},
	} {
		cmd := exec.Command(filepath.Join(binaries(t), "client"), append([]string{"-url", "http://" + httpAddr}, c.args...)...)
		cmd.Stdin = strings.NewReader(c.input)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), c.want) || !strings.Contains(string(out), "Initial status: Pending") {
			t.Fatalf("client %v with input %q: %v\n%s", c.args, c.input, err, out)
		}
	}

	dev.stop(t, syscall.SIGINT)
	if code := dev.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("dev exited %d on Ctrl-C:\n%s", code, dev.out.String())
	}
	sc := bufio.NewScanner(strings.NewReader(dev.out.String()))
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"level":"ERROR"`) {
			t.Errorf("dev logged an error: %s", sc.Text())
		}
	}
}
