package mgmt

import (
	"context"
	"errors"
	"strings"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/approvals-go/approvals/dts/dtsproto"
)

// Service is the scheduler's side of the management calls that Methods
// serves. Errors wrapping api.ErrInstanceNotFound or api.ErrNotCompleted
// are answered NotFound and FailedPrecondition; gRPC status errors as they
// are.
type Service interface {
	// Instance reads one instance; payloads adds inputs, outputs, custom
	// status and failure details.
	Instance(ctx context.Context, id api.InstanceID, payloads bool) (*Instance, error)
	// WaitForInstance returns the instance once done holds for its status,
	// or fails when ctx ends.
	WaitForInstance(ctx context.Context, id api.InstanceID, payloads bool, done func(api.OrchestrationStatus) bool) (*Instance, error)
	QueryInstances(ctx context.Context, q Query) (Page, error)
	ListInstanceIDs(ctx context.Context, q IDQuery) (IDPage, error)
	// History is the history of the instance's current execution;
	// executionID, when not empty, must name that execution.
	History(ctx context.Context, id api.InstanceID, executionID string) ([]*backend.HistoryEvent, error)
	// Purge returns how many instances it deleted.
	Purge(ctx context.Context, r PurgeRequest) (int, error)
	Restart(ctx context.Context, id api.InstanceID, newInstanceID bool) (api.InstanceID, error)
	// Rewind reruns the failed tasks of a failed orchestration; an
	// instance in another status is an error wrapping ErrNotFailed.
	Rewind(ctx context.Context, id api.InstanceID, reason string) error

	// SignalEntity queues an operation for an entity.
	SignalEntity(ctx context.Context, m *EntityMessage) error
	// Entity reads one entity; an entity that does not exist is an error
	// wrapping ErrEntityNotFound.
	Entity(ctx context.Context, id string, withState bool) (*Entity, error)
	QueryEntities(ctx context.Context, q EntityQuery) (EntityPage, error)
	CleanEntityStorage(ctx context.Context, r CleanEntities) (CleanedEntities, error)
	// CompleteEntityTask saves what a worker did with an entity work item;
	// AbandonEntityTask gives one back to be run again. Both identify the
	// work item by its completion token.
	CompleteEntityTask(ctx context.Context, r EntityBatchResult) error
	AbandonEntityTask(ctx context.Context, completionToken string) error
}

// ErrNotFailed is the error Rewind wraps for an instance that has not
// failed; it is answered FailedPrecondition.
var ErrNotFailed = errors.New("only a failed orchestration can be rewound")

// ErrEntityNotFound is the error Entity wraps for an unknown entity.
var ErrEntityNotFound = errors.New("entity not found")

// History chunks stay well under the 64 MiB message limit and give a
// client its first events early.
const (
	maxChunkEvents = 100
	maxChunkBytes  = 1 << 20
)

