package mgmt

import (
	"reflect"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/backend"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/approvals-go/approvals/dts/dtstest"
)

// Each message to an entity survives the trip through v0.6.0's
// HistoryEvent, where it is an unknown field.
func TestEntityMessagesRoundTrip(t *testing.T) {
	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	for _, m := range []EntityMessage{
		{Kind: EntitySignal, Target: "@c@a", RequestID: "r1", Operation: "add", Input: "1", HasInput: true, ScheduledTime: at},
		{Kind: EntityCall, Target: "@c@a", RequestID: "r2", Operation: "get", ParentInstance: "o", ParentExecution: "e"},
		{Kind: EntityLock, CriticalSection: "cs", LockSet: []string{"@c@a", "@c@b"}, Position: 1, ParentInstance: "o"},
		{Kind: EntityUnlock, Target: "@c@b", CriticalSection: "cs", ParentInstance: "o"},
	} {
		b, err := proto.Marshal(m.Event(7))
		if err != nil {
			t.Fatal(err)
		}
		e := &backend.HistoryEvent{}
		if err := proto.Unmarshal(b, e); err != nil {
			t.Fatal(err)
		}
		if e.GetEventType() != nil || e.EventId != 7 {
			t.Fatalf("kind %d: v0.6.0 sees event type %T, id %d", m.Kind, e.GetEventType(), e.EventId)
		}
		got, err := EntityMessageOf(e)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*got, m) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", *got, m)
		}
	}
	if _, err := EntityMessageOf(EntityLockGranted("cs")); err != errNotEntityMessage {
		t.Fatalf("a lock grant read as a message to an entity: %v", err)
	}
	if n, ok := DecodeNewer(ExecutionRewound("why", "")); !ok || n.Kind != "executionRewound" || n.RewoundReason != "why" {
		t.Fatalf("rewound reason %q %v", n.RewoundReason, ok)
	}
}

// v060Action decodes an action of our descriptor as v0.6.0's
// OrchestratorAction, as the executor receives it from a worker.
func v060Action(t *testing.T, a fields) proto.Message {
	t.Helper()
	return reencode(t, a, "OrchestratorAction").Interface()
}

func TestNewerActions(t *testing.T) {
	call := newMessage(msgEntityOrchestratorAction)
	call.setInt32("id", 4)
	c := call.sub("sendEntityMessage").sub("entityOperationCalled")
	c.setStr("requestId", "r")
	c.setStr("operation", "add")
	c.setWrapped("targetInstanceId", "@c@a")
	c.setWrapped("parentInstanceId", "o")
	got, err := NewerActionOf(v060Action(t, call))
	if err != nil || got == nil || got.ID != 4 || got.Entity == nil || got.Entity.Kind != EntityCall ||
		got.Entity.Target != "@c@a" || got.Entity.ParentInstance != "o" || got.Entity.Operation != "add" {
		t.Fatalf("entity call action: %+v %v", got, err)
	}

	rewind := newMessage(msgEntityOrchestratorAction)
	rewind.setInt32("id", -1)
	history := rewind.sub("rewindOrchestration").m.Mutable(rewind.get("rewindOrchestration").fd("newHistory")).List()
	history.Append(protoreflect.ValueOfMessage((&backend.HistoryEvent{EventId: 1}).ProtoReflect()))
	history.Append(protoreflect.ValueOfMessage(ExecutionRewound("r", "").ProtoReflect()))
	got, err = NewerActionOf(v060Action(t, rewind))
	if err != nil || got == nil || len(got.Rewind) != 2 || !IsExecutionRewound(got.Rewind[1]) {
		t.Fatalf("rewind action: %+v %v", got, err)
	}

	known := dtstest.NewMessage(t, "OrchestratorAction")
	dtstest.SetField(known, "id", protoreflect.ValueOfInt32(1))
	if got, err := NewerActionOf(known.Interface()); got != nil || err != nil {
		t.Fatalf("an action v0.6.0 knows: %+v %v", got, err)
	}
}

func TestEntityBatchResult(t *testing.T) {
	r := newMessage(msgEntityBatchResult)
	r.setStr("completionToken", "tok")
	r.setWrapped("entityState", "5")
	results := r.m.Mutable(r.fd("results")).List()
	ok := newMessage(results.NewElement().Message().Descriptor())
	ok.sub("success").setWrapped("result", "5")
	failed := newMessage(results.NewElement().Message().Descriptor())
	failed.sub("failure").sub("failureDetails").setStr("errorMessage", "no")
	results.Append(protoreflect.ValueOfMessage(ok.m))
	results.Append(protoreflect.ValueOfMessage(failed.m))
	actions := r.m.Mutable(r.fd("actions")).List()
	sig := newMessage(actions.NewElement().Message().Descriptor())
	sig.sub("sendSignal").setStr("instanceId", "@c@b")
	sig.get("sendSignal").setStr("name", "add")
	start := newMessage(actions.NewElement().Message().Descriptor())
	start.sub("startNewOrchestration").setStr("name", "hello")
	actions.Append(protoreflect.ValueOfMessage(sig.m))
	actions.Append(protoreflect.ValueOfMessage(start.m))

	got, err := entityBatchResultOf(r)
	if err != nil {
		t.Fatal(err)
	}
	if got.CompletionToken != "tok" || got.State == nil || *got.State != "5" || len(got.Results) != 2 ||
		got.Results[0].Output != "5" || got.Results[1].Failure.GetErrorMessage() != "no" ||
		len(got.Signals) != 1 || got.Signals[0].Target != "@c@b" || got.Signals[0].Operation != "add" ||
		len(got.Starts) != 1 || got.Starts[0].Name != "hello" {
		t.Fatalf("batch result: %+v", got)
	}
}

func TestWorkerEntities(t *testing.T) {
	req := newMessage(msgGetWorkItemsRequest)
	if states, limit, names := WorkerEntities(req.message()); states || limit || names != nil {
		t.Fatalf("empty request: %v %v %v", states, limit, names)
	}
	req.setInt32("maxConcurrentOrchestrationWorkItems", 10)
	if states, limit, _ := WorkerEntities(req.message()); !states || limit {
		t.Fatalf("limits without entities: %v %v", states, limit)
	}
	req.setInt32("maxConcurrentEntityWorkItems", 3)
	f := req.sub("workItemFilters")
	list := f.m.Mutable(f.fd("entities")).List()
	e := newMessage(list.NewElement().Message().Descriptor())
	e.setStr("name", "Counter")
	list.Append(protoreflect.ValueOfMessage(e.m))
	if _, limit, names := WorkerEntities(req.message()); !limit || len(names) != 1 || names[0] != "counter" {
		t.Fatalf("entity limit and filter: %v %v", limit, names)
	}
}

func TestSplitEntityID(t *testing.T) {
	for id, want := range map[string][3]string{
		"@counter@a/b": {"counter", "a/b", "true"},
		"@counter@":    {"counter", "", "true"},
		"@@k":          {"", "", "false"},
		"counter@k":    {"", "", "false"},
		"@counter":     {"", "", "false"},
	} {
		name, key, ok := SplitEntityID(id)
		if name != want[0] || key != want[1] || (ok != (want[2] == "true")) {
			t.Errorf("%q: %q %q %v", id, name, key, ok)
		}
	}
}
