package scheduler

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"

	"github.com/approvals-go/approvals/dts/mgmt"
)

// contradiction says how an instance's stored status contradicts its
// history, or "" when it does not (see the invariants on instance): the
// history starts before anything else happens to it; an instance without
// ExecutionStarted in its history is Pending, with no completion time or
// output; one whose history has ExecutionCompleted has that event's status
// and a completion time; one started and not completed is Running or
// Suspended.
func contradiction(status api.OrchestrationStatus, completed bool, output string, history []*backend.HistoryEvent) string {
	start, end := -1, -1
	for i, e := range history {
		switch {
		case e.GetExecutionStarted() != nil && start < 0:
			start = i
		case e.GetExecutionCompleted() != nil && end < 0:
			end = i
		}
	}
	switch {
	case status == api.RUNTIME_STATUS_PENDING && (completed || output != ""):
		return fmt.Sprintf("Pending with a completion time (%v) or output %q", completed, output)
	case start < 0 && len(history) > 0:
		return fmt.Sprintf("a history of %d events without ExecutionStarted", len(history))
	case start < 0 && status != api.RUNTIME_STATUS_PENDING:
		return fmt.Sprintf("status %s without ExecutionStarted in the history", mgmt.StatusName(status))
	case start < 0:
		return ""
	case end >= 0 && end < start:
		return "ExecutionCompleted before ExecutionStarted"
	case end >= 0 && api.OrchestrationStatus(history[end].GetExecutionCompleted().GetOrchestrationStatus()) != status:
		return fmt.Sprintf("status %s, history completed %s", mgmt.StatusName(status), mgmt.StatusName(history[end].GetExecutionCompleted().GetOrchestrationStatus()))
	case end >= 0 && !completed:
		return "completed in the history, no completion time"
	case end < 0 && (mgmt.Final(status) || status == api.RUNTIME_STATUS_PENDING || completed):
		return fmt.Sprintf("status %s (completion time %v) for a history started and not completed", mgmt.StatusName(status), completed)
	}
	return ""
}

// Contradiction is contradiction for the tests of package scheduler_test,
// which read instances through a client.
var Contradiction = contradiction

// checkRows fails the test for every instance in s whose row contradicts
// its history.
func checkRows(t *testing.T, s *Store) {
	t.Helper()
	rows, err := s.reader.db.Query(`SELECT id, status, completed_at, output FROM instances`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		id        api.InstanceID
		status    api.OrchestrationStatus
		completed bool
		output    string
	}
	var all []row
	for rows.Next() {
		var id string
		var st int32
		var completedAt sql.NullInt64
		var output sql.NullString
		if err := rows.Scan(&id, &st, &completedAt, &output); err != nil {
			t.Fatal(err)
		}
		all = append(all, row{api.InstanceID(id), api.OrchestrationStatus(st), completedAt.Valid, output.String})
	}
	rows.Close()
	for _, r := range all {
		h, err := s.reader.history(context.Background(), r.id)
		if err != nil {
			t.Fatal(err)
		}
		if c := contradiction(r.status, r.completed, r.output, h); c != "" {
			t.Errorf("instance %s: stored status contradicts its history: %s", r.id, c)
		}
	}
}

// The rows the issue found, and what the scheduler writes now.
func TestContradictions(t *testing.T) {
	e := func(js string) *backend.HistoryEvent { return event(t, js) }
	orchStarted := e(`{"eventId":-1,"orchestratorStarted":{}}`)
	started := e(`{"eventId":-1,"executionStarted":{"name":"o"}}`)
	terminate := e(`{"eventId":-1,"executionTerminated":{"input":"\"x\""}}`)
	completed := e(`{"eventId":-1,"executionCompleted":{"orchestrationStatus":"ORCHESTRATION_STATUS_TERMINATED","result":"\"x\""}}`)
	for _, c := range []struct {
		name      string
		status    api.OrchestrationStatus
		completed bool
		output    string
		history   []*backend.HistoryEvent
		ok        bool
	}{
		{"terminated before its start (issue #17)", api.RUNTIME_STATUS_PENDING, true, `"x"`, []*backend.HistoryEvent{orchStarted, terminate, completed}, false},
		{"event before its start (issue #17)", api.RUNTIME_STATUS_PENDING, false, "", []*backend.HistoryEvent{orchStarted, e(`{"eventId":-1,"eventRaised":{"name":"n"}}`)}, false},
		{"pending with output", api.RUNTIME_STATUS_PENDING, false, `"x"`, nil, false},
		{"suspended after completing", api.RUNTIME_STATUS_SUSPENDED, true, `"x"`, []*backend.HistoryEvent{orchStarted, started, completed}, false},
		{"completed without a time", api.RUNTIME_STATUS_TERMINATED, false, `"x"`, []*backend.HistoryEvent{orchStarted, started, completed}, false},
		{"running without a start", api.RUNTIME_STATUS_RUNNING, false, "", nil, false},
		{"waiting to start", api.RUNTIME_STATUS_PENDING, false, "", nil, true},
		{"running", api.RUNTIME_STATUS_RUNNING, false, "", []*backend.HistoryEvent{orchStarted, started}, true},
		{"terminated before its start (now)", api.RUNTIME_STATUS_TERMINATED, true, `"x"`, []*backend.HistoryEvent{orchStarted, started, terminate, completed}, true},
	} {
		got := contradiction(c.status, c.completed, c.output, c.history)
		if (got == "") != c.ok {
			t.Errorf("%s: contradiction %q, want ok=%v", c.name, got, c.ok)
		}
	}
}