// Methods returns the TaskHubSidecarService methods that serve the
// management calls from the Service that serviceFor picks for each call.
// serviceFor sees the context the server's interceptors produced. Add them
// to a grpc.ServiceDesc for "TaskHubSidecarService", replacing any methods
// of the same names.
func Methods(serviceFor func(context.Context) Service) ([]grpc.MethodDesc, []grpc.StreamDesc) {
	methods := []grpc.MethodDesc{
		unary("GetInstance", msgGetInstanceRequest, func(ctx context.Context, req fields) (proto.Message, error) {
			in, err := serviceFor(ctx).Instance(ctx, api.InstanceID(req.str("instanceId")), req.boolean("getInputsAndOutputs"))
			return instanceResponse(in, req, err)
		}),
		unary("WaitForInstanceStart", msgGetInstanceRequest, func(ctx context.Context, req fields) (proto.Message, error) {
			in, err := serviceFor(ctx).WaitForInstance(ctx, api.InstanceID(req.str("instanceId")), req.boolean("getInputsAndOutputs"), started)
			return instanceResponse(in, req, err)
		}),
		unary("WaitForInstanceCompletion", msgGetInstanceRequest, func(ctx context.Context, req fields) (proto.Message, error) {
			in, err := serviceFor(ctx).WaitForInstance(ctx, api.InstanceID(req.str("instanceId")), req.boolean("getInputsAndOutputs"), Final)
			return instanceResponse(in, req, err)
		}),
		unary("QueryInstances", msgQueryInstancesRequest, func(ctx context.Context, req fields) (proto.Message, error) {
			q, err := queryOf(req.get("query"))
			if err != nil {
				return nil, err
			}
			page, err := serviceFor(ctx).QueryInstances(ctx, q)
			if err != nil {
				return nil, err
			}
			resp := newMessage(msgQueryInstancesResponse)
			states := resp.m.Mutable(resp.fd("orchestrationState")).List()
			for _, in := range page.Instances {
				states.Append(protoreflect.ValueOfMessage(stateMessage(in, q.FetchPayloads).m))
			}
			if page.ContinuationToken != "" {
				resp.setWrapped("continuationToken", page.ContinuationToken)
			}
			return resp.message(), nil
		}),
		unary("ListInstanceIds", msgListInstanceIdsRequest, func(ctx context.Context, req fields) (proto.Message, error) {
			size, err := requestedSize(req.int32("pageSize"))
			if err != nil {
				return nil, err
			}
			q := IDQuery{Statuses: req.statuses("runtimeStatus"), CompletedFrom: req.time("completedTimeFrom"),
				CompletedTo: req.time("completedTimeTo"), PageSize: size}
			q.LastInstanceKey, _ = req.wrapped("lastInstanceKey")
			page, err := serviceFor(ctx).ListInstanceIDs(ctx, q)
			if err != nil {
				return nil, err
			}
			resp := newMessage(msgListInstanceIdsResponse)
			ids := make([]string, len(page.IDs))
			for i, id := range page.IDs {
				ids[i] = string(id)
			}
			resp.setStrings("instanceIds", ids)
			if page.LastInstanceKey != "" {
				resp.setWrapped("lastInstanceKey", page.LastInstanceKey)
			}
			return resp.message(), nil
		}),
		unary("PurgeInstances", msgPurgeInstancesRequest, func(ctx context.Context, req fields) (proto.Message, error) {
			r, err := purgeOf(req)
			if err != nil {
				return nil, err
			}
			n, err := serviceFor(ctx).Purge(ctx, r)
			if err != nil {
				return nil, err
			}
			resp := newMessage(msgPurgeInstancesResponse)
			resp.setInt32("deletedInstanceCount", int32(n))
			resp.sub("isComplete").setBool("value", true)
			return resp.message(), nil
		}),
		unary("RestartInstance", msgRestartInstanceRequest, func(ctx context.Context, req fields) (proto.Message, error) {
			id := api.InstanceID(req.str("instanceId"))
			if id == "" {
				return nil, status.Error(codes.InvalidArgument, "RestartInstance: instanceId is required")
			}
			newID, err := serviceFor(ctx).Restart(ctx, id, req.boolean("restartWithNewInstanceId"))
			if err != nil {
				return nil, err
			}
			resp := newMessage(msgRestartInstanceResponse)
			resp.setStr("instanceId", string(newID))
			return resp.message(), nil
		}),
	}
	methods = append(methods, entityMethods(serviceFor)...)
	streams := []grpc.StreamDesc{{
		StreamName:    "StreamInstanceHistory",
		ServerStreams: true,
		Handler: func(_ any, stream grpc.ServerStream) error {
			req := newMessage(msgStreamInstanceHistoryRequest)
			if err := stream.RecvMsg(req.message()); err != nil {
				return err
			}
			ctx := stream.Context()
			executionID, _ := req.wrapped("executionId")
			events, err := serviceFor(ctx).History(ctx, api.InstanceID(req.str("instanceId")), executionID)
			if err != nil {
				return statusOf(err)
			}
			return sendHistory(stream, events)
		},
	}}
	return methods, streams
}

// Final reports whether an orchestration in status st has finished.
func Final(st api.OrchestrationStatus) bool {
	switch st {
	case api.RUNTIME_STATUS_COMPLETED, api.RUNTIME_STATUS_FAILED, api.RUNTIME_STATUS_TERMINATED, api.RUNTIME_STATUS_CANCELED:
		return true
	}
	return false
}

// StatusName names a runtime status as the SDKs and the emulator's
// dashboard show it: "Running", "ContinuedAsNew".
func StatusName(st api.OrchestrationStatus) string {
	words := strings.Split(strings.TrimPrefix(st.String(), "ORCHESTRATION_STATUS_"), "_")
	for i, w := range words {
		if w != "" {
			words[i] = w[:1] + strings.ToLower(w[1:])
		}
	}
	return strings.Join(words, "")
}

func started(st api.OrchestrationStatus) bool { return st != api.RUNTIME_STATUS_PENDING }

