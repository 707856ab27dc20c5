package scheduler

import (
	"encoding/base64"
	"strings"

	"github.com/microsoft/durabletask-go/backend"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// durabletask-go v0.6.0's orchestration runtime names every event it is
// given in a log line, by reflection on the event's type, and panics on an
// event of a type it does not know (the entity events and ExecutionRewound
// of the current protocol). Such events pass through it disguised as a
// GenericEvent that carries the original, and are restored before they
// reach a worker (newerExecutor) or the history (saveExecution).

const disguisePrefix = "approvals-newer-event:"

// disguised returns events with each event of a type v0.6.0 does not know
// replaced by its disguise; events is not modified.
func disguised(events []*backend.HistoryEvent) []*backend.HistoryEvent {
	return mapEvents(events, disguise)
}

// disguise returns the GenericEvent that carries e when v0.6.0 does not
// know e's type, or e.
func disguise(e *backend.HistoryEvent) *backend.HistoryEvent {
	if e.GetEventType() != nil {
		return e
	}
	payload, err := backend.MarshalHistoryEvent(e)
	if err != nil {
		return e
	}
	d := &backend.HistoryEvent{EventId: e.EventId, Timestamp: e.Timestamp}
	r := d.ProtoReflect()
	g := r.Mutable(field(r, "genericEvent")).Message()
	g.Set(field(g, "data"), protoreflect.ValueOfMessage(wrapperspb.String(disguisePrefix+base64.StdEncoding.EncodeToString(payload)).ProtoReflect()))
	return d
}

// restored undoes disguised; events is not modified.
func restored(events []*backend.HistoryEvent) []*backend.HistoryEvent {
	return mapEvents(events, restore)
}

// mapEvents returns events with each event replaced by f's result; events
// itself when f changes none, a copy otherwise.
func mapEvents(events []*backend.HistoryEvent, f func(*backend.HistoryEvent) *backend.HistoryEvent) []*backend.HistoryEvent {
	var out []*backend.HistoryEvent
	for i, e := range events {
		mapped := f(e)
		if mapped == e {
			if out != nil {
				out = append(out, e)
			}
			continue
		}
		if out == nil {
			out = append(make([]*backend.HistoryEvent, 0, len(events)), events[:i]...)
		}
		out = append(out, mapped)
	}
	if out == nil {
		return events
	}
	return out
}

// restore returns the event e disguises, or e.
func restore(e *backend.HistoryEvent) *backend.HistoryEvent {
	data, ok := strings.CutPrefix(e.GetGenericEvent().GetData().GetValue(), disguisePrefix)
	if !ok {
		return e
	}
	payload, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return e
	}
	orig, err := backend.UnmarshalHistoryEvent(payload)
	if err != nil {
		return e
	}
	return orig
}
