package mgmt

import (
	"errors"
	"fmt"

	"github.com/microsoft/durabletask-go/backend"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// newerEvent reads e through the HistoryEvent descriptor of the newer event
// types.
func newerEvent(e *backend.HistoryEvent) (fields, error) {
	return dynamicOf(msgEntityHistoryEvent, e)
}

// v060Event re-encodes a HistoryEvent of the newer types as v0.6.0's type.
func v060Event(f fields) (*backend.HistoryEvent, error) {
	e := &backend.HistoryEvent{}
	return e, concrete(f.m, e)
}

// newerEventOf builds a HistoryEvent of kind name with id, timestamped now,
// whose body fill writes.
func newerEventOf(id int32, name string, fill func(fields)) *backend.HistoryEvent {
	f := newMessage(msgEntityHistoryEvent)
	f.m.Set(f.fd("eventId"), protoreflect.ValueOfInt32(id))
	f.m.Set(f.fd("timestamp"), protoreflect.ValueOfMessage(timestamppb.Now().ProtoReflect()))
	fill(f.sub(name))
	e, err := v060Event(f)
	if err != nil {
		// Both sides are the same protocol message built here.
		panic(fmt.Sprintf("mgmt: re-encode %s: %v", name, err))
	}
	return e
}

// ExecutionRewound is the event that asks a worker to rewind a failed
// orchestration; parentExecution is set when the orchestration is a
// sub-orchestration rewound with its parent.
func ExecutionRewound(reason, parentExecution string) *backend.HistoryEvent {
	return newerEventOf(-1, kindExecutionRewound, func(b fields) {
		if reason != "" {
			b.setWrapped("reason", reason)
		}
		if parentExecution != "" {
			b.setWrapped("parentExecutionId", parentExecution)
		}
	})
}

// Newer is a history event of a type v0.6.0 does not know, decoded once.
type Newer struct {
	// Kind names its type ("executionRewound", "entityOperationCalled",
	// ...).
	Kind string
	// RewoundReason is the reason of an ExecutionRewound event.
	RewoundReason string
	// Entity is the message to an entity the event carries, if it is one.
	Entity *EntityMessage
	f      fields
}

// DecodeNewer decodes e when it is of a type v0.6.0 does not know; false
// for any other event.
func DecodeNewer(e *backend.HistoryEvent) (Newer, bool) {
	if e.GetEventType() != nil || len(e.ProtoReflect().GetUnknown()) == 0 {
		return Newer{}, false
	}
	f, err := newerEvent(e)
	if err != nil {
		return Newer{}, false
	}
	set := f.m.WhichOneof(f.m.Descriptor().Oneofs().ByName("eventType"))
	if set == nil {
		return Newer{}, false
	}
	n := Newer{Kind: string(set.Name()), f: f}
	if n.Kind == kindExecutionRewound {
		n.RewoundReason, _ = f.get(kindExecutionRewound).wrapped("reason")
	}
	n.Entity, _ = entityMessageIn(f)
	return n, true
}

// JSON is the protocol's JSON form of the event (protojson leaves out the
// unknown fields of v0.6.0's type).
func (n Newer) JSON() ([]byte, error) { return protojson.Marshal(n.f.m.Interface()) }

const kindExecutionRewound = "executionRewound"

// IsExecutionRewound reports whether e is an ExecutionRewound event.
func IsExecutionRewound(e *backend.HistoryEvent) bool {
	n, ok := DecodeNewer(e)
	return ok && n.Kind == kindExecutionRewound
}

// NewerAction is an orchestrator action that v0.6.0 does not know.
type NewerAction struct {
	ID int32
	// Entity is set for a message to an entity (sendEntityMessage).
	Entity *EntityMessage
	// Rewind is set for a rewind (rewindOrchestration): the history the
	// worker rewrote, which replaces the orchestration's.
	Rewind []*backend.HistoryEvent
}

// NewerActionOf reads an OrchestratorAction of v0.6.0's type; nil when it
// is one of the actions v0.6.0 knows.
func NewerActionOf(action proto.Message) (*NewerAction, error) {
	if len(action.ProtoReflect().GetUnknown()) == 0 {
		return nil, nil
	}
	f, err := dynamicOf(msgEntityOrchestratorAction, action)
	if err != nil {
		return nil, fmt.Errorf("decode orchestrator action: %w", err)
	}
	a := &NewerAction{ID: f.int32("id")}
	switch {
	case f.has("sendEntityMessage"):
		send := f.get("sendEntityMessage")
		set := send.m.WhichOneof(send.m.Descriptor().Oneofs().ByName("EntityMessageType"))
		if set == nil {
			return nil, errors.New("sendEntityMessage action without a message")
		}
		for kind, names := range entityEventFields {
			if set.Name() == names[1] {
				a.Entity = entityMessageFrom(kind, send.get(string(names[1])))
			}
		}
	case f.has("rewindOrchestration"):
		list := f.get("rewindOrchestration").m.Get(f.get("rewindOrchestration").fd("newHistory")).List()
		a.Rewind = make([]*backend.HistoryEvent, list.Len())
		for i := range a.Rewind {
			e := &backend.HistoryEvent{}
			if err := concrete(list.Get(i).Message(), e); err != nil {
				return nil, err
			}
			a.Rewind[i] = e
		}
		if a.Rewind == nil {
			a.Rewind = []*backend.HistoryEvent{}
		}
	default:
		return nil, nil
	}
	return a, nil
}