// unary serves one unary method: it decodes the request with desc and runs
// serve inside the server's interceptors, as generated code does.
func unary(name string, desc protoreflect.MessageDescriptor, serve func(context.Context, fields) (proto.Message, error)) grpc.MethodDesc {
	info := &grpc.UnaryServerInfo{FullMethod: dtsproto.MethodPrefix + name}
	handle := func(ctx context.Context, req any) (any, error) {
		msg, ok := req.(proto.Message)
		if !ok {
			return nil, status.Errorf(codes.Internal, "%s: request is not a protobuf message", name)
		}
		resp, err := serve(ctx, fields{msg.ProtoReflect()})
		if err != nil {
			return nil, statusOf(err)
		}
		return resp, nil
	}
	return grpc.MethodDesc{MethodName: name, Handler: func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
		req := newMessage(desc).message()
		if err := dec(req); err != nil {
			return nil, err
		}
		if ic == nil {
			return handle(ctx, req)
		}
		i := *info
		i.Server = srv
		return ic(ctx, req, &i, handle)
	}}
}

// statusOf gives an error the status code a client can act on.
func statusOf(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, api.ErrInstanceNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, api.ErrNotCompleted), errors.Is(err, ErrNotFailed):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	return err
}

// instanceResponse answers GetInstance and the waits: an unknown instance
// is "exists: false", not an error, as v0.6.0 answers it.
func instanceResponse(in *Instance, req fields, err error) (proto.Message, error) {
	resp := newMessage(msgGetInstanceResponse)
	if errors.Is(err, api.ErrInstanceNotFound) {
		return resp.message(), nil
	}
	if err != nil {
		return nil, err
	}
	resp.setBool("exists", true)
	resp.m.Set(resp.fd("orchestrationState"), protoreflect.ValueOfMessage(stateMessage(in, req.boolean("getInputsAndOutputs")).m))
	return resp.message(), nil
}

func requestedSize(n int32) (int, error) {
	if n < 0 {
		return 0, status.Errorf(codes.InvalidArgument, "page size %d is negative", n)
	}
	return int(n), nil
}

func queryOf(iq fields) (Query, error) {
	size, err := requestedSize(iq.int32("maxInstanceCount"))
	if err != nil {
		return Query{}, err
	}
	q := Query{
		Statuses:      iq.statuses("runtimeStatus"),
		CreatedFrom:   iq.time("createdTimeFrom"),
		CreatedTo:     iq.time("createdTimeTo"),
		PageSize:      size,
		FetchPayloads: iq.boolean("fetchInputsAndOutputs"),
	}
	q.ContinuationToken, _ = iq.wrapped("continuationToken")
	q.IDPrefix, _ = iq.wrapped("instanceIdPrefix")
	return q, nil
}

func purgeOf(req fields) (PurgeRequest, error) {
	r := PurgeRequest{Recursive: req.boolean("recursive")}
	od := req.m.Descriptor().Oneofs().ByName("request")
	switch set := req.m.WhichOneof(od); {
	case set == nil:
		return r, status.Error(codes.InvalidArgument, "PurgeInstances: give an instanceId, a purgeInstanceFilter or an instanceBatch")
	case set.Name() == "instanceId":
		r.ID = api.InstanceID(req.str("instanceId"))
		if r.ID == "" {
			return r, status.Error(codes.InvalidArgument, "PurgeInstances: empty instanceId")
		}
	case set.Name() == "purgeInstanceFilter":
		f := req.get("purgeInstanceFilter")
		r.Filter = &PurgeFilter{CreatedFrom: f.time("createdTimeFrom"), CreatedTo: f.time("createdTimeTo"), Statuses: f.statuses("runtimeStatus")}
	default:
		ids := req.get("instanceBatch").strings("instanceIds")
		if len(ids) > MaxBatch {
			return r, status.Errorf(codes.InvalidArgument, "PurgeInstances: %d instance IDs in a batch, at most %d", len(ids), MaxBatch)
		}
		r.IDs = make([]api.InstanceID, len(ids))
		for i, id := range ids {
			r.IDs[i] = api.InstanceID(id)
		}
	}
	return r, nil
}

// sendHistory streams events in chunks bounded by count and size.
func sendHistory(stream grpc.ServerStream, events []*backend.HistoryEvent) error {
	chunk := newMessage(msgHistoryChunk)
	list := chunk.m.Mutable(chunk.fd("events")).List()
	size := 0
	flush := func() error {
		if list.Len() == 0 {
			return nil
		}
		if err := stream.SendMsg(chunk.message()); err != nil {
			return err
		}
		chunk = newMessage(msgHistoryChunk)
		list = chunk.m.Mutable(chunk.fd("events")).List()
		size = 0
		return nil
	}
	for _, e := range events {
		n := proto.Size(e)
		if list.Len() > 0 && (list.Len() == maxChunkEvents || size+n > maxChunkBytes) {
			if err := flush(); err != nil {
				return err
			}
		}
		list.Append(protoreflect.ValueOfMessage(e.ProtoReflect()))
		size += n
	}
	return flush()
}
