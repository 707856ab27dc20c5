package mgmt

import (
	"fmt"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	// The well-known types the messages below refer to.
	_ "google.golang.org/protobuf/types/known/durationpb"
	_ "google.golang.org/protobuf/types/known/timestamppb"
	_ "google.golang.org/protobuf/types/known/wrapperspb"
)

// The management messages as the current orchestrator_service.proto
// (microsoft/durabletask-protobuf) defines them. durabletask-go v0.6.0's
// generated types lack several of them and some of their fields, so both
// ends in this module use these descriptors instead; they refer to v0.6.0's
// registered types only for what has not changed (HistoryEvent,
// TaskFailureDetails, OrchestrationStatus). Message names are never on the
// wire, so they live in a package of their own, apart from v0.6.0's.

// v060File is the file durabletask-go v0.6.0 registers its types under.
const v060File = "orchestrator_service.proto"

const protoPackage = "approvals.mgmt"

var (
	msgOrchestrationState,
	msgGetInstanceRequest, msgGetInstanceResponse,
	msgQueryInstancesRequest, msgQueryInstancesResponse,
	msgListInstanceIdsRequest, msgListInstanceIdsResponse,
	msgPurgeInstancesRequest, msgPurgeInstancesResponse,
	msgRestartInstanceRequest, msgRestartInstanceResponse,
	msgStreamInstanceHistoryRequest, msgHistoryChunk,
	msgTerminateRequest, msgSuspendRequest, msgResumeRequest protoreflect.MessageDescriptor
)

func init() {
	fd, err := protodesc.NewFile(fileProto(), protoregistry.GlobalFiles)
	if err != nil {
		// The descriptors are constants of this package: only a change to
		// them, caught by its tests, can get here.
		panic(fmt.Sprintf("mgmt: build protocol descriptors: %v", err))
	}
	m := fd.Messages()
	msgOrchestrationState = m.ByName("OrchestrationState")
	msgGetInstanceRequest = m.ByName("GetInstanceRequest")
	msgGetInstanceResponse = m.ByName("GetInstanceResponse")
	msgQueryInstancesRequest = m.ByName("QueryInstancesRequest")
	msgQueryInstancesResponse = m.ByName("QueryInstancesResponse")
	msgListInstanceIdsRequest = m.ByName("ListInstanceIdsRequest")
	msgListInstanceIdsResponse = m.ByName("ListInstanceIdsResponse")
	msgPurgeInstancesRequest = m.ByName("PurgeInstancesRequest")
	msgPurgeInstancesResponse = m.ByName("PurgeInstancesResponse")
	msgRestartInstanceRequest = m.ByName("RestartInstanceRequest")
	msgRestartInstanceResponse = m.ByName("RestartInstanceResponse")
	msgStreamInstanceHistoryRequest = m.ByName("StreamInstanceHistoryRequest")
	msgHistoryChunk = m.ByName("HistoryChunk")
	msgTerminateRequest = m.ByName("TerminateRequest")
	msgSuspendRequest = m.ByName("SuspendRequest")
	msgResumeRequest = m.ByName("ResumeRequest")
}

