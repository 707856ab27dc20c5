package worker

import (
	"context"
	"fmt"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"
	"google.golang.org/protobuf/proto"

	"github.com/approvals-go/approvals/dts/dtsproto"
)

// runActivity runs one activity and completes its work item with the
// activity's result or failure.
func (l *Listener) runActivity(ctx context.Context, req activityRequest) {
	id := activityInstance(req)
	resp := l.executeActivity(ctx, id, req)
	l.complete(ctx, dtsproto.MethodCompleteActivityTask, resp, "instance_id", id, "activity", req.GetName(), "task_id", req.GetTaskId())
}

func (l *Listener) executeActivity(ctx context.Context, id string, req activityRequest) (resp proto.Message) {
	// durabletask-go's executor already turns an activity's panic into its
	// failure; this covers any other executor.
	defer func() {
		if v := recover(); v != nil {
			resp = activityFailure(id, req.GetTaskId(), &backend.TaskFailureDetails{ErrorType: "TaskActivityPanic", ErrorMessage: fmt.Sprintf("panic: %v", v)})
		}
	}()
	result, err := l.exec.ExecuteActivity(ctx, api.InstanceID(id), taskScheduled(req))
	if err != nil {
		return activityFailure(id, req.GetTaskId(), &backend.TaskFailureDetails{ErrorType: fmt.Sprintf("%T", err), ErrorMessage: err.Error()})
	}
	return activityResponse(id, req.GetTaskId(), result)
}
