package dashboard

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/microsoft/durabletask-go/api"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/approvals-go/approvals/dts/mgmt"
)

// The JSON API's reads of one instance: its state, its payloads and its
// history.

// pathInstance reads the instance the path names, or answers why it
// cannot.
func (s *Server) pathInstance(w http.ResponseWriter, r *http.Request, h Hub) (*mgmt.Instance, bool) {
	in, err := h.Instance(r.Context(), api.InstanceID(r.PathValue("id")))
	if err != nil {
		s.apiError(w, "read the orchestration", err)
		return nil, false
	}
	return in, true
}

func (s *Server) apiInstance(w http.ResponseWriter, r *http.Request, h Hub) {
	in, ok := s.pathInstance(w, r, h)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, orchestrationOf(in))
}

type failureJSON struct {
	ErrorType      string       `json:"errorType"`
	ErrorMessage   string       `json:"errorMessage"`
	StackTrace     string       `json:"stackTrace,omitempty"`
	InnerFailure   *failureJSON `json:"innerFailure,omitempty"`
	IsNonRetriable bool         `json:"isNonRetriable"`
}

func (s *Server) apiPayloads(w http.ResponseWriter, r *http.Request, h Hub) {
	in, ok := s.pathInstance(w, r, h)
	if !ok {
		return
	}
	type payloads struct {
		Input               string       `json:"input,omitempty"`
		Output              string       `json:"output,omitempty"`
		CustomStatus        string       `json:"customStatus,omitempty"`
		OrchestrationStatus string       `json:"orchestrationStatus"`
		FailureDetails      *failureJSON `json:"failureDetails,omitempty"`
	}
	p := payloads{Input: in.SerializedInput, Output: in.SerializedOutput, CustomStatus: in.SerializedCustomStatus,
		OrchestrationStatus: in.RuntimeStatus.String()}
	var into **failureJSON = &p.FailureDetails
	for fd := in.FailureDetails; fd != nil; fd = fd.GetInnerFailure() {
		*into = &failureJSON{ErrorType: fd.GetErrorType(), ErrorMessage: fd.GetErrorMessage(),
			StackTrace: fd.GetStackTrace().GetValue(), IsNonRetriable: fd.GetIsNonRetriable()}
		into = &(*into).InnerFailure
	}
	writeJSON(w, http.StatusOK, p)
}

// apiHistory answers the whole history of the instance's current
// execution; the embedded scheduler keeps no other.
func (s *Server) apiHistory(w http.ResponseWriter, r *http.Request, h Hub) {
	in, ok := s.pathInstance(w, r, h)
	if !ok {
		return
	}
	ctx, id := r.Context(), in.InstanceID
	if exec := r.PathValue("execution"); in.ExecutionID != "" && exec != in.ExecutionID {
		problem(w, http.StatusNotFound, "no such execution of this instance; its current execution is "+in.ExecutionID)
		return
	}
	events := []json.RawMessage{}
	for {
		window, total, err := h.History(ctx, id, len(events), 1000)
		if err != nil {
			s.apiError(w, "read the history", err)
			return
		}
		for _, e := range window {
			if n, ok := mgmt.DecodeNewer(e); ok {
				if raw, err := n.JSON(); err == nil {
					events = append(events, raw)
					continue
				}
			}
			raw, err := protojson.Marshal(e)
			if err != nil {
				s.apiError(w, "encode the history", err)
				return
			}
			events = append(events, raw)
		}
		if len(window) == 0 || len(events) >= total {
			break
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"history": events})
}

// addEventRequest is one history event to add, named as the protocol's
// HistoryEvent fields are.
type addEventRequest struct {
	ExecutionSuspended  *reasonEvent `json:"executionSuspended"`
	ExecutionResumed    *reasonEvent `json:"executionResumed"`
	ExecutionTerminated *reasonEvent `json:"executionTerminated"`
	EventRaised         *struct {
		Name  string          `json:"name"`
		Input json.RawMessage `json:"input"`
	} `json:"eventRaised"`
}

type reasonEvent struct {
	Reason string `json:"reason"`
	// Input is the protocol's name for a termination's output and a
	// suspension's reason.
	Input string `json:"input"`
}

func (e *reasonEvent) text() string {
	if e.Reason != "" {
		return e.Reason
	}
	return e.Input
}

// rawInput is an event's payload: a JSON string holding the payload, as
// the protocol's JSON form carries it, or the payload itself.
func rawInput(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if !validJSON(s) {
			return "", errors.New("eventRaised.input is not JSON")
		}
		return s, nil
	}
	return string(raw), nil
}
