package mgmt

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/microsoft/durabletask-go/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// entityMethods serves RewindInstance, the entity calls of clients
// (SignalEntity, GetEntity, QueryEntities, CleanEntityStorage) and of
// workers (CompleteEntityTask, AbandonTaskEntityWorkItem).
func entityMethods(serviceFor func(context.Context) Service) []grpc.MethodDesc {
	return []grpc.MethodDesc{
		unary("RewindInstance", msgRewindInstanceRequest, func(ctx context.Context, req fields) (proto.Message, error) {
			id := api.InstanceID(req.str("instanceId"))
			if id == "" {
				return nil, status.Error(codes.InvalidArgument, "RewindInstance: instanceId is required")
			}
			reason, _ := req.wrapped("reason")
			if err := serviceFor(ctx).Rewind(ctx, id, reason); err != nil {
				return nil, err
			}
			return newMessage(msgRewindInstanceResponse).message(), nil
		}),
		unary("SignalEntity", msgSignalEntityRequest, func(ctx context.Context, req fields) (proto.Message, error) {
			m := &EntityMessage{Kind: EntitySignal, Target: req.str("instanceId"), Operation: req.str("name"),
				RequestID: req.str("requestId"), ScheduledTime: req.time("scheduledTime")}
			if err := checkEntityID(m.Target); err != nil {
				return nil, err
			}
			if m.Operation == "" {
				return nil, status.Error(codes.InvalidArgument, "SignalEntity: name (the operation) is required")
			}
			if m.RequestID == "" {
				m.RequestID = uuid.NewString()
			}
			m.Input, m.HasInput = req.wrapped("input")
			if err := serviceFor(ctx).SignalEntity(ctx, m); err != nil {
				return nil, err
			}
			return newMessage(msgSignalEntityResponse).message(), nil
		}),
		unary("GetEntity", msgGetEntityRequest, func(ctx context.Context, req fields) (proto.Message, error) {
			id := req.str("instanceId")
			if err := checkEntityID(id); err != nil {
				return nil, err
			}
			resp := newMessage(msgGetEntityResponse)
			e, err := serviceFor(ctx).Entity(ctx, id, req.boolean("includeState"))
			if errors.Is(err, ErrEntityNotFound) {
				return resp.message(), nil
			}
			if err != nil {
				return nil, err
			}
			resp.setBool("exists", true)
			resp.m.Set(resp.fd("entity"), protoreflect.ValueOfMessage(entityMetadata(e, req.boolean("includeState")).m))
			return resp.message(), nil
		}),
		unary("QueryEntities", msgQueryEntitiesRequest, func(ctx context.Context, req fields) (proto.Message, error) {
			q, err := entityQueryOf(req.get("query"))
			if err != nil {
				return nil, err
			}
			page, err := serviceFor(ctx).QueryEntities(ctx, q)
			if err != nil {
				return nil, err
			}
			resp := newMessage(msgQueryEntitiesResponse)
			list := resp.m.Mutable(resp.fd("entities")).List()
			for _, e := range page.Entities {
				list.Append(protoreflect.ValueOfMessage(entityMetadata(e, q.IncludeState).m))
			}
			if page.ContinuationToken != "" {
				resp.setWrapped("continuationToken", page.ContinuationToken)
			}
			return resp.message(), nil
		}),
		unary("CleanEntityStorage", msgCleanEntityStorageRequest, func(ctx context.Context, req fields) (proto.Message, error) {
			r := CleanEntities{RemoveEmpty: req.boolean("removeEmptyEntities"), ReleaseOrphanedLocks: req.boolean("releaseOrphanedLocks")}
			done, err := serviceFor(ctx).CleanEntityStorage(ctx, r)
			if err != nil {
				return nil, err
			}
			resp := newMessage(msgCleanEntityStorageResponse)
			resp.setInt32("emptyEntitiesRemoved", int32(done.EmptyRemoved))
			resp.setInt32("orphanedLocksReleased", int32(done.LocksReleased))
			// Everything is done in one call, so the response never
			// carries a continuationToken and the request's is ignored.
			return resp.message(), nil
		}),
		unary("CompleteEntityTask", msgEntityBatchResult, func(ctx context.Context, req fields) (proto.Message, error) {
			r, err := entityBatchResultOf(req)
			if err != nil {
				return nil, status.Errorf(codes.InvalidArgument, "CompleteEntityTask: %v", err)
			}
			if r.CompletionToken == "" {
				return nil, status.Error(codes.InvalidArgument, "CompleteEntityTask: completionToken is required: echo the work item's")
			}
			if err := serviceFor(ctx).CompleteEntityTask(ctx, r); err != nil {
				return nil, err
			}
			return newMessage(msgCompleteTaskResponse).message(), nil
		}),
		unary("AbandonTaskEntityWorkItem", msgAbandonEntityTaskRequest, func(ctx context.Context, req fields) (proto.Message, error) {
			if err := serviceFor(ctx).AbandonEntityTask(ctx, req.str("completionToken")); err != nil {
				return nil, err
			}
			return newMessage(msgAbandonEntityTaskResponse).message(), nil
		}),
	}
}

// checkEntityID refuses an ID that is not "@name@key".
func checkEntityID(id string) error {
	if _, _, ok := SplitEntityID(id); !ok {
		return status.Errorf(codes.InvalidArgument, "entity instance ID %q is not of the form @name@key", id)
	}
	return nil
}