func fileProto() *descriptorpb.FileDescriptorProto {
	const (
		timestamp = ".google.protobuf.Timestamp"
		stringVal = ".google.protobuf.StringValue"
		boolVal   = ".google.protobuf.BoolValue"
		duration  = ".google.protobuf.Duration"
		status    = ".OrchestrationStatus"
		own       = "." + protoPackage + "."
	)
	return &descriptorpb.FileDescriptorProto{
		Name:       proto.String("approvals/mgmt/orchestrator_service.proto"),
		Package:    proto.String(protoPackage),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"google/protobuf/timestamp.proto", "google/protobuf/wrappers.proto", "google/protobuf/duration.proto", v060File},
		MessageType: []*descriptorpb.DescriptorProto{
			{
				Name: proto.String("OrchestrationState"),
				Field: []*descriptorpb.FieldDescriptorProto{
					scalar("instanceId", 1, descriptorpb.FieldDescriptorProto_TYPE_STRING),
					scalar("name", 2, descriptorpb.FieldDescriptorProto_TYPE_STRING),
					message("version", 3, stringVal),
					enum("orchestrationStatus", 4, status),
					message("scheduledStartTimestamp", 5, timestamp),
					message("createdTimestamp", 6, timestamp),
					message("lastUpdatedTimestamp", 7, timestamp),
					message("input", 8, stringVal),
					message("output", 9, stringVal),
					message("customStatus", 10, stringVal),
					message("failureDetails", 11, ".TaskFailureDetails"),
					message("executionId", 12, stringVal),
					message("completedTimestamp", 13, timestamp),
					message("parentInstanceId", 14, stringVal),
					repeated(message("tags", 15, own+"OrchestrationState.TagsEntry")),
				},
				NestedType: []*descriptorpb.DescriptorProto{{
					Name: proto.String("TagsEntry"),
					Field: []*descriptorpb.FieldDescriptorProto{
						scalar("key", 1, descriptorpb.FieldDescriptorProto_TYPE_STRING),
						scalar("value", 2, descriptorpb.FieldDescriptorProto_TYPE_STRING),
					},
					Options: &descriptorpb.MessageOptions{MapEntry: proto.Bool(true)},
				}},
			},
			msg("GetInstanceRequest",
				scalar("instanceId", 1, descriptorpb.FieldDescriptorProto_TYPE_STRING),
				scalar("getInputsAndOutputs", 2, descriptorpb.FieldDescriptorProto_TYPE_BOOL)),
			msg("GetInstanceResponse",
				scalar("exists", 1, descriptorpb.FieldDescriptorProto_TYPE_BOOL),
				message("orchestrationState", 2, own+"OrchestrationState")),
			msg("InstanceQuery",
				repeated(enum("runtimeStatus", 1, status)),
				message("createdTimeFrom", 2, timestamp),
				message("createdTimeTo", 3, timestamp),
				repeated(message("taskHubNames", 4, stringVal)),
				scalar("maxInstanceCount", 5, descriptorpb.FieldDescriptorProto_TYPE_INT32),
				message("continuationToken", 6, stringVal),
				message("instanceIdPrefix", 7, stringVal),
				scalar("fetchInputsAndOutputs", 8, descriptorpb.FieldDescriptorProto_TYPE_BOOL)),
			msg("QueryInstancesRequest", message("query", 1, own+"InstanceQuery")),
			msg("QueryInstancesResponse",
				repeated(message("orchestrationState", 1, own+"OrchestrationState")),
				message("continuationToken", 2, stringVal)),
			msg("ListInstanceIdsRequest",
				repeated(enum("runtimeStatus", 1, status)),
				message("completedTimeFrom", 2, timestamp),
				message("completedTimeTo", 3, timestamp),
				scalar("pageSize", 4, descriptorpb.FieldDescriptorProto_TYPE_INT32),
				message("lastInstanceKey", 5, stringVal)),
			msg("ListInstanceIdsResponse",
				repeated(scalar("instanceIds", 1, descriptorpb.FieldDescriptorProto_TYPE_STRING)),
				message("lastInstanceKey", 2, stringVal)),
			{
				Name: proto.String("PurgeInstancesRequest"),
				Field: []*descriptorpb.FieldDescriptorProto{
					oneof(scalar("instanceId", 1, descriptorpb.FieldDescriptorProto_TYPE_STRING)),
					oneof(message("purgeInstanceFilter", 2, own+"PurgeInstanceFilter")),
					// A oneof's fields must be declared together.
					oneof(message("instanceBatch", 4, own+"InstanceBatch")),
					scalar("recursive", 3, descriptorpb.FieldDescriptorProto_TYPE_BOOL),
					scalar("isOrchestration", 5, descriptorpb.FieldDescriptorProto_TYPE_BOOL),
				},
				OneofDecl: []*descriptorpb.OneofDescriptorProto{{Name: proto.String("request")}},
			},
			msg("PurgeInstanceFilter",
				message("createdTimeFrom", 1, timestamp),
				message("createdTimeTo", 2, timestamp),
				repeated(enum("runtimeStatus", 3, status)),
				message("timeout", 4, duration)),
			msg("InstanceBatch", repeated(scalar("instanceIds", 1, descriptorpb.FieldDescriptorProto_TYPE_STRING))),
			msg("PurgeInstancesResponse",
				scalar("deletedInstanceCount", 1, descriptorpb.FieldDescriptorProto_TYPE_INT32),
				message("isComplete", 2, boolVal)),
			msg("RestartInstanceRequest",
				scalar("instanceId", 1, descriptorpb.FieldDescriptorProto_TYPE_STRING),
				scalar("restartWithNewInstanceId", 2, descriptorpb.FieldDescriptorProto_TYPE_BOOL)),
			msg("RestartInstanceResponse", scalar("instanceId", 1, descriptorpb.FieldDescriptorProto_TYPE_STRING)),
			msg("StreamInstanceHistoryRequest",
				scalar("instanceId", 1, descriptorpb.FieldDescriptorProto_TYPE_STRING),
				message("executionId", 2, stringVal),
				scalar("forWorkItemProcessing", 3, descriptorpb.FieldDescriptorProto_TYPE_BOOL)),
			msg("HistoryChunk", repeated(message("events", 1, ".HistoryEvent"))),
			msg("TerminateRequest",
				scalar("instanceId", 1, descriptorpb.FieldDescriptorProto_TYPE_STRING),
				message("output", 2, stringVal),
				scalar("recursive", 3, descriptorpb.FieldDescriptorProto_TYPE_BOOL)),
			msg("SuspendRequest",
				scalar("instanceId", 1, descriptorpb.FieldDescriptorProto_TYPE_STRING),
				message("reason", 2, stringVal)),
			msg("ResumeRequest",
				scalar("instanceId", 1, descriptorpb.FieldDescriptorProto_TYPE_STRING),
				message("reason", 2, stringVal)),
		},
	}
}

