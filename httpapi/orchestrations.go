package httpapi

import (
	"context"
	"errors"
	"fmt"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/approvals-go/approvals/approval"
)

// Errors an Orchestrations implementation reports.
var (
	ErrNotFound = errors.New("approval not found")
	ErrExists   = errors.New("approval already exists")
)

// Orchestrations is what the API needs from the scheduler.
type Orchestrations interface {
	Start(ctx context.Context, req approval.Request) error
	Get(ctx context.Context, id string) (*api.OrchestrationMetadata, error)
	Decide(ctx context.Context, id string, d approval.Decision) error
	// Wait returns the approval once it has ended, or an error when ctx
	// ends first.
	Wait(ctx context.Context, id string) (*api.OrchestrationMetadata, error)
}

// Scheduler implements Orchestrations with durabletask-go's gRPC client.
type Scheduler struct{ Client *client.TaskHubGrpcClient }

// Start implements Orchestrations.
func (s Scheduler) Start(ctx context.Context, req approval.Request) error {
	_, err := s.Client.ScheduleNewOrchestration(ctx, approval.OrchestratorName,
		api.WithInstanceID(api.InstanceID(req.RequestID)), api.WithInput(req))
	if status.Code(err) == codes.AlreadyExists || errors.Is(err, api.ErrDuplicateInstance) {
		return ErrExists
	}
	if err != nil {
		return fmt.Errorf("start approval %s: %w", req.RequestID, err)
	}
	return nil
}

// Get implements Orchestrations.
func (s Scheduler) Get(ctx context.Context, id string) (*api.OrchestrationMetadata, error) {
	md, err := s.Client.FetchOrchestrationMetadata(ctx, api.InstanceID(id), api.WithFetchPayloads(true))
	// Only the scheduler's "no such instance" is a 404; a NotFound status
	// (a task hub the scheduler does not serve) is a configuration error.
	if errors.Is(err, api.ErrInstanceNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read approval %s: %w", id, err)
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
	if errors.Is(err, api.ErrInstanceNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("wait for approval %s: %w", id, err)
	}
	return md, nil
}
