// Package worker runs the approval orchestrator and activities against a
// scheduler. All state lives in the scheduler, so a worker can stop and
// start at any time without losing an approval.
package worker

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/microsoft/durabletask-go/task"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/audit/blobexport"
	"github.com/approvals-go/approvals/config"
	"github.com/approvals-go/approvals/dts"
	"github.com/approvals-go/approvals/dts/mgmt"
	"github.com/approvals-go/approvals/internal/delegations"
	"github.com/approvals-go/approvals/internal/wire"
	"github.com/approvals-go/approvals/notify"
)

// Run connects to the scheduler and processes work items until ctx ends.
// If the scheduler is not reachable yet it keeps trying, saying so once; if
// it refuses the worker's identity it keeps trying for cfg.AccessWait after
// start (role assignments take minutes to apply after a first deployment),
// saying so once, and then gives up. Notices go through the channels cfg
// names and the extra ones, such as cmd/dev's outbox.
func Run(ctx context.Context, cfg config.Worker, log *slog.Logger, extra ...notify.Channel) error {
	sched, err := dts.Settings(cfg.Scheduler).Resolve()
	if err != nil {
		return err
	}
	sched.Logger = log
	links, err := wire.LinkSigner(cfg.Links)
	if err != nil {
		return err
	}
	acts := approval.NewActivities(cfg.APIBaseURL, log)
	acts.Links = links
	if acts.Groups, err = wire.Groups(cfg.GroupsFile); err != nil {
		return err
	}
	// A configuration built in code (cmd/dev) names no channel: the log.
	if cfg.Notify.Channels == "" {
		cfg.Notify.Channels = config.ChannelLog
	}
	notifier, err := wire.Notifier(cfg.Notify, log)
	if err != nil {
		return err
	}
	notifier = append(notifier, extra...)
	acts.Notifier = notifier
	if acts.Callbacks, err = wire.Callbacks(cfg.Notify); err != nil {
		return err
	}
	r := task.NewTaskRegistry()
	if err := approval.Register(r, acts); err != nil {
		return err
	}
	// The audit export writes as the identity the scheduler connection
	// uses, unless a connection string gives it an account key.
	cred := sched.Credential
	if cred == nil && cfg.AuditExport.ContainerURL != "" {
		if cred, err = dts.NewCredential(sched); err != nil {
			return err
		}
	}
	auditContainer, auditSigner, err := wire.AuditExport(cfg.AuditExport, cfg.Audit, cred)
	if err != nil {
		return err
	}
	conn, err := dts.Dial(ctx, sched, dts.RoleWorker)
	if err != nil {
		return err
	}
	defer conn.Close()
	acts.Delegations = delegations.New(conn, dts.Logger(log))
	listener := NewListener(conn, task.NewTaskExecutor(r), ListenerOptions{
		MaxOrchestrations: sched.MaxOrchestrationWorkItems,
		MaxActivities:     sched.MaxActivityWorkItems,
		SlowActivities:    approval.SlowActivities(),
		Logger:            log,
	})

	start := dts.Startup{Config: sched, AccessWait: cfg.AccessWait, Logger: log}
	err = start.Wait(ctx, listener.Start)
	if err != nil && ctx.Err() != nil {
		return nil
	}
	if dts.AccessDenied(err) {
		return fmt.Errorf("%w; the worker's identity needs the Durable Task Worker role on the task hub", err)
	}
	if err != nil {
		return fmt.Errorf("scheduler %s refused the worker for task hub %q: %w", sched.Address, sched.TaskHub, err)
	}
	log.Info("worker started", "scheduler", sched.Address, "taskhub", sched.TaskHub, "notify", notifier.Names(),
		"orchestrator", approval.OrchestratorName, "activities", []string{approval.SubmitActivityName, approval.ProcessActivityName},
		"audit_export", auditContainer != nil)
	exported := make(chan struct{})
	go func() {
		defer close(exported)
		if auditContainer != nil {
			exporter := &blobexport.Exporter{Source: mgmt.New(conn), Container: auditContainer, Signer: auditSigner,
				Every: cfg.AuditExport.ExportEvery, Lookback: cfg.AuditExport.ExportLookback, Log: log}
			exporter.Run(ctx)
		}
	}()
	<-ctx.Done()
	<-exported
	log.Info("worker stopping")
	<-listener.Done()
	log.Info("worker stopped")
	return nil
}
