package mgmt

import (
	"strings"
	"time"

	"github.com/microsoft/durabletask-go/backend"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// EntityWorkItem is a WorkItem carrying an EntityRequest (the form the
// service sends, entityRequestV2): the entity's state (nil when it has
// none) and the messages to run, with completionToken to echo.
func EntityWorkItem(id string, state *string, ops []*backend.HistoryEvent, completionToken string) proto.Message {
	wi := newMessage(msgEntityWorkItem)
	req := wi.sub("entityRequestV2")
	req.setStr("instanceId", id)
	if state != nil {
		req.setWrapped("entityState", *state)
	}
	list := req.m.Mutable(req.fd("operationRequests")).List()
	for _, e := range ops {
		list.Append(protoreflect.ValueOfMessage(e.ProtoReflect()))
	}
	wi.setStr("completionToken", completionToken)
	return wi.message()
}

// OperationResult is the outcome of one operation of a batch.
type OperationResult struct {
	Output    string
	HasOutput bool
	// Failure is set when the operation failed.
	Failure *backend.TaskFailureDetails
}

// StartOrchestration is an entity's request to start an orchestration.
type StartOrchestration struct {
	InstanceID, Name, Version, Input string
	HasInput                         bool
	ScheduledTime                    time.Time
}

// EntityBatchResult is what a worker answers an entity work item.
type EntityBatchResult struct {
	// Results are the outcomes of the batch's first len(Results)
	// operations, in order.
	Results []OperationResult
	// Signals are the signals the operations sent to entities, Starts the
	// orchestrations they started.
	Signals []*EntityMessage
	Starts  []StartOrchestration
	// State is the entity's state after the batch; nil when it has none
	// (it was deleted).
	State *string
	// Failure is set when the batch as a whole failed: nothing of it is
	// kept, and it is run again.
	Failure         *backend.TaskFailureDetails
	CompletionToken string
}

func entityBatchResultOf(r fields) (EntityBatchResult, error) {
	var out EntityBatchResult
	out.CompletionToken = r.str("completionToken")
	if s, ok := r.wrapped("entityState"); ok {
		out.State = &s
	}
	failureOf := func(f fields) (*backend.TaskFailureDetails, error) {
		fd := &backend.TaskFailureDetails{}
		return fd, concrete(f.m, fd)
	}
	if r.has("failureDetails") {
		fd, err := failureOf(r.get("failureDetails"))
		if err != nil {
			return out, err
		}
		out.Failure = fd
	}
	results := r.m.Get(r.fd("results")).List()
	for i := 0; i < results.Len(); i++ {
		res := fields{results.Get(i).Message()}
		var or OperationResult
		switch {
		case res.has("failure"):
			fd, err := failureOf(res.get("failure").get("failureDetails"))
			if err != nil {
				return out, err
			}
			or.Failure = fd
		default:
			or.Output, or.HasOutput = res.get("success").wrapped("result")
		}
		out.Results = append(out.Results, or)
	}
	actions := r.m.Get(r.fd("actions")).List()
	for i := 0; i < actions.Len(); i++ {
		a := fields{actions.Get(i).Message()}
		switch {
		case a.has("sendSignal"):
			s := a.get("sendSignal")
			m := &EntityMessage{Kind: EntitySignal, Target: s.str("instanceId"), Operation: s.str("name"), ScheduledTime: s.time("scheduledTime")}
			m.Input, m.HasInput = s.wrapped("input")
			out.Signals = append(out.Signals, m)
		case a.has("startNewOrchestration"):
			s := a.get("startNewOrchestration")
			st := StartOrchestration{InstanceID: s.str("instanceId"), Name: s.str("name"), ScheduledTime: s.time("scheduledTime")}
			st.Version, _ = s.wrapped("version")
			st.Input, st.HasInput = s.wrapped("input")
			out.Starts = append(out.Starts, st)
		}
	}
	return out, nil
}

// WorkerEntities reads what a GetWorkItemsRequest says about entities:
// whether the worker states its concurrency at all, whether it states a
// non-zero limit for entity work items, and the entity names its filters
// allow (none means any).
func WorkerEntities(req proto.Message) (statesLimits, entityLimit bool, names []string) {
	f, err := dynamicOf(msgGetWorkItemsRequest, req)
	if err != nil {
		return false, false, nil
	}
	statesLimits = f.int32("maxConcurrentOrchestrationWorkItems") != 0 || f.int32("maxConcurrentActivityWorkItems") != 0 ||
		f.int32("maxConcurrentEntityWorkItems") != 0
	if f.has("workItemFilters") {
		list := f.get("workItemFilters").m.Get(f.get("workItemFilters").fd("entities")).List()
		for i := 0; i < list.Len(); i++ {
			names = append(names, strings.ToLower(fields{list.Get(i).Message()}.str("name")))
		}
	}
	return statesLimits, f.int32("maxConcurrentEntityWorkItems") != 0, names
}
