package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/microsoft/durabletask-go/api"

	"github.com/approvals-go/approvals/dts/mgmt"
	"github.com/approvals-go/approvals/scheduler"
)

// The emulator's JSON API, which Microsoft does not document. Its shape is
// the one its callers use: the Azure CLI's durabletask extension (POST
// orchestrations/query with filter, pagination and sort, GET
// orchestrations/{id}), the VS Code extension (the query's orchestrations,
// totalCount and trivia; metadata, payloads and history), .NET Aspire's
// health check (GET ping), and the management calls that add a history
// event or purge. The task hub comes in the x-taskhub header. Statuses are
// the protocol's enum names ("ORCHESTRATION_STATUS_RUNNING"); times are
// RFC 3339; history events are the protocol's HistoryEvent in protobuf's
// JSON form.

const apiPrefix = "/api/v1/taskhubs/"

// maxAPIBody bounds a request body: a raised event's payload is bounded by
// the scheduler's 1 MiB anyway.
const maxAPIBody = 2 << 20

func (s *Server) routesAPI(mux *http.ServeMux) {
	mux.HandleFunc("GET "+apiPrefix+"ping", s.apiHub(func(w http.ResponseWriter, r *http.Request, h Hub) {
		writeJSON(w, http.StatusOK, map[string]string{"taskHub": h.Name(), "status": "Healthy"})
	}))
	mux.HandleFunc("POST "+apiPrefix+"orchestrations/query", s.apiHub(s.apiQuery))
	mux.HandleFunc("GET "+apiPrefix+"orchestrations/{id}", s.apiHub(s.apiInstance))
	mux.HandleFunc("GET "+apiPrefix+"orchestrations/{id}/payloads", s.apiHub(s.apiPayloads))
	mux.HandleFunc("GET "+apiPrefix+"orchestrations/{id}/executions/{execution}/history", s.apiHub(s.apiHistory))
	mux.HandleFunc("POST "+apiPrefix+"orchestrations/{id}/history", s.apiHub(s.apiAddEvent))
	mux.HandleFunc("DELETE "+apiPrefix+"orchestrations/{id}", s.apiHub(s.apiPurge))
	mux.HandleFunc(apiPrefix, func(w http.ResponseWriter, r *http.Request) {
		problem(w, http.StatusNotFound, "no such route in the task hub API")
	})
}

// apiHub resolves the x-taskhub header; none means "default", as the
// emulator's only hub is by default.
func (s *Server) apiHub(next func(http.ResponseWriter, *http.Request, Hub)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimSpace(r.Header.Get("x-taskhub"))
		if name == "" {
			name = "default"
		}
		h, ok := s.hub(name)
		if !ok {
			problem(w, http.StatusNotFound, fmt.Sprintf("task hub %q is not served here", name))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), writeTimeout)
		defer cancel()
		next(w, r.WithContext(ctx), h)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(body)
}

// problem answers an error as RFC 9457 problem details.
func problem(w http.ResponseWriter, status int, detail string) {
	body, _ := json.Marshal(map[string]any{"type": "about:blank", "title": http.StatusText(status), "status": status, "detail": detail})
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(body)
}

// apiError answers a Hub error.
func (s *Server) apiError(w http.ResponseWriter, what string, err error) {
	if errors.Is(err, api.ErrInstanceNotFound) {
		problem(w, http.StatusNotFound, "no such orchestration instance")
		return
	}
	s.log.Error("dashboard API: "+what, "err", err)
	problem(w, http.StatusInternalServerError, "could not "+what)
}

// decodeBody reads one JSON object, ignoring fields this scheduler does
// not know, as the tools send some that only the service reads.
func decodeBody(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAPIBody+1))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if len(body) > maxAPIBody {
		return errors.New("body too large")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("body is not the JSON object expected: %w", err)
	}
	return nil
}

type stringFilter struct {
	Value string `json:"value"`
}

type timeFilter struct {
	Start *time.Time `json:"start"`
	End   *time.Time `json:"end"`
}

func (t *timeFilter) empty() bool { return t == nil || (t.Start == nil && t.End == nil) }

type queryRequest struct {
	Filter struct {
		OrchestrationID     *stringFilter `json:"orchestrationId"`
		Name                *stringFilter `json:"name"`
		CreatedAt           *timeFilter   `json:"createdAt"`
		LastUpdatedAt       *timeFilter   `json:"lastUpdatedAt"`
		CompletedAt         *timeFilter   `json:"completedAt"`
		StartAt             *timeFilter   `json:"startAt"`
		Version             *stringFilter `json:"version"`
		Tags                *stringFilter `json:"tags"`
		OrchestrationStatus *struct {
			Status []string `json:"status"`
		} `json:"orchestrationStatus"`
	} `json:"filter"`
	Pagination *struct {
		StartIndex int `json:"startIndex"`
		Count      int `json:"count"`
	} `json:"pagination"`
	Sort []struct {
		Column    string `json:"column"`
		Direction string `json:"direction"`
	} `json:"sort"`
}

