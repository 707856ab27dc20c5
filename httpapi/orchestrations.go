package httpapi

import (
	"context"
	"errors"
	"fmt"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"
	"github.com/microsoft/durabletask-go/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/dts/mgmt"
)

// Errors an Orchestrations implementation reports.
var (
	ErrNotFound = errors.New("approval not found")
	ErrExists   = errors.New("approval already exists")
	// ErrBusy is a start the scheduler refused because it has more work
	// waiting than it takes on: nothing was started.
	ErrBusy = errors.New("scheduler busy")
)

// Orchestrations is what the API needs from the scheduler.
type Orchestrations interface {
	Start(ctx context.Context, req approval.Request) error
	Get(ctx context.Context, id string) (*api.OrchestrationMetadata, error)
	Decide(ctx context.Context, id string, d approval.Decision) error
	// Wait returns the approval once it has ended, or an error when ctx
	// ends first.
	Wait(ctx context.Context, id string) (*api.OrchestrationMetadata, error)
	// Query returns one page of the orchestrations q selects, newest
	// first. A continuation token the scheduler does not accept is a
	// gRPC InvalidArgument.
	Query(ctx context.Context, q mgmt.Query) (mgmt.Page, error)
}

// Scheduler implements Orchestrations with durabletask-go's gRPC client
// and, for the calls v0.6.0's client lacks, the management client. Both
// may share one connection.
type Scheduler struct {
	Client     *client.TaskHubGrpcClient
	Management *mgmt.Client
}

// NewScheduler returns a Scheduler calling over conn, such as one from
// dts.Dial with dts.RoleClient.
func NewScheduler(conn grpc.ClientConnInterface, log backend.Logger) Scheduler {
	return Scheduler{Client: client.NewTaskHubGrpcClient(conn, log), Management: mgmt.New(conn)}
}

// Start implements Orchestrations.
func (s Scheduler) Start(ctx context.Context, req approval.Request) error {
	_, err := s.Client.ScheduleNewOrchestration(ctx, approval.OrchestratorName,
		api.WithInstanceID(api.InstanceID(req.RequestID)), api.WithInput(req))
	if status.Code(err) == codes.AlreadyExists || errors.Is(err, api.ErrDuplicateInstance) {
		return ErrExists
	}
	// Both the embedded scheduler and the Azure service refuse a start
	// they are too busy to take with RESOURCE_EXHAUSTED.
	if status.Code(err) == codes.ResourceExhausted {
		return fmt.Errorf("start approval %s: %w: %v", req.RequestID, ErrBusy, err)
	}
	if err != nil {
		return fmt.Errorf("start approval %s: %w", req.RequestID, err)
	}
	return nil
}

// Get implements Orchestrations.
func (s Scheduler) Get(ctx context.Context, id string) (*api.OrchestrationMetadata, error) {
	md, err := s.Client.FetchOrchestrationMetadata(ctx, api.InstanceID(id), api.WithFetchPayloads(true))
	return metadata(md, err, "read approval "+id)
}

// metadata is what Get and Wait answer. Only the scheduler's "no such
// instance" is a 404; a NotFound status (a task hub the scheduler does not
// serve) is a configuration error.
func metadata(md *api.OrchestrationMetadata, err error, what string) (*api.OrchestrationMetadata, error) {
	if errors.Is(err, api.ErrInstanceNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return md, nil
}

// Decide implements Orchestrations.
func (s Scheduler) Decide(ctx context.Context, id string, d approval.Decision) error {
	err := s.Client.RaiseEvent(ctx, api.InstanceID(id), approval.DecisionEventName, api.WithEventPayload(d))
	// The API reads the approval first, so a NotFound here means it was
	// purged in between, not a wrong task hub.
	if status.Code(err) == codes.NotFound {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("send decision for %s: %w", id, err)
	}
	return nil
}

// Wait implements Orchestrations.
func (s Scheduler) Wait(ctx context.Context, id string) (*api.OrchestrationMetadata, error) {
	md, err := s.Client.WaitForOrchestrationCompletion(ctx, api.InstanceID(id), api.WithFetchPayloads(true))
	return metadata(md, err, "wait for approval "+id)
}

// Query implements Orchestrations.
func (s Scheduler) Query(ctx context.Context, q mgmt.Query) (mgmt.Page, error) {
	if s.Management == nil {
		return mgmt.Page{}, errors.New("list approvals: no management client")
	}
	page, err := s.Management.QueryInstances(ctx, q)
	if err != nil {
		return mgmt.Page{}, fmt.Errorf("list approvals: %w", err)
	}
	return page, nil
}
