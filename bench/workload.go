package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/client"
	"github.com/microsoft/durabletask-go/task"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/dts"
	"github.com/approvals-go/approvals/dts/mgmt"
	"github.com/approvals-go/approvals/worker"
)

// target is one scheduler process with a worker and a client connected.
type target struct {
	kind     string
	dir      string
	cmd      *exec.Cmd
	grpcAddr string
	debug    string
	client   *client.TaskHubGrpcClient
	mgmt     *mgmt.Client
	conns    []*grpc.ClientConn
	cancel   context.CancelFunc
	exited   chan struct{}
	counter  int
	// pending are approvals left waiting, decided one by one when idle.
	pending []string
	// refused counts the starts refused for load and sent again.
	refused atomic.Int64
}

// launch starts a scheduler process (this same binary in serve mode) and
// connects a worker running the approval workflow to it.
func launch(ctx context.Context, kind string) (*target, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "approvals-bench-"+kind)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-serve", kind, "-data", dir)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	t := &target{kind: kind, dir: dir, cmd: cmd, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(t.exited) }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	fieldsOf := strings.Fields(line)
	if err != nil || len(fieldsOf) != 3 || fieldsOf[0] != "LISTENING" {
		t.close()
		return nil, fmt.Errorf("%s scheduler did not start: %q %v", kind, line, err)
	}
	go io.Copy(io.Discard, stdout)
	t.grpcAddr, t.debug = fieldsOf[1], fieldsOf[2]

	cfg, err := dts.Settings{Endpoint: "http://" + fieldsOf[1], TaskHub: dts.DefaultTaskHub}.Resolve()
	if err != nil {
		t.close()
		return nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	t.cancel = cancel
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := task.NewTaskRegistry()
	if err := approval.Register(r, approval.NewActivities("http://bench.invalid", quiet)); err != nil {
		t.close()
		return nil, err
	}
	wconn, err := dts.Dial(wctx, cfg, dts.RoleWorker)
	if err != nil {
		t.close()
		return nil, err
	}
	cconn, err := dts.Dial(wctx, cfg, dts.RoleClient)
	if err != nil {
		t.close()
		return nil, err
	}
	t.conns = []*grpc.ClientConn{wconn, cconn}
	l := worker.NewListener(wconn, task.NewTaskExecutor(r), worker.ListenerOptions{SlowActivities: approval.SlowActivities(), Logger: quiet})
	if err := l.Start(wctx); err != nil {
		t.close()
		return nil, err
	}
	t.client = client.NewTaskHubGrpcClient(cconn, dts.Logger(quiet))
	t.mgmt = mgmt.New(cconn)
	return t, nil
}

func (t *target) close() {
	if t.cancel != nil {
		t.cancel()
	}
	for _, c := range t.conns {
		c.Close()
	}
	t.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-t.exited:
	case <-time.After(10 * time.Second):
		t.cmd.Process.Kill()
		<-t.exited
	}
	os.RemoveAll(t.dir)
}

// ids makes n fresh instance IDs.
func (t *target) ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		t.counter++
		out[i] = fmt.Sprintf("%s-%s-%d", t.kind, prefix, t.counter)
	}
	return out
}

// parallel runs fn for every id with at most c at once and returns the time
// each call returned.
func parallel(ids []string, c int, fn func(id string) error) (map[string]time.Time, error) {
	var (
		mu    sync.Mutex
		done  = make(map[string]time.Time, len(ids))
		first error
		wg    sync.WaitGroup
		next  = make(chan string)
	)
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range next {
				err := fn(id)
				mu.Lock()
				done[id] = time.Now()
				if err != nil && first == nil {
					first = fmt.Errorf("%s: %w", id, err)
				}
				mu.Unlock()
			}
		}()
	}
	for _, id := range ids {
		next <- id
	}
	close(next)
	wg.Wait()
	return done, first
}