// orchestrationJSON is an instance's metadata.
type orchestrationJSON struct {
	InstanceID           string            `json:"instanceId"`
	ExecutionID          string            `json:"executionId,omitempty"`
	Name                 string            `json:"name"`
	CreatedTimestamp     time.Time         `json:"createdTimestamp"`
	LastUpdatedTimestamp time.Time         `json:"lastUpdatedTimestamp"`
	CompletedTimestamp   *time.Time        `json:"completedTimestamp,omitempty"`
	OrchestrationStatus  string            `json:"orchestrationStatus"`
	Tags                 map[string]string `json:"tags,omitempty"`
}

func orchestrationOf(in *mgmt.Instance) orchestrationJSON {
	o := orchestrationJSON{InstanceID: string(in.InstanceID), ExecutionID: in.ExecutionID, Name: in.Name,
		CreatedTimestamp: in.CreatedAt.UTC(), LastUpdatedTimestamp: in.LastUpdatedAt.UTC(),
		OrchestrationStatus: in.RuntimeStatus.String(), Tags: in.Tags}
	if !in.CompletedAt.IsZero() {
		t := in.CompletedAt.UTC()
		o.CompletedTimestamp = &t
	}
	return o
}

// trivia are the per-status counts of everything the filter selects.
type trivia struct {
	EarliestTimestamp *time.Time `json:"earliestTimestamp,omitempty"`
	LatestTimestamp   *time.Time `json:"latestTimestamp,omitempty"`
	TotalCount        int        `json:"totalCount"`
	PendingCount      int        `json:"pendingCount"`
	RunningCount      int        `json:"runningCount"`
	SuspendedCount    int        `json:"suspendedCount"`
	CompletedCount    int        `json:"completedCount"`
	FailedCount       int        `json:"failedCount"`
	TerminatedCount   int        `json:"terminatedCount"`
	CanceledCount     int        `json:"canceledCount"`
}

type queryResponse struct {
	Orchestrations []orchestrationJSON `json:"orchestrations"`
	TotalCount     int                 `json:"totalCount"`
	Trivia         trivia              `json:"trivia"`
}

