// Package delegations reads and changes people's delegations where they
// are kept: each person's ledger orchestration (approval.Delegations) on
// the scheduler. It asks only for instances by ID (read the status, start,
// raise an event), which every backend serves, the embedded scheduler,
// durabletask-go's own sidecar and the Durable Task Scheduler alike; no
// query across instances.
package delegations

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
)

// Store reads and changes ledgers over a scheduler connection.
type Store struct {
	client *client.TaskHubGrpcClient
}

// New returns a Store calling over conn.
func New(conn grpc.ClientConnInterface, log backend.Logger) *Store {
	return &Store{client: client.NewTaskHubGrpcClient(conn, log)}
}

// Ledger returns person's ledger: an empty one when they never delegated
// nor received a delegation.
func (s *Store) Ledger(ctx context.Context, person string) (approval.Ledger, error) {
	id, err := approval.DelegationsInstanceID(person)
	if err != nil {
		return approval.Ledger{}, err
	}
	md, err := s.client.FetchOrchestrationMetadata(ctx, api.InstanceID(id), api.WithFetchPayloads(true))
	if errors.Is(err, api.ErrInstanceNotFound) {
		return approval.Ledger{Delegator: person}, nil
	}
	if err != nil {
		return approval.Ledger{}, fmt.Errorf("read the delegations of %s: %w", person, err)
	}
	l, ok := approval.LedgerOf(md)
	if !ok {
		return approval.Ledger{}, fmt.Errorf("instance %s is not a delegations ledger", id)
	}
	return l, nil
}

// Send asks person's ledger to make the change ev, starting the ledger
// first when person has none. The ledger applies it a moment later.
func (s *Store) Send(ctx context.Context, person string, ev approval.DelegationEvent) error {
	id, err := approval.DelegationsInstanceID(person)
	if err != nil {
		return err
	}
	md, err := s.client.FetchOrchestrationMetadata(ctx, api.InstanceID(id))
	switch {
	case errors.Is(err, api.ErrInstanceNotFound):
		_, err = s.client.ScheduleNewOrchestration(ctx, approval.DelegationsOrchestratorName,
			api.WithInstanceID(api.InstanceID(id)), api.WithInput(approval.Ledger{Delegator: person}))
		// Started by a change sent at the same moment: it takes this
		// one too.
		if err != nil && status.Code(err) != codes.AlreadyExists && !errors.Is(err, api.ErrDuplicateInstance) {
			return fmt.Errorf("start the delegations of %s: %w", person, err)
		}
	case err != nil:
		return fmt.Errorf("read the delegations of %s: %w", person, err)
	case md.RuntimeStatus != api.RUNTIME_STATUS_RUNNING && md.RuntimeStatus != api.RUNTIME_STATUS_PENDING &&
		md.RuntimeStatus != api.RUNTIME_STATUS_CONTINUED_AS_NEW:
		// An ended ledger drops events: tell, rather than lose the change.
		return fmt.Errorf("the delegations of %s are kept by instance %s, which has ended (%s)", person, id, md.RuntimeStatus)
	}
	if err := s.client.RaiseEvent(ctx, api.InstanceID(id), approval.DelegationEventName, api.WithEventPayload(ev)); err != nil {
		return fmt.Errorf("send a delegation change for %s: %w", person, err)
	}
	return nil
}

// Source is the delegations as the rules read them, through s within
// ctx, each ledger read once.
func (s *Store) Source(ctx context.Context) approval.DelegationSource {
	return &source{store: s, ctx: ctx, read: map[string]approval.Ledger{}}
}

type source struct {
	store *Store
	ctx   context.Context
	read  map[string]approval.Ledger
}

func (s *source) ledger(person string) (approval.Ledger, error) {
	key, err := approval.CanonicalName(person)
	if err != nil {
		return approval.Ledger{}, err
	}
	if l, ok := s.read[key]; ok {
		return l, nil
	}
	l, err := s.store.Ledger(s.ctx, person)
	if err != nil {
		return approval.Ledger{}, err
	}
	s.read[key] = l
	return l, nil
}

func (s *source) Given(person string) ([]approval.Delegation, error) {
	l, err := s.ledger(person)
	return l.Delegations, err
}

func (s *source) Received(person string) ([]approval.Delegation, error) {
	l, err := s.ledger(person)
	return l.Received, err
}
