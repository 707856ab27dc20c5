package mgmt

import (
	"slices"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/approvals-go/approvals/dts/dtstest"
)

// reencode moves a message of our descriptors into durabletask-go v0.6.0's
// generated type of the same protocol message, through the wire.
func reencode(t *testing.T, m fields, v060 protoreflect.FullName) protoreflect.Message {
	t.Helper()
	b, err := proto.Marshal(m.message())
	if err != nil {
		t.Fatal(err)
	}
	out := dtstest.NewMessage(t, v060)
	if err := proto.Unmarshal(b, out.Interface()); err != nil {
		t.Fatal(err)
	}
	return out
}

// The messages v0.6.0 also has encode the same: a v0.6.0 scheduler or
// client reads what this package writes.
func TestSharedMessagesMatchV060(t *testing.T) {
	req := newMessage(msgQueryInstancesRequest)
	q := req.sub("query")
	q.setStatuses("runtimeStatus", []api.OrchestrationStatus{api.RUNTIME_STATUS_RUNNING, api.RUNTIME_STATUS_SUSPENDED})
	created := time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC)
	q.setTime("createdTimeFrom", created)
	q.setInt32("maxInstanceCount", 42)
	q.setWrapped("continuationToken", "tok")
	q.setWrapped("instanceIdPrefix", "pre")
	q.setBool("fetchInputsAndOutputs", true)
	got := fields{reencode(t, req, "QueryInstancesRequest")}.get("query")
	if s := got.statuses("runtimeStatus"); len(s) != 2 || s[1] != api.RUNTIME_STATUS_SUSPENDED {
		t.Fatalf("statuses %v", s)
	}
	if !got.time("createdTimeFrom").Equal(created) || got.int32("maxInstanceCount") != 42 || !got.boolean("fetchInputsAndOutputs") {
		t.Fatalf("query decoded by v0.6.0: %v", got.m)
	}
	if tok, _ := got.wrapped("continuationToken"); tok != "tok" {
		t.Fatalf("token %q", tok)
	}
	if p, _ := got.wrapped("instanceIdPrefix"); p != "pre" {
		t.Fatalf("prefix %q", p)
	}

	purge := newMessage(msgPurgeInstancesRequest)
	purge.m.Set(purge.fd("instanceId"), protoreflect.ValueOfString("i1"))
	purge.setBool("recursive", true)
	p := fields{reencode(t, purge, "PurgeInstancesRequest")}
	if p.str("instanceId") != "i1" || !p.boolean("recursive") {
		t.Fatalf("purge decoded by v0.6.0: %v", p.m)
	}
}

// An OrchestrationState keeps the fields v0.6.0 knows where v0.6.0 reads
// them, and carries the newer ones (executionId 12, completedTimestamp 13,
// tags 15) as fields v0.6.0 passes over.
func TestOrchestrationStateNewerFields(t *testing.T) {
	in := &Instance{ExecutionID: "exec-1", CompletedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Tags: map[string]string{"team": "finance"}}
	in.InstanceID, in.Name, in.RuntimeStatus = "i1", "o", api.RUNTIME_STATUS_COMPLETED
	in.CreatedAt = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	in.SerializedOutput = `"done"`
	in.FailureDetails = &backend.TaskFailureDetails{ErrorType: "E", ErrorMessage: "m"}
	s := stateMessage(in, true)
	old := fields{reencode(t, s, "OrchestrationState")}
	if old.str("instanceId") != "i1" || old.str("name") != "o" || !old.time("createdTimestamp").Equal(in.CreatedAt) {
		t.Fatalf("v0.6.0 reads %v", old.m)
	}
	if out, _ := old.wrapped("output"); out != `"done"` {
		t.Fatalf("v0.6.0 reads output %q", out)
	}
	var unknown []protowire.Number
	for raw := old.m.GetUnknown(); len(raw) > 0; {
		num, typ, n := protowire.ConsumeTag(raw)
		m := protowire.ConsumeFieldValue(num, typ, raw[n:])
		if n < 0 || m < 0 {
			t.Fatal("malformed unknown fields")
		}
		unknown = append(unknown, num)
		raw = raw[n+m:]
	}
	slices.Sort(unknown)
	if !slices.Equal(unknown, []protowire.Number{12, 13, 15}) {
		t.Fatalf("unknown fields to v0.6.0: %v, want [12 13 15]", unknown)
	}

	back, err := instanceOf(s)
	if err != nil {
		t.Fatal(err)
	}
	if back.ExecutionID != "exec-1" || !back.CompletedAt.Equal(in.CompletedAt) || back.Tags["team"] != "finance" ||
		back.FailureDetails.GetErrorMessage() != "m" || back.SerializedOutput != `"done"` {
		t.Fatalf("round trip: %+v", back)
	}
	if lean := stateMessage(in, false); lean.has("output") || lean.has("failureDetails") {
		t.Fatal("payloads encoded without being asked for")
	}
}
