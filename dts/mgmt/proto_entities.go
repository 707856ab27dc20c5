package mgmt

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// The messages of durable entities and of rewinding, as the current
// orchestrator_service.proto defines them. durabletask-go v0.6.0 has an
// early form of some entity messages and none of the history events,
// orchestrator actions and work items below; its HistoryEvent,
// OrchestratorAction and WorkItem carry these as unknown fields, which
// survive a decode and an encode, so a v0.6.0 message is read through the
// partial descriptors here ("HistoryEvent" with only the newer event types,
// for example) by re-encoding it.

var (
	msgRewindInstanceRequest, msgRewindInstanceResponse,
	msgEntityHistoryEvent, msgEntityOrchestratorAction, msgEntityWorkItem,
	msgEntityBatchResult, msgAbandonEntityTaskRequest, msgAbandonEntityTaskResponse,
	msgGetWorkItemsRequest,
	msgSignalEntityRequest, msgSignalEntityResponse,
	msgGetEntityRequest, msgGetEntityResponse,
	msgQueryEntitiesRequest, msgQueryEntitiesResponse, msgEntityMetadata,
	msgCleanEntityStorageRequest, msgCleanEntityStorageResponse,
	msgCompleteTaskResponse protoreflect.MessageDescriptor
)

func init() {
	fd, err := protodesc.NewFile(entitiesFileProto(), protoregistry.GlobalFiles)
	if err != nil {
		panic(fmt.Sprintf("mgmt: build entity protocol descriptors: %v", err))
	}
	for name, d := range map[protoreflect.Name]*protoreflect.MessageDescriptor{
		"RewindInstanceRequest": &msgRewindInstanceRequest, "RewindInstanceResponse": &msgRewindInstanceResponse,
		"HistoryEvent": &msgEntityHistoryEvent, "OrchestratorAction": &msgEntityOrchestratorAction, "WorkItem": &msgEntityWorkItem,
		"EntityBatchResult": &msgEntityBatchResult, "AbandonEntityTaskRequest": &msgAbandonEntityTaskRequest,
		"AbandonEntityTaskResponse": &msgAbandonEntityTaskResponse, "GetWorkItemsRequest": &msgGetWorkItemsRequest,
		"SignalEntityRequest": &msgSignalEntityRequest, "SignalEntityResponse": &msgSignalEntityResponse,
		"GetEntityRequest": &msgGetEntityRequest, "GetEntityResponse": &msgGetEntityResponse,
		"QueryEntitiesRequest": &msgQueryEntitiesRequest, "QueryEntitiesResponse": &msgQueryEntitiesResponse,
		"EntityMetadata": &msgEntityMetadata, "CleanEntityStorageRequest": &msgCleanEntityStorageRequest,
		"CleanEntityStorageResponse": &msgCleanEntityStorageResponse, "CompleteTaskResponse": &msgCompleteTaskResponse,
	} {
		if *d = fd.Messages().ByName(name); *d == nil {
			panic(fmt.Sprintf("mgmt: no message %s", name))
		}
	}
}

// withOneof declares the oneof that the fields marked by oneof belong to.
func withOneof(d *descriptorpb.DescriptorProto, name string) *descriptorpb.DescriptorProto {
	d.OneofDecl = []*descriptorpb.OneofDescriptorProto{{Name: proto.String(name)}}
	return d
}

