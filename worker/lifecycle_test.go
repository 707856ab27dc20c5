package worker_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/task"

	"github.com/approvals-go/approvals/dts/dtstest"
	"github.com/approvals-go/approvals/internal/testenv"
	"github.com/approvals-go/approvals/worker"
)

// oneStep registers an orchestrator that runs activity once and returns
// its result.
func oneStep(t *testing.T, activity task.Activity) *task.TaskRegistry {
	t.Helper()
	r := task.NewTaskRegistry()
	if err := r.AddActivityN("step", activity); err != nil {
		t.Fatal(err)
	}
	if err := r.AddOrchestratorN("one_step", func(ctx *task.OrchestrationContext) (any, error) {
		var out string
		err := ctx.CallActivity("step").Await(&out)
		return out, err
	}); err != nil {
		t.Fatal(err)
	}
	return r
}

func within(t *testing.T, ch <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("%s: not within %s", what, d)
	}
}

// A stopping listener lets the activity in flight finish and completes it
// over the stream it came on, so it is not run again.
func TestStopLetsWorkInFlightFinish(t *testing.T) {
	env := testenv.StartWith(t, apiBase, testenv.Options{NoWorker: true})
	var runs atomic.Int32
	started, release := make(chan struct{}, 1), make(chan struct{})
	exec := task.NewTaskExecutor(oneStep(t, func(ctx task.ActivityContext) (any, error) {
		runs.Add(1)
		started <- struct{}{}
		<-release
		return "done", nil
	}))
	stop := listen(t, env.Scheduler, exec, worker.ListenerOptions{Logger: testenv.Quiet()})
	if _, err := env.Client.ScheduleNewOrchestration(context.Background(), "one_step", api.WithInstanceID("s-1")); err != nil {
		t.Fatal(err)
	}
	within(t, started, 15*time.Second, "the activity starting")
	stopped := inBackground(stop)
	select {
	case <-stopped:
		t.Fatal("the listener stopped with its activity still running")
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	within(t, stopped, 15*time.Second, "the listener stopping once its activity finished")

	listen(t, env.Scheduler, exec, worker.ListenerOptions{Logger: testenv.Quiet()})
	md := ended(t, env, "s-1", 15*time.Second)
	if md.RuntimeStatus != api.RUNTIME_STATUS_COMPLETED || md.SerializedOutput != `"done"` || runs.Load() != 1 {
		t.Fatalf("ended %v with %q after %d runs of the activity; want completed with %q after one", md.RuntimeStatus, md.SerializedOutput, runs.Load(), "done")
	}
}

// A stopping listener waits no longer than its grace for an activity
// that would never end, and then cancels the activity's context.
func TestStopIsBounded(t *testing.T) {
	env := testenv.StartWith(t, apiBase, testenv.Options{NoWorker: true})
	started, cancelled := make(chan struct{}, 1), make(chan struct{})
	exec := task.NewTaskExecutor(oneStep(t, func(ctx task.ActivityContext) (any, error) {
		started <- struct{}{}
		<-ctx.Context().Done()
		close(cancelled)
		return nil, ctx.Context().Err()
	}))
	stop := listen(t, env.Scheduler, exec, worker.ListenerOptions{ShutdownGrace: 100 * time.Millisecond, Logger: testenv.Quiet()})
	if _, err := env.Client.ScheduleNewOrchestration(context.Background(), "one_step"); err != nil {
		t.Fatal(err)
	}
	within(t, started, 15*time.Second, "the activity starting")
	stopped := inBackground(stop)
	within(t, stopped, 10*time.Second, "the listener stopping")
	within(t, cancelled, 10*time.Second, "the activity's context being cancelled")
}

// cutter is a TCP proxy to the scheduler whose connections a test cuts,
// as a network fault or a load balancer would.
type cutter struct {
	ln net.Listener
	mu sync.Mutex
	cs []net.Conn
}

func newCutter(t *testing.T, target string) *cutter {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{ln: ln}
	t.Cleanup(func() {
		ln.Close()
		c.cut()
	})
	go func() {
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				down.Close()
				continue
			}
			c.mu.Lock()
			c.cs = append(c.cs, down, up)
			c.mu.Unlock()
			go io.Copy(up, down)
			go io.Copy(down, up)
		}
	}()
	return c
}

func (c *cutter) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.cs {
		conn.Close()
	}
	c.cs = nil
}

// A listener whose connection is cut reconnects, says so, and serves
// approvals started before and after.
func TestListenerReconnects(t *testing.T) {
	env := testenv.StartWith(t, apiBase, testenv.Options{NoWorker: true})
	proxy := newCutter(t, env.Scheduler.Address)
	cfg := env.Scheduler
	cfg.Address = proxy.ln.Addr().String()
	logs := &dtstest.Logs{}
	listen(t, cfg, task.NewTaskExecutor(approvalRegistry(t)), worker.ListenerOptions{Logger: slog.New(slog.NewJSONHandler(logs, nil))})

	startApproval(t, env, "before")
	testenv.WaitCustomStatus(t, env.Client, "before")
	proxy.cut()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(logs.String(), "work item stream reconnected") {
		if time.Now().After(deadline) {
			t.Fatalf("no reconnection within 15 s:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "work item stream broken; reconnecting") {
		t.Errorf("the break was not logged:\n%s", logs)
	}
	startApproval(t, env, "after")
	testenv.WaitCustomStatus(t, env.Client, "after")
	approve(t, env, "before")
	approve(t, env, "after")
	approved(t, env, "before")
	approved(t, env, "after")
}

// inBackground runs stop on its own goroutine and closes the channel it
// returns when stop has returned.
func inBackground(stop func()) <-chan struct{} {
	stopped := make(chan struct{})
	go func() {
		stop()
		close(stopped)
	}()
	return stopped
}
