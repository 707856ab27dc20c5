// Package worker runs the approval orchestrator and activities against a
// scheduler. All state lives in the scheduler, so a worker can stop and
// start at any time without losing an approval.
package worker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/microsoft/durabletask-go/client"
	"github.com/microsoft/durabletask-go/task"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/config"
	"github.com/approvals-go/approvals/dts"
)

// Run connects to the scheduler and processes work items until ctx ends.
// If the scheduler is not reachable yet it keeps trying, saying so once.
func Run(ctx context.Context, cfg config.Worker, log *slog.Logger) error {
	sched, err := cfg.Scheduler.Resolve()
	if err != nil {
		return err
	}
	sched.Logger = log
	r := task.NewTaskRegistry()
	if err := approval.Register(r, approval.NewActivities(cfg.APIBaseURL, log)); err != nil {
		return err
	}
	conn, err := dts.Dial(ctx, sched, dts.RoleWorker)
	if err != nil {
		return err
	}
	defer conn.Close()
	c := client.NewTaskHubGrpcClient(conn, dts.Logger(log.With("source", "durabletask-go")))

	delay := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := dts.Check(ctx, conn)
		if err == nil {
			err = c.StartWorkItemListener(ctx, r)
		}
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		if dts.Permanent(err) {
			return fmt.Errorf("scheduler %s refused the worker for task hub %q: %w", sched.Address, sched.TaskHub, err)
		}
		if attempt == 1 {
			log.Warn("scheduler not reachable yet; retrying quietly", "scheduler", sched.Address, "taskhub", sched.TaskHub, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		delay = min(delay*2, 15*time.Second)
	}
	log.Info("worker started", "scheduler", sched.Address, "taskhub", sched.TaskHub,
		"orchestrator", approval.OrchestratorName, "activities", []string{approval.SubmitActivityName, approval.ProcessActivityName})
	<-ctx.Done()
	log.Info("worker stopping")
	return nil
}