func (t *target) start(ctx context.Context, ids []string, c int, timeout time.Duration) (map[string]time.Time, error) {
	h := timeout.Hours()
	return parallel(ids, c, func(id string) error {
		refused, err := schedule(ctx, t.client, approval.Request{RequestID: id, Requester: "bench", Item: "item", TimeoutHours: &h})
		t.refused.Add(int64(refused))
		return err
	})
}

// refusedPause is how long a start the scheduler refused for load waits
// before it is sent again: short, so that the scheduler's backlog, which
// is at its bound when it refuses, never runs dry while starts wait.
const refusedPause = 10 * time.Millisecond

// schedule starts an approval, sending a start the scheduler refused for
// load (RESOURCE_EXHAUSTED) again, as a client should, and returns how
// often it was refused.
func schedule(ctx context.Context, c *client.TaskHubGrpcClient, req approval.Request) (refused int, err error) {
	for {
		_, err := c.ScheduleNewOrchestration(ctx, approval.OrchestratorName, api.WithInstanceID(api.InstanceID(req.RequestID)), api.WithInput(req))
		if status.Code(err) != codes.ResourceExhausted {
			return refused, err
		}
		refused++
		select {
		case <-ctx.Done():
			return refused, ctx.Err()
		case <-time.After(refusedPause):
		}
	}
}

func (t *target) decide(ctx context.Context, ids []string, c int) (map[string]time.Time, error) {
	// Not the requester: the rules refuse a self-decision.
	yes, who := true, "bench-approver"
	return parallel(ids, c, func(id string) error {
		return t.client.RaiseEvent(ctx, api.InstanceID(id), approval.DecisionEventName,
			api.WithEventPayload(approval.Decision{IsApproved: &yes, Approver: &who}))
	})
}

func waiting(md *api.OrchestrationMetadata) bool { return md.SerializedCustomStatus != "" }
func complete(md *api.OrchestrationMetadata) bool {
	return md.RuntimeStatus == api.RUNTIME_STATUS_COMPLETED || md.RuntimeStatus == api.RUNTIME_STATUS_FAILED
}

// await polls each instance in turn until cond holds for all of them, and
// returns the metadata that satisfied it. Polling one instance at a time
// keeps the observer's own load small and the same for both schedulers.
func (t *target) await(ctx context.Context, ids []string, cond func(*api.OrchestrationMetadata) bool, limit time.Duration) (map[string]*api.OrchestrationMetadata, error) {
	deadline := time.Now().Add(limit)
	out := make(map[string]*api.OrchestrationMetadata, len(ids))
	for _, id := range ids {
		for {
			md, err := t.client.FetchOrchestrationMetadata(ctx, api.InstanceID(id), api.WithFetchPayloads(true))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", id, err)
			}
			if cond(md) {
				out[id] = md
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("%s: %s scheduler still not there after %s (status %v)", id, t.kind, limit, md.RuntimeStatus)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	return out, nil
}

// cpuTime is the CPU the scheduler process has used so far.
func (t *target) cpuTime() (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", t.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticksPerSecond, nil
}

// rss is the scheduler process's resident memory in bytes.
func (t *target) rss() (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", t.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, err := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", t.cmd.Process.Pid)
}

// vars reads the scheduler process's goroutine count and heap in use.
func (t *target) vars() (goroutines int, heap uint64, err error) {
	resp, err := http.Get("http://" + t.debug + "/")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	var v struct {
		Goroutines int `json:"goroutines"`
		Memstats   struct {
			HeapInuse uint64 `json:"HeapInuse"`
		} `json:"memstats"`
	}
	err = json.NewDecoder(resp.Body).Decode(&v)
	return v.Goroutines, v.Memstats.HeapInuse, err
}

// percentile of sorted durations, in milliseconds.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p/100*float64(len(sorted))+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i].Microseconds()) / 1000
}

func sortDurations(d []time.Duration) []time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d
}