func entitiesFileProto() *descriptorpb.FileDescriptorProto {
	const (
		timestamp = ".google.protobuf.Timestamp"
		stringVal = ".google.protobuf.StringValue"
		int32Val  = ".google.protobuf.Int32Value"
		history   = ".HistoryEvent" // v0.6.0's
		failure   = ".TaskFailureDetails"
		own       = "." + protoPackage + "."
		str       = descriptorpb.FieldDescriptorProto_TYPE_STRING
		i32       = descriptorpb.FieldDescriptorProto_TYPE_INT32
		boolean   = descriptorpb.FieldDescriptorProto_TYPE_BOOL
	)
	return &descriptorpb.FileDescriptorProto{
		Name:       proto.String("approvals/mgmt/entities.proto"),
		Package:    proto.String(protoPackage),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"google/protobuf/timestamp.proto", "google/protobuf/wrappers.proto", v060File},
		MessageType: []*descriptorpb.DescriptorProto{
			msg("RewindInstanceRequest", scalar("instanceId", 1, str), message("reason", 2, stringVal)),
			msg("RewindInstanceResponse"),
			msg("ExecutionRewoundEvent",
				message("reason", 1, stringVal),
				message("parentExecutionId", 2, stringVal),
				message("instanceId", 3, stringVal)),
			msg("EntityOperationSignaledEvent",
				scalar("requestId", 1, str),
				scalar("operation", 2, str),
				message("scheduledTime", 3, timestamp),
				message("input", 4, stringVal),
				message("targetInstanceId", 5, stringVal)),
			msg("EntityOperationCalledEvent",
				scalar("requestId", 1, str),
				scalar("operation", 2, str),
				message("scheduledTime", 3, timestamp),
				message("input", 4, stringVal),
				message("parentInstanceId", 5, stringVal),
				message("parentExecutionId", 6, stringVal),
				message("targetInstanceId", 7, stringVal)),
			msg("EntityLockRequestedEvent",
				scalar("criticalSectionId", 1, str),
				repeated(scalar("lockSet", 2, str)),
				scalar("position", 3, i32),
				message("parentInstanceId", 4, stringVal)),
			msg("EntityOperationCompletedEvent", scalar("requestId", 1, str), message("output", 2, stringVal)),
			msg("EntityOperationFailedEvent", scalar("requestId", 1, str), message("failureDetails", 2, failure)),
			msg("EntityUnlockSentEvent",
				scalar("criticalSectionId", 1, str),
				message("parentInstanceId", 2, stringVal),
				message("targetInstanceId", 3, stringVal)),
			msg("EntityLockGrantedEvent", scalar("criticalSectionId", 1, str)),
			// HistoryEvent with only the event types v0.6.0 lacks.
			withOneof(msg("HistoryEvent",
				scalar("eventId", 1, i32),
				message("timestamp", 2, timestamp),
				oneof(message("entityOperationSignaled", 23, own+"EntityOperationSignaledEvent")),
				oneof(message("entityOperationCalled", 24, own+"EntityOperationCalledEvent")),
				oneof(message("entityOperationCompleted", 25, own+"EntityOperationCompletedEvent")),
				oneof(message("entityOperationFailed", 26, own+"EntityOperationFailedEvent")),
				oneof(message("entityLockRequested", 27, own+"EntityLockRequestedEvent")),
				oneof(message("entityLockGranted", 28, own+"EntityLockGrantedEvent")),
				oneof(message("entityUnlockSent", 29, own+"EntityUnlockSentEvent")),
				oneof(message("executionRewound", 30, own+"ExecutionRewoundEvent"))), "eventType"),
			withOneof(msg("SendEntityMessageAction",
				oneof(message("entityOperationSignaled", 1, own+"EntityOperationSignaledEvent")),
				oneof(message("entityOperationCalled", 2, own+"EntityOperationCalledEvent")),
				oneof(message("entityLockRequested", 3, own+"EntityLockRequestedEvent")),
				oneof(message("entityUnlockSent", 4, own+"EntityUnlockSentEvent"))), "EntityMessageType"),
			msg("RewindOrchestrationAction", repeated(message("newHistory", 1, history))),
			// OrchestratorAction with only the action types v0.6.0 lacks.
			withOneof(msg("OrchestratorAction",
				scalar("id", 1, i32),
				oneof(message("sendEntityMessage", 8, own+"SendEntityMessageAction")),
				oneof(message("rewindOrchestration", 9, own+"RewindOrchestrationAction"))), "orchestratorActionType"),
			msg("EntityRequest",
				scalar("instanceId", 1, str),
				scalar("executionId", 2, str),
				message("entityState", 3, stringVal),
				repeated(message("operationRequests", 4, history))),
			// WorkItem with only the newer entity request and the token.
			msg("WorkItem",
				message("entityRequestV2", 5, own+"EntityRequest"),
				scalar("completionToken", 10, str)),
			msg("OperationResultSuccess",
				message("result", 1, stringVal),
				message("startTimeUtc", 2, timestamp),
				message("endTimeUtc", 3, timestamp)),
			msg("OperationResultFailure",
				message("failureDetails", 1, failure),
				message("startTimeUtc", 2, timestamp),
				message("endTimeUtc", 3, timestamp)),
			withOneof(msg("OperationResult",
				oneof(message("success", 1, own+"OperationResultSuccess")),
				oneof(message("failure", 2, own+"OperationResultFailure"))), "resultType"),
			msg("SendSignalAction",
				scalar("instanceId", 1, str),
				scalar("name", 2, str),
				message("input", 3, stringVal),
				message("scheduledTime", 4, timestamp)),
			msg("StartNewOrchestrationAction",
				scalar("instanceId", 1, str),
				scalar("name", 2, str),
				message("version", 3, stringVal),
				message("input", 4, stringVal),
				message("scheduledTime", 5, timestamp)),
			withOneof(msg("OperationAction",
				scalar("id", 1, i32),
				oneof(message("sendSignal", 2, own+"SendSignalAction")),
				oneof(message("startNewOrchestration", 3, own+"StartNewOrchestrationAction"))), "operationActionType"),
			msg("EntityBatchResult",
				repeated(message("results", 1, own+"OperationResult")),
				repeated(message("actions", 2, own+"OperationAction")),
				message("entityState", 3, stringVal),
				message("failureDetails", 4, failure),
				scalar("completionToken", 5, str),
				scalar("requiresState", 7, boolean)),
			msg("AbandonEntityTaskRequest", scalar("completionToken", 1, str)),
			msg("AbandonEntityTaskResponse"),
			msg("CompleteTaskResponse"),
			msg("EntityFilter", scalar("name", 1, str)),
			msg("WorkItemFilters", repeated(message("entities", 3, own+"EntityFilter"))),
			msg("GetWorkItemsRequest",
				scalar("maxConcurrentOrchestrationWorkItems", 1, i32),
				scalar("maxConcurrentActivityWorkItems", 2, i32),
				scalar("maxConcurrentEntityWorkItems", 3, i32),
				message("workItemFilters", 11, own+"WorkItemFilters")),
			msg("SignalEntityRequest",
				scalar("instanceId", 1, str),
				scalar("name", 2, str),
				message("input", 3, stringVal),
				scalar("requestId", 4, str),
				message("scheduledTime", 5, timestamp),
				message("requestTime", 7, timestamp)),
			msg("SignalEntityResponse"),
			msg("GetEntityRequest", scalar("instanceId", 1, str), scalar("includeState", 2, boolean)),
			msg("GetEntityResponse", scalar("exists", 1, boolean), message("entity", 2, own+"EntityMetadata")),
			msg("EntityQuery",
				message("instanceIdStartsWith", 1, stringVal),
				message("lastModifiedFrom", 2, timestamp),
				message("lastModifiedTo", 3, timestamp),
				scalar("includeState", 4, boolean),
				scalar("includeTransient", 5, boolean),
				message("pageSize", 6, int32Val),
				message("continuationToken", 7, stringVal)),
			msg("QueryEntitiesRequest", message("query", 1, own+"EntityQuery")),
			msg("QueryEntitiesResponse",
				repeated(message("entities", 1, own+"EntityMetadata")),
				message("continuationToken", 2, stringVal)),
			msg("EntityMetadata",
				scalar("instanceId", 1, str),
				message("lastModifiedTime", 2, timestamp),
				scalar("backlogQueueSize", 3, i32),
				message("lockedBy", 4, stringVal),
				message("serializedState", 5, stringVal)),
			msg("CleanEntityStorageRequest",
				message("continuationToken", 1, stringVal),
				scalar("removeEmptyEntities", 2, boolean),
				scalar("releaseOrphanedLocks", 3, boolean)),
			msg("CleanEntityStorageResponse",
				message("continuationToken", 1, stringVal),
				scalar("emptyEntitiesRemoved", 2, i32),
				scalar("orphanedLocksReleased", 3, i32)),
		},
	}
}
