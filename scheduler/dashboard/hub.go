// Package dashboard is the embedded scheduler's web dashboard, the
// stand-in for the one the Durable Task Scheduler emulator serves on port
// 8082: task hubs with their counts by status, instances newest first with
// filters in the URL, one instance with its payloads and its history as a
// timeline, the durable entities and one entity's state, and the
// operator's actions (start, raise an event, terminate, suspend, resume,
// restart, rewind, purge, and bulk terminate and purge), each behind a
// confirmation. The same port answers the
// emulator's JSON API under /api/v1/taskhubs/, which the Azure CLI's
// durabletask extension, the VS Code extension and .NET Aspire call.
//
// Pages are rendered on the server from templates parsed once; assets are
// embedded and served under content-hashed names; nothing needs
// JavaScript, and the one script (auto-refresh, which can be paused) runs
// under a Content-Security-Policy without 'unsafe-inline'. Cross-site
// posts are refused.
//
// The dashboard reads and acts through Hub, declared here; Embedded
// implements it on the embedded scheduler's stores, reading through each
// store's Reader so that no page holds up the scheduler's writes.
//
// It shows any orchestration and knows none: an application adds what it
// knows of its own (a summary of an instance, a section of its page, notes
// on its history, actions such as deciding an approval) through App,
// declared here too and wired in by cmd/.
package dashboard

import (
	"context"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"

	"github.com/approvals-go/approvals/dts/mgmt"
	"github.com/approvals-go/approvals/scheduler"
)

// Hub is one task hub as the dashboard reads and drives it. Errors that
// wrap api.ErrInstanceNotFound mean there is no such instance.
type Hub interface {
	Name() string
	// List returns up to limit instances f selects in order s, after
	// skipping offset, with their custom status but without inputs,
	// outputs and failure details. Filter and Sort are the scheduler's,
	// the same that its QueryInstances selects with.
	List(ctx context.Context, f scheduler.Filter, s scheduler.Sort, offset, limit int) ([]*mgmt.Instance, error)
	// Counts returns how many instances f selects in each status,
	// ignoring f.Statuses.
	Counts(ctx context.Context, f scheduler.Filter) (map[api.OrchestrationStatus]int, error)
	// Instance reads one instance with its payloads.
	Instance(ctx context.Context, id api.InstanceID) (*mgmt.Instance, error)
	// History returns up to limit events of the instance's history from
	// the offset-th on, and how many it holds.
	History(ctx context.Context, id api.InstanceID, offset, limit int) ([]*backend.HistoryEvent, int, error)

	// Start schedules a new orchestration; input is JSON or empty.
	Start(ctx context.Context, name string, id api.InstanceID, input string) (api.InstanceID, error)
	// Raise sends an event with a JSON (or empty) payload.
	Raise(ctx context.Context, id api.InstanceID, event, payload string) error
	// Terminate ends a running instance with reason as its output.
	Terminate(ctx context.Context, id api.InstanceID, reason string) error
	Suspend(ctx context.Context, id api.InstanceID, reason string) error
	Resume(ctx context.Context, id api.InstanceID, reason string) error
	// Restart starts a finished instance again, under its own ID or a new
	// one, and returns the ID it runs under.
	Restart(ctx context.Context, id api.InstanceID, newID bool) (api.InstanceID, error)
	// Rewind reruns the failed tasks of a failed instance; an instance in
	// another status is an error wrapping mgmt.ErrNotFailed.
	Rewind(ctx context.Context, id api.InstanceID, reason string) error
	// Purge deletes those of ids that have finished and returns how many.
	Purge(ctx context.Context, ids []api.InstanceID) (int, error)

	// Entities returns a page of the durable entities q selects, in ID
	// order.
	Entities(ctx context.Context, q mgmt.EntityQuery) (mgmt.EntityPage, error)
	// Entity reads one entity, with its state if it has one; an unknown
	// entity is an error wrapping mgmt.ErrEntityNotFound.
	Entity(ctx context.Context, id string) (*mgmt.Entity, error)
}
