package worker

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/approvals-go/approvals/dts/dtsproto"
)

// Failure types an orchestration fails with when it cannot run.
const (
	// ErrorNonDeterministic: the code does not do what the instance's
	// history records.
	ErrorNonDeterministic = "NonDeterministicOrchestration"
	// ErrorOrchestratorPanic: the orchestrator's own code panicked.
	ErrorOrchestratorPanic = "OrchestratorPanic"
	// ErrorExecutor: the executor returned an error or no response.
	ErrorExecutor = "OrchestrationExecutorError"
)

// runOrchestration replays one orchestration and completes its work item.
// An orchestration that cannot run is completed as failed, so that one bad
// instance stops only itself: left alone, its panic would end the process,
// and every restart would meet the same history again.
func (l *Listener) runOrchestration(ctx context.Context, req orchestratorRequest) {
	id := req.GetInstanceId()
	resp, failure := l.executeOrchestrator(ctx, id, req)
	if failure != nil {
		l.log.Error("orchestration failed: it cannot run on this worker", "instance_id", id,
			"error_type", failure.GetErrorType(), "reason", failure.GetErrorMessage())
		resp = orchestrationFailure(id, failure)
	}
	l.complete(ctx, dtsproto.MethodCompleteOrchestratorTask, resp, "instance_id", id)
}

func (l *Listener) executeOrchestrator(ctx context.Context, id string, req orchestratorRequest) (resp proto.Message, failure *backend.TaskFailureDetails) {
	defer func() {
		if v := recover(); v != nil {
			resp, failure = nil, panicFailure(v)
		}
	}()
	res, err := l.exec.ExecuteOrchestrator(ctx, api.InstanceID(id), req.GetPastEvents(), req.GetNewEvents())
	switch {
	case err != nil:
		return nil, &backend.TaskFailureDetails{ErrorType: ErrorExecutor, ErrorMessage: "the orchestrator could not run: " + err.Error()}
	case res == nil || res.Response == nil:
		return nil, &backend.TaskFailureDetails{ErrorType: ErrorExecutor, ErrorMessage: "the orchestrator executor returned no response"}
	}
	return res.Response, nil
}

// panicFailure explains a panic out of an orchestrator. durabletask-go's
// Await panics with an error when the next history event does not match
// what the code does at that point (another activity, timer or sequence
// number): the code changed under a running instance, or another SDK, which
// numbers its actions differently, wrote the history. Any other panic,
// such as a nil dereference, is the orchestrator's own, and its stack is
// kept for whoever reads the failure.
func panicFailure(v any) *backend.TaskFailureDetails {
	var rerr runtime.Error
	if err, ok := v.(error); ok && !errors.As(err, &rerr) {
		return &backend.TaskFailureDetails{ErrorType: ErrorNonDeterministic, IsNonRetriable: true,
			ErrorMessage: "the orchestrator could not replay this instance's history: " + err.Error()}
	}
	return &backend.TaskFailureDetails{ErrorType: ErrorOrchestratorPanic, IsNonRetriable: true,
		ErrorMessage: fmt.Sprintf("the orchestrator panicked: %v", v), StackTrace: wrapperspb.String(string(debug.Stack()))}
}