func msg(name string, fields ...*descriptorpb.FieldDescriptorProto) *descriptorpb.DescriptorProto {
	return &descriptorpb.DescriptorProto{Name: proto.String(name), Field: fields}
}

func scalar(name string, num int32, typ descriptorpb.FieldDescriptorProto_Type) *descriptorpb.FieldDescriptorProto {
	return &descriptorpb.FieldDescriptorProto{
		Name:     proto.String(name),
		JsonName: proto.String(name),
		Number:   proto.Int32(num),
		Label:    descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
		Type:     typ.Enum(),
	}
}

func message(name string, num int32, typeName string) *descriptorpb.FieldDescriptorProto {
	f := scalar(name, num, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE)
	f.TypeName = proto.String(typeName)
	return f
}

func enum(name string, num int32, typeName string) *descriptorpb.FieldDescriptorProto {
	f := scalar(name, num, descriptorpb.FieldDescriptorProto_TYPE_ENUM)
	f.TypeName = proto.String(typeName)
	return f
}

func repeated(f *descriptorpb.FieldDescriptorProto) *descriptorpb.FieldDescriptorProto {
	f.Label = descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum()
	return f
}

func oneof(f *descriptorpb.FieldDescriptorProto) *descriptorpb.FieldDescriptorProto {
	f.OneofIndex = proto.Int32(0)
	return f
}

// fields reads and writes a message of the descriptors above by field
// name. The names are this package's constants, so a missing one is a bug
// that the package's tests catch; it panics.
type fields struct{ m protoreflect.Message }

func newMessage(d protoreflect.MessageDescriptor) fields { return fields{dynamicpb.NewMessage(d)} }

func (f fields) fd(name string) protoreflect.FieldDescriptor {
	fd := f.m.Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil {
		panic(fmt.Sprintf("mgmt: %s has no field %s", f.m.Descriptor().FullName(), name))
	}
	return fd
}

func (f fields) message() proto.Message { return f.m.Interface() }

func (f fields) has(name string) bool { return f.m.Has(f.fd(name)) }

func (f fields) str(name string) string { return f.m.Get(f.fd(name)).String() }

func (f fields) setStr(name, v string) {
	if v != "" {
		f.m.Set(f.fd(name), protoreflect.ValueOfString(v))
	}
}

func (f fields) boolean(name string) bool { return f.m.Get(f.fd(name)).Bool() }

func (f fields) setBool(name string, v bool) {
	if v {
		f.m.Set(f.fd(name), protoreflect.ValueOfBool(v))
	}
}

func (f fields) int32(name string) int32 { return int32(f.m.Get(f.fd(name)).Int()) }

func (f fields) setInt32(name string, v int32) {
	if v != 0 {
		f.m.Set(f.fd(name), protoreflect.ValueOfInt32(v))
	}
}

// sub is a message-typed field, created if absent.
func (f fields) sub(name string) fields { return fields{f.m.Mutable(f.fd(name)).Message()} }

// get is a message-typed field as it is (an empty read-only message when
// absent).
func (f fields) get(name string) fields { return fields{f.m.Get(f.fd(name)).Message()} }

// wrapped reads a google.protobuf.StringValue (or BoolValue) field and
// whether it is set.
func (f fields) wrapped(name string) (string, bool) {
	if !f.has(name) {
		return "", false
	}
	return f.get(name).str("value"), true
}

func (f fields) setWrapped(name, v string) {
	w := f.sub(name)
	w.setStr("value", v)
}

func (f fields) time(name string) time.Time {
	if !f.has(name) {
		return time.Time{}
	}
	t := f.get(name)
	return time.Unix(t.m.Get(t.fd("seconds")).Int(), t.m.Get(t.fd("nanos")).Int()).UTC()
}

func (f fields) setTime(name string, v time.Time) {
	if v.IsZero() {
		return
	}
	t := f.sub(name)
	t.m.Set(t.fd("seconds"), protoreflect.ValueOfInt64(v.Unix()))
	t.m.Set(t.fd("nanos"), protoreflect.ValueOfInt32(int32(v.Nanosecond())))
}

