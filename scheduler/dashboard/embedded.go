package dashboard

import (
	"context"
	"fmt"
	"strings"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"

	"github.com/approvals-go/approvals/dts/mgmt"
	"github.com/approvals-go/approvals/scheduler"
)

// Embedded returns the task hubs of an embedded scheduler in the same
// process. Reads go through each store's Reader, never the writer; actions
// go through the store the way the scheduler's own gRPC service sends them,
// so that an event raised here is the same event a client would raise.
func Embedded(srv *scheduler.Server) []Hub {
	var hubs []Hub
	for _, name := range srv.TaskHubs() {
		store := srv.Store(name)
		hubs = append(hubs, embeddedHub{name: name, store: store, reader: store.Reader(), client: backend.NewTaskHubClient(store)})
	}
	return hubs
}

type embeddedHub struct {
	name   string
	store  *scheduler.Store
	reader *scheduler.Reader
	client backend.TaskHubClient
}

func (h embeddedHub) Name() string { return h.name }

func (h embeddedHub) List(ctx context.Context, f scheduler.Filter, s scheduler.Sort, offset, limit int) ([]*mgmt.Instance, error) {
	return h.reader.ListInstances(ctx, f, s, offset, limit)
}

func (h embeddedHub) Counts(ctx context.Context, f scheduler.Filter) (map[api.OrchestrationStatus]int, error) {
	return h.reader.CountInstances(ctx, f)
}

func (h embeddedHub) Instance(ctx context.Context, id api.InstanceID) (*mgmt.Instance, error) {
	return h.reader.Instance(ctx, id, true)
}

func (h embeddedHub) History(ctx context.Context, id api.InstanceID, offset, limit int) ([]*backend.HistoryEvent, int, error) {
	return h.reader.HistoryWindow(ctx, id, offset, limit)
}

func (h embeddedHub) Start(ctx context.Context, name string, id api.InstanceID, input string) (api.InstanceID, error) {
	var opts []api.NewOrchestrationOptions
	if id != "" {
		opts = append(opts, api.WithInstanceID(id))
	}
	if input != "" {
		opts = append(opts, api.WithRawInput(input))
	}
	return h.client.ScheduleNewOrchestration(ctx, name, opts...)
}

func (h embeddedHub) Raise(ctx context.Context, id api.InstanceID, event, payload string) error {
	var opts []api.RaiseEventOptions
	if payload != "" {
		opts = append(opts, api.WithRawEventData(payload))
	}
	return h.client.RaiseEvent(ctx, id, event, opts...)
}

func (h embeddedHub) Terminate(ctx context.Context, id api.InstanceID, reason string) error {
	// The reason becomes the output as a JSON string, as the official
	// SDKs send it.
	return h.client.TerminateOrchestration(ctx, id, api.WithOutput(reason))
}

func (h embeddedHub) Suspend(ctx context.Context, id api.InstanceID, reason string) error {
	return h.client.SuspendOrchestration(ctx, id, reason)
}

func (h embeddedHub) Resume(ctx context.Context, id api.InstanceID, reason string) error {
	return h.client.ResumeOrchestration(ctx, id, reason)
}

func (h embeddedHub) Restart(ctx context.Context, id api.InstanceID, newID bool) (api.InstanceID, error) {
	return h.store.Restart(ctx, id, newID)
}

func (h embeddedHub) Rewind(ctx context.Context, id api.InstanceID, reason string) error {
	return h.store.Rewind(ctx, id, reason)
}

func (h embeddedHub) Purge(ctx context.Context, ids []api.InstanceID) (int, error) {
	return h.store.Purge(ctx, mgmt.PurgeRequest{IDs: ids})
}

func (h embeddedHub) Entities(ctx context.Context, q mgmt.EntityQuery) (mgmt.EntityPage, error) {
	return h.reader.QueryEntities(ctx, q)
}

// Entity finds an entity with or without state (a client's GetEntity
// does not see one without).
func (h embeddedHub) Entity(ctx context.Context, id string) (*mgmt.Entity, error) {
	page, err := h.reader.QueryEntities(ctx, mgmt.EntityQuery{IDPrefix: id, IncludeState: true, IncludeTransient: true, PageSize: 1})
	if err != nil {
		return nil, err
	}
	if len(page.Entities) == 0 || !sameEntity(page.Entities[0].ID, id) {
		return nil, fmt.Errorf("%s: %w", id, mgmt.ErrEntityNotFound)
	}
	return page.Entities[0], nil
}

// sameEntity compares entity IDs as the SDKs do: the name regardless of
// case, the key exactly.
func sameEntity(a, b string) bool {
	an, ak, _ := mgmt.SplitEntityID(a)
	bn, bk, _ := mgmt.SplitEntityID(b)
	return strings.EqualFold(an, bn) && ak == bk
}