func (s *Server) apiQuery(w http.ResponseWriter, r *http.Request, h Hub) {
	var req queryRequest
	if err := decodeBody(r, &req); err != nil {
		problem(w, http.StatusBadRequest, err.Error())
		return
	}
	f, sort, offset, count, err := req.parse()
	if err != nil {
		problem(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx := r.Context()
	counts, err := h.Counts(ctx, f)
	if err != nil {
		s.apiError(w, "count orchestrations", err)
		return
	}
	list, err := h.List(ctx, f, sort, offset, count)
	if err != nil {
		s.apiError(w, "query orchestrations", err)
		return
	}
	resp := queryResponse{Orchestrations: []orchestrationJSON{}}
	for _, in := range list {
		resp.Orchestrations = append(resp.Orchestrations, orchestrationOf(in))
	}
	t := &resp.Trivia
	for st, n := range counts {
		if len(f.Statuses) > 0 && !slices.Contains(f.Statuses, st) {
			continue
		}
		t.TotalCount += n
		switch st {
		case api.RUNTIME_STATUS_PENDING:
			t.PendingCount += n
		case api.RUNTIME_STATUS_RUNNING, api.RUNTIME_STATUS_CONTINUED_AS_NEW:
			t.RunningCount += n
		case api.RUNTIME_STATUS_SUSPENDED:
			t.SuspendedCount += n
		case api.RUNTIME_STATUS_COMPLETED:
			t.CompletedCount += n
		case api.RUNTIME_STATUS_FAILED:
			t.FailedCount += n
		case api.RUNTIME_STATUS_TERMINATED:
			t.TerminatedCount += n
		case api.RUNTIME_STATUS_CANCELED:
			t.CanceledCount += n
		}
	}
	resp.TotalCount = t.TotalCount
	if t.TotalCount > 0 {
		for _, asc := range []bool{true, false} {
			edge, err := h.List(ctx, f, scheduler.Sort{Column: scheduler.SortCreated, Ascending: asc}, 0, 1)
			if err != nil {
				s.apiError(w, "query orchestrations", err)
				return
			}
			if len(edge) == 1 {
				at := edge[0].CreatedAt.UTC()
				if asc {
					t.EarliestTimestamp = &at
				} else {
					t.LatestTimestamp = &at
				}
			}
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// parse checks the query. A filter this scheduler cannot apply is refused
// rather than ignored, so that no tool shows a wrong answer as right.
func (q queryRequest) parse() (scheduler.Filter, scheduler.Sort, int, int, error) {
	var f scheduler.Filter
	qf := q.Filter
	if qf.OrchestrationID != nil {
		// The embedded scheduler matches IDs by prefix, as QueryInstances
		// does; the service's dashboard also finds IDs by their start.
		f.IDPrefix = qf.OrchestrationID.Value
	}
	if qf.Name != nil {
		f.NameContains = qf.Name.Value
	}
	if qf.CreatedAt != nil {
		if qf.CreatedAt.Start != nil {
			f.CreatedFrom = *qf.CreatedAt.Start
		}
		if qf.CreatedAt.End != nil {
			f.CreatedTo = *qf.CreatedAt.End
		}
	}
	for name, tf := range map[string]*timeFilter{"lastUpdatedAt": qf.LastUpdatedAt, "completedAt": qf.CompletedAt, "startAt": qf.StartAt} {
		if !tf.empty() {
			return f, scheduler.Sort{}, 0, 0, fmt.Errorf("filter.%s is not supported by the embedded scheduler", name)
		}
	}
	for name, sf := range map[string]*stringFilter{"version": qf.Version, "tags": qf.Tags} {
		if sf != nil && sf.Value != "" {
			return f, scheduler.Sort{}, 0, 0, fmt.Errorf("filter.%s is not supported by the embedded scheduler", name)
		}
	}
	if qf.OrchestrationStatus != nil {
		for _, v := range qf.OrchestrationStatus.Status {
			st, ok := parseStatus(v)
			if !ok {
				return f, scheduler.Sort{}, 0, 0, fmt.Errorf("filter.orchestrationStatus: unknown status %q", v)
			}
			f.Statuses = append(f.Statuses, st)
		}
	}
	sort := scheduler.Sort{Column: scheduler.SortCreated}
	if len(q.Sort) > 0 {
		col, ok := scheduler.ParseSortColumn(q.Sort[0].Column)
		if !ok {
			return f, sort, 0, 0, fmt.Errorf("sort: unknown column %q", q.Sort[0].Column)
		}
		sort.Column = col
		switch strings.ToUpper(q.Sort[0].Direction) {
		case "", "DESCENDING_SORT", "DESC", "DESCENDING":
		case "ASCENDING_SORT", "ASC", "ASCENDING":
			sort.Ascending = true
		default:
			return f, sort, 0, 0, fmt.Errorf("sort: unknown direction %q", q.Sort[0].Direction)
		}
	}
	offset, count := 0, mgmt.DefaultPageSize
	if p := q.Pagination; p != nil {
		if p.StartIndex < 0 || p.Count < 0 {
			return f, sort, 0, 0, errors.New("pagination: startIndex and count must not be negative")
		}
		offset = p.StartIndex
		if p.Count > 0 {
			count = min(p.Count, 1000)
		}
	}
	return f, sort, offset, count, nil
}

func (s *Server) apiAddEvent(w http.ResponseWriter, r *http.Request, h Hub) {
	var req addEventRequest
	if err := decodeBody(r, &req); err != nil {
		problem(w, http.StatusBadRequest, err.Error())
		return
	}
	set := 0
	for _, p := range []bool{req.ExecutionSuspended != nil, req.ExecutionResumed != nil, req.ExecutionTerminated != nil, req.EventRaised != nil} {
		if p {
			set++
		}
	}
	if set != 1 {
		problem(w, http.StatusBadRequest, "give exactly one of executionSuspended, executionResumed, executionTerminated and eventRaised")
		return
	}
	in, ok := s.pathInstance(w, r, h)
	if !ok {
		return
	}
	ctx, id := r.Context(), in.InstanceID
	if mgmt.Final(in.RuntimeStatus) {
		problem(w, http.StatusConflict, "the orchestration has finished ("+mgmt.StatusName(in.RuntimeStatus)+")")
		return
	}
	var err error
	switch {
	case req.ExecutionSuspended != nil:
		err = h.Suspend(ctx, id, req.ExecutionSuspended.text())
	case req.ExecutionResumed != nil:
		err = h.Resume(ctx, id, req.ExecutionResumed.text())
	case req.ExecutionTerminated != nil:
		err = h.Terminate(ctx, id, req.ExecutionTerminated.text())
	default:
		if req.EventRaised.Name == "" {
			problem(w, http.StatusBadRequest, "eventRaised.name is required")
			return
		}
		payload, perr := rawInput(req.EventRaised.Input)
		if perr != nil {
			problem(w, http.StatusBadRequest, perr.Error())
			return
		}
		err = h.Raise(ctx, id, req.EventRaised.Name, payload)
	}
	if err != nil {
		s.apiError(w, "add the event", err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) apiPurge(w http.ResponseWriter, r *http.Request, h Hub) {
	in, ok := s.pathInstance(w, r, h)
	if !ok {
		return
	}
	ctx, id := r.Context(), in.InstanceID
	if !mgmt.Final(in.RuntimeStatus) {
		problem(w, http.StatusConflict, "the orchestration is "+mgmt.StatusName(in.RuntimeStatus)+"; only a finished one can be purged")
		return
	}
	n, err := h.Purge(ctx, []api.InstanceID{id})
	if err != nil {
		s.apiError(w, "purge the orchestration", err)
		return
	}
	if n == 0 {
		problem(w, http.StatusConflict, "the orchestration is running again; it was kept")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
