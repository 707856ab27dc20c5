package worker

import (
	"fmt"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// durabletask-go v0.6.0 keeps its generated protocol types in an internal
// package. Its backend package registers them globally, so the listener
// makes them from the registry and reads them through protoreflect or
// through interfaces of their generated getters; HistoryEvent and
// TaskFailureDetails, which backend aliases, are used directly.
var (
	typeGetWorkItemsRequest  = protocolType("GetWorkItemsRequest")
	typeWorkItem             = protocolType("WorkItem")
	typeOrchestratorResponse = protocolType("OrchestratorResponse")
	typeActivityResponse     = protocolType("ActivityResponse")
	typeCompleteTaskResponse = protocolType("CompleteTaskResponse")
)

func protocolType(name protoreflect.FullName) protoreflect.MessageType {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(name)
	if err != nil {
		// backend, imported above, registers every protocol type when
		// the program starts: only a different durabletask-go gets here.
		panic(fmt.Sprintf("worker: durabletask-go registers no protocol message %s: %v", name, err))
	}
	return mt
}

// field is a field of a protocol message by name; the names are constants
// of the protocol, checked by this package's tests.
func field(m protoreflect.Message, name protoreflect.Name) protoreflect.FieldDescriptor {
	return m.Descriptor().Fields().ByName(name)
}

// orchestratorRequest is what the listener reads of an OrchestratorRequest.
type orchestratorRequest interface {
	GetInstanceId() string
	GetPastEvents() []*backend.HistoryEvent
	GetNewEvents() []*backend.HistoryEvent
}

// activityRequest is what the listener reads of an ActivityRequest; the
// instance it belongs to is read with activityInstance.
type activityRequest interface {
	proto.Message
	GetName() string
	GetVersion() *wrapperspb.StringValue
	GetInput() *wrapperspb.StringValue
	GetTaskId() int32
}

// request returns the request a work item carries under name, or nil.
func request(workItem protoreflect.Message, name protoreflect.Name) proto.Message {
	fd := field(workItem, name)
	if fd == nil || !workItem.Has(fd) {
		return nil
	}
	return workItem.Get(fd).Message().Interface()
}

func activityInstance(req activityRequest) string {
	r := req.ProtoReflect()
	inst := r.Get(field(r, "orchestrationInstance")).Message()
	return inst.Get(field(inst, "instanceId")).String()
}

// taskScheduled is the history event an activity executor runs: the
// activity request restated.
func taskScheduled(req activityRequest) *backend.HistoryEvent {
	e := &backend.HistoryEvent{EventId: req.GetTaskId(), Timestamp: timestamppb.Now()}
	r := e.ProtoReflect()
	ts := r.Mutable(field(r, "taskScheduled")).Message()
	ts.Set(field(ts, "name"), protoreflect.ValueOfString(req.GetName()))
	if v := req.GetVersion(); v != nil {
		ts.Set(field(ts, "version"), protoreflect.ValueOfMessage(v.ProtoReflect()))
	}
	if in := req.GetInput(); in != nil {
		ts.Set(field(ts, "input"), protoreflect.ValueOfMessage(in.ProtoReflect()))
	}
	return e
}

// activityResponse completes an activity with the result event its
// executor returned: TaskCompleted or TaskFailed.
func activityResponse(instanceID string, taskID int32, result *backend.HistoryEvent) proto.Message {
	r := typeActivityResponse.New()
	r.Set(field(r, "instanceId"), protoreflect.ValueOfString(instanceID))
	r.Set(field(r, "taskId"), protoreflect.ValueOfInt32(taskID))
	switch {
	case result.GetTaskCompleted() != nil:
		if v := result.GetTaskCompleted().GetResult(); v != nil {
			r.Set(field(r, "result"), protoreflect.ValueOfMessage(v.ProtoReflect()))
		}
	case result.GetTaskFailed() != nil:
		fd := result.GetTaskFailed().GetFailureDetails()
		if fd == nil {
			fd = &backend.TaskFailureDetails{ErrorType: "TaskFailed", ErrorMessage: "the activity failed without saying why"}
		}
		setFailure(r, fd)
	default:
		setFailure(r, &backend.TaskFailureDetails{ErrorType: "UnknownTaskResult",
			ErrorMessage: fmt.Sprintf("the activity executor returned neither a result nor a failure but %T", result.GetEventType())})
	}
	return r.Interface()
}

// activityFailure completes an activity with a failure.
func activityFailure(instanceID string, taskID int32, fd *backend.TaskFailureDetails) proto.Message {
	r := typeActivityResponse.New()
	r.Set(field(r, "instanceId"), protoreflect.ValueOfString(instanceID))
	r.Set(field(r, "taskId"), protoreflect.ValueOfInt32(taskID))
	setFailure(r, fd)
	return r.Interface()
}

// orchestrationFailure completes an orchestration as failed, whatever its
// history holds.
func orchestrationFailure(instanceID string, fd *backend.TaskFailureDetails) proto.Message {
	r := typeOrchestratorResponse.New()
	r.Set(field(r, "instanceId"), protoreflect.ValueOfString(instanceID))
	actions := r.Mutable(field(r, "actions")).List()
	a := actions.NewElement().Message()
	// -1, as durabletask-go's own failure action: the completion is no
	// action of the orchestrator's, so it takes no sequence number.
	a.Set(field(a, "id"), protoreflect.ValueOfInt32(-1))
	c := a.Mutable(field(a, "completeOrchestration")).Message()
	c.Set(field(c, "orchestrationStatus"), protoreflect.ValueOfEnum(api.RUNTIME_STATUS_FAILED.Number()))
	setFailure(c, fd)
	actions.Append(protoreflect.ValueOfMessage(a))
	return r.Interface()
}

func setFailure(m protoreflect.Message, fd *backend.TaskFailureDetails) {
	m.Set(field(m, "failureDetails"), protoreflect.ValueOfMessage(fd.ProtoReflect()))
}