func (f fields) statuses(name string) []api.OrchestrationStatus {
	l := f.m.Get(f.fd(name)).List()
	out := make([]api.OrchestrationStatus, l.Len())
	for i := range out {
		out[i] = api.OrchestrationStatus(l.Get(i).Enum())
	}
	return out
}

func (f fields) setStatuses(name string, v []api.OrchestrationStatus) {
	if len(v) == 0 {
		return
	}
	l := f.m.Mutable(f.fd(name)).List()
	for _, s := range v {
		l.Append(protoreflect.ValueOfEnum(protoreflect.EnumNumber(s)))
	}
}

func (f fields) strings(name string) []string {
	l := f.m.Get(f.fd(name)).List()
	out := make([]string, l.Len())
	for i := range out {
		out[i] = l.Get(i).String()
	}
	return out
}

func (f fields) setStrings(name string, v []string) {
	if len(v) == 0 {
		return
	}
	l := f.m.Mutable(f.fd(name)).List()
	for _, s := range v {
		l.Append(protoreflect.ValueOfString(s))
	}
}

// concrete copies a message field into a generated type of v0.6.0 (the
// field decodes as a dynamic message of the same descriptor).
func concrete(m protoreflect.Message, into proto.Message) error {
	return wireCopy(m.Interface(), into)
}

// dynamicOf re-encodes msg, of one of v0.6.0's generated types, as a
// dynamic message of d, which reads the fields v0.6.0 does not know.
func dynamicOf(d protoreflect.MessageDescriptor, msg proto.Message) (fields, error) {
	f := newMessage(d)
	return f, wireCopy(msg, f.m.Interface())
}

// wireCopy copies from into a message of another type of the same wire
// form.
func wireCopy(from, into proto.Message) error {
	b, err := proto.Marshal(from)
	if err != nil {
		return err
	}
	return proto.Unmarshal(b, into)
}

// stateMessage encodes an instance as an OrchestrationState.
func stateMessage(in *Instance, payloads bool) fields {
	s := newMessage(msgOrchestrationState)
	s.setStr("instanceId", string(in.InstanceID))
	s.setStr("name", in.Name)
	s.m.Set(s.fd("orchestrationStatus"), protoreflect.ValueOfEnum(protoreflect.EnumNumber(in.RuntimeStatus)))
	s.setTime("createdTimestamp", in.CreatedAt)
	s.setTime("lastUpdatedTimestamp", in.LastUpdatedAt)
	if payloads {
		if in.SerializedInput != "" {
			s.setWrapped("input", in.SerializedInput)
		}
		if in.SerializedOutput != "" {
			s.setWrapped("output", in.SerializedOutput)
		}
		if in.SerializedCustomStatus != "" {
			s.setWrapped("customStatus", in.SerializedCustomStatus)
		}
		if in.FailureDetails != nil {
			s.m.Set(s.fd("failureDetails"), protoreflect.ValueOfMessage(in.FailureDetails.ProtoReflect()))
		}
	}
	if in.ExecutionID != "" {
		s.setWrapped("executionId", in.ExecutionID)
	}
	s.setTime("completedTimestamp", in.CompletedAt)
	if len(in.Tags) > 0 {
		tags := s.m.Mutable(s.fd("tags")).Map()
		for k, v := range in.Tags {
			tags.Set(protoreflect.ValueOfString(k).MapKey(), protoreflect.ValueOfString(v))
		}
	}
	return s
}

// instanceOf decodes an OrchestrationState.
func instanceOf(s fields) (*Instance, error) {
	in := &Instance{}
	in.InstanceID = api.InstanceID(s.str("instanceId"))
	in.Name = s.str("name")
	in.RuntimeStatus = api.OrchestrationStatus(s.m.Get(s.fd("orchestrationStatus")).Enum())
	in.CreatedAt = s.time("createdTimestamp")
	in.LastUpdatedAt = s.time("lastUpdatedTimestamp")
	in.SerializedInput, _ = s.wrapped("input")
	in.SerializedOutput, _ = s.wrapped("output")
	in.SerializedCustomStatus, _ = s.wrapped("customStatus")
	if s.has("failureDetails") {
		in.FailureDetails = &backend.TaskFailureDetails{}
		if err := concrete(s.get("failureDetails").m, in.FailureDetails); err != nil {
			return nil, fmt.Errorf("decode failure details of %s: %w", in.InstanceID, err)
		}
	}
	in.ExecutionID, _ = s.wrapped("executionId")
	in.CompletedAt = s.time("completedTimestamp")
	if tags := s.m.Get(s.fd("tags")).Map(); tags.Len() > 0 {
		in.Tags = make(map[string]string, tags.Len())
		tags.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
			in.Tags[k.String()] = v.String()
			return true
		})
	}
	return in, nil
}
