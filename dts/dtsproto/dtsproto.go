// Package dtsproto reads and writes the Durable Task protocol fields that
// durabletask-go v0.6.0's generated types predate. Those types live in an
// internal package, so both sides of the protocol in this module (the
// worker's client interceptors in dts and the scheduler's server
// interceptors in scheduler/guard) work on messages through protoreflect.
//
// Each helper first asks the message's descriptor whether it declares the
// field; only when it does not is the field read from or written to the
// message's unknown fields. That keeps the code right if the generated types
// are ever regenerated from a newer .proto.
package dtsproto

import (
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Full gRPC method names of the calls the interceptors care about.
const (
	MethodPrefix                   = "/TaskHubSidecarService/"
	MethodGetWorkItems             = MethodPrefix + "GetWorkItems"
	MethodCompleteOrchestratorTask = MethodPrefix + "CompleteOrchestratorTask"
	MethodCompleteActivityTask     = MethodPrefix + "CompleteActivityTask"
	MethodHello                    = MethodPrefix + "Hello"
)

// Field numbers from the current orchestrator_service.proto that v0.6.0's
// generated code lacks.
const (
	// WorkItem.healthPing (message HealthPing), sent by the service to keep
	// the work item stream alive.
	FieldWorkItemHealthPing protowire.Number = 4
	// WorkItem.completionToken (string).
	FieldWorkItemCompletionToken protowire.Number = 10
	// OrchestratorResponse.completionToken (string).
	FieldOrchestratorResponseCompletionToken protowire.Number = 4
	// ActivityResponse.completionToken (string).
	FieldActivityResponseCompletionToken protowire.Number = 5
	// GetWorkItemsRequest.maxConcurrentOrchestrationWorkItems (int32).
	FieldMaxConcurrentOrchestrationWorkItems protowire.Number = 1
	// GetWorkItemsRequest.maxConcurrentActivityWorkItems (int32).
	FieldMaxConcurrentActivityWorkItems protowire.Number = 2
)

// String returns the value of the string field num of m, from the declared
// field or from the unknown fields, and whether it was present. With
// repeated occurrences the last one wins, as protobuf decoding does.
func String(m protoreflect.Message, num protowire.Number) (string, bool) {
	if fd := m.Descriptor().Fields().ByNumber(num); fd != nil {
		if fd.Kind() != protoreflect.StringKind || fd.IsList() || fd.IsMap() {
			return "", false
		}
		if !m.Has(fd) {
			return "", false
		}
		return m.Get(fd).String(), true
	}
	field, ok := lastUnknown(m.GetUnknown(), num, protowire.BytesType)
	if !ok {
		return "", false
	}
	v, k := protowire.ConsumeBytes(field)
	if k < 0 {
		return "", false
	}
	return string(v), true
}

// SetString sets the string field num of m, replacing any earlier value.
// It reports false when m declares field num with another type.
func SetString(m protoreflect.Message, num protowire.Number, v string) bool {
	if fd := m.Descriptor().Fields().ByNumber(num); fd != nil {
		if fd.Kind() != protoreflect.StringKind || fd.IsList() || fd.IsMap() {
			return false
		}
		m.Set(fd, protoreflect.ValueOfString(v))
		return true
	}
	replaceUnknown(m, num, protowire.BytesType, protowire.AppendString(nil, v))
	return true
}

// SetInt32 sets the int32 field num of m, replacing any earlier value. It
// reports false when m declares field num with another type.
func SetInt32(m protoreflect.Message, num protowire.Number, v int32) bool {
	if fd := m.Descriptor().Fields().ByNumber(num); fd != nil {
		if fd.Kind() != protoreflect.Int32Kind || fd.IsList() || fd.IsMap() {
			return false
		}
		m.Set(fd, protoreflect.ValueOfInt32(v))
		return true
	}
	// int32 is encoded as a sign-extended 64-bit varint.
	replaceUnknown(m, num, protowire.VarintType, protowire.AppendVarint(nil, uint64(int64(v))))
	return true
}

// Int32 returns the value of the int32 field num of m and whether it was
// present.
func Int32(m protoreflect.Message, num protowire.Number) (int32, bool) {
	if fd := m.Descriptor().Fields().ByNumber(num); fd != nil {
		if fd.Kind() != protoreflect.Int32Kind || fd.IsList() || fd.IsMap() || !m.Has(fd) {
			return 0, false
		}
		return int32(m.Get(fd).Int()), true
	}
	field, ok := lastUnknown(m.GetUnknown(), num, protowire.VarintType)
	if !ok {
		return 0, false
	}
	v, k := protowire.ConsumeVarint(field)
	if k < 0 {
		return 0, false
	}
	return int32(v), true
}

// HasMessage reports whether the message-typed field num of m is set.
func HasMessage(m protoreflect.Message, num protowire.Number) bool {
	if fd := m.Descriptor().Fields().ByNumber(num); fd != nil {
		return fd.Message() != nil && !fd.IsList() && !fd.IsMap() && m.Has(fd)
	}
	_, found := lastUnknown(m.GetUnknown(), num, protowire.BytesType)
	return found
}

// SetEmptyMessage sets the message-typed field num of m to an empty
// message. It reports false when m declares field num with another type.
func SetEmptyMessage(m protoreflect.Message, num protowire.Number) bool {
	if fd := m.Descriptor().Fields().ByNumber(num); fd != nil {
		if fd.Message() == nil || fd.IsList() || fd.IsMap() {
			return false
		}
		m.Set(fd, protoreflect.ValueOfMessage(m.NewField(fd).Message()))
		return true
	}
	replaceUnknown(m, num, protowire.BytesType, protowire.AppendBytes(nil, nil))
	return true
}

// WalkUnknown calls fn with each well-formed field in raw, passing the bytes
// of the field's value (without its tag). It stops at the first malformed
// field: unknown fields come from the network and must never make us panic.
func WalkUnknown(raw []byte, fn func(num protowire.Number, typ protowire.Type, value []byte)) {
	walkFields(raw, func(num protowire.Number, typ protowire.Type, _, value []byte) {
		fn(num, typ, value)
	})
}

// walkFields is WalkUnknown's loop, also passing each field's whole encoding
// (tag and value) so that without can copy fields byte for byte.
func walkFields(raw []byte, fn func(num protowire.Number, typ protowire.Type, field, value []byte)) {
	for len(raw) > 0 {
		num, typ, n := protowire.ConsumeTag(raw)
		if n < 0 {
			return
		}
		m := protowire.ConsumeFieldValue(num, typ, raw[n:])
		if m < 0 {
			return
		}
		fn(num, typ, raw[:n+m], raw[n:n+m])
		raw = raw[n+m:]
	}
}

// lastUnknown returns the value bytes of the last occurrence of field num
// with wire type typ in raw. The last one wins, as protobuf decoding does;
// WalkUnknown has already checked that its value is well formed.
func lastUnknown(raw []byte, num protowire.Number, typ protowire.Type) (value []byte, found bool) {
	WalkUnknown(raw, func(n protowire.Number, t protowire.Type, v []byte) {
		if n == num && t == typ {
			value, found = v, true
		}
	})
	return value, found
}

// replaceUnknown makes value, already encoded for wire type typ, the only
// occurrence of field num among m's unknown fields.
func replaceUnknown(m protoreflect.Message, num protowire.Number, typ protowire.Type, value []byte) {
	b := without(m.GetUnknown(), num)
	b = protowire.AppendTag(b, num, typ)
	m.SetUnknown(append(b, value...))
}

// without returns a copy of raw with every occurrence of field num removed.
// A malformed tail is dropped, since it could not be re-encoded faithfully.
func without(raw []byte, num protowire.Number) []byte {
	out := make([]byte, 0, len(raw)+16)
	walkFields(raw, func(n protowire.Number, _ protowire.Type, field, _ []byte) {
		if n != num {
			out = append(out, field...)
		}
	})
	return out
}

// Work item identity. A completion names its work item by these same
// values, so both sides use them as the key of the outstanding token.

// WorkItemKey returns the identity of the orchestrator or activity request
// carried by a WorkItem, or "" for any other kind (health pings, entity
// batches).
func WorkItemKey(workItem protoreflect.Message) string {
	fields := workItem.Descriptor().Fields()
	if fd := fields.ByName("orchestratorRequest"); fd != nil && workItem.Has(fd) {
		req := workItem.Get(fd).Message()
		return OrchestratorKey(stringByName(req, "instanceId"))
	}
	if fd := fields.ByName("activityRequest"); fd != nil && workItem.Has(fd) {
		req := workItem.Get(fd).Message()
		iid := ""
		if inst := req.Descriptor().Fields().ByName("orchestrationInstance"); inst != nil && req.Has(inst) {
			iid = stringByName(req.Get(inst).Message(), "instanceId")
		}
		return ActivityKey(iid, int32ByName(req, "taskId"))
	}
	return ""
}

// OrchestratorResponseKey returns the identity of the work item an
// OrchestratorResponse completes.
func OrchestratorResponseKey(resp protoreflect.Message) string {
	return OrchestratorKey(stringByName(resp, "instanceId"))
}

// ActivityResponseKey returns the identity of the work item an
// ActivityResponse completes.
func ActivityResponseKey(resp protoreflect.Message) string {
	return ActivityKey(stringByName(resp, "instanceId"), int32ByName(resp, "taskId"))
}

// OrchestratorKey is the identity of an orchestrator work item.
func OrchestratorKey(instanceID string) string { return "o\x00" + instanceID }

// ActivityKey is the identity of an activity work item.
func ActivityKey(instanceID string, taskID int32) string {
	return "a\x00" + instanceID + "\x00" + strconv.FormatInt(int64(taskID), 10)
}

func stringByName(m protoreflect.Message, name protoreflect.Name) string {
	fd := m.Descriptor().Fields().ByName(name)
	if fd == nil || fd.Kind() != protoreflect.StringKind || fd.IsList() {
		return ""
	}
	return m.Get(fd).String()
}

func int32ByName(m protoreflect.Message, name protoreflect.Name) int32 {
	fd := m.Descriptor().Fields().ByName(name)
	if fd == nil || fd.Kind() != protoreflect.Int32Kind || fd.IsList() {
		return 0
	}
	return int32(m.Get(fd).Int())
}
