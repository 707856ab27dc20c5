package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/client"
	"google.golang.org/grpc"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/dts"
	"github.com/approvals-go/approvals/internal/testenv"
)

// schedulerConn is a client connection to the stack's scheduler, closed
// when the test ends.
func (s *stack) schedulerConn() *grpc.ClientConn {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg, err := dts.Settings{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", s.grpcPort), TaskHub: dts.DefaultTaskHub}.Resolve()
	if err != nil {
		s.t.Fatal(err)
	}
	conn, err := dts.Dial(ctx, cfg, dts.RoleClient)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { conn.Close() })
	return conn
}

// schedulerClient is a durabletask-go client of the stack's scheduler:
// any client of the wire contract, not the API.
func (s *stack) schedulerClient() *client.TaskHubGrpcClient {
	return client.NewTaskHubGrpcClient(s.schedulerConn(), dts.Logger(testenv.Quiet()))
}

// Events raised on the scheduler by any client, in any shape, neither fail
// nor decide an approval: the orchestrator refuses each, records it in
// its status, and goes on waiting; a proper decision then decides it.
func TestMalformedEventsLeaveTheApprovalPending(t *testing.T) {
	s := newStack(t)
	const id = "malformed"
	s.startApproval(id, map[string]any{"approver": "bob", "timeout": "1h"})
	s.waitSubmitted(id)
	c := s.schedulerClient()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	events := []struct {
		raw    string
		reason approval.Reason
	}{
		{`{"is_approved":"yes","approver":"bob"}`, approval.ReasonMalformed},
		{`approve it, bob`, approval.ReasonMalformed},
		{`[1]`, approval.ReasonMalformed},
		{`{"is_approved":true,"approver":"mallory","comments":"not named"}`, approval.ReasonNotApprover},
		{`{"is_approved":true,"approver":" ANA ","comments":"the requester, spelt otherwise"}`, approval.ReasonSelfDecision},
	}
	for _, e := range events {
		if err := c.RaiseEvent(ctx, api.InstanceID(id), approval.DecisionEventName, api.WithRawEventData(e.raw)); err != nil {
			t.Fatalf("raise %s: %v", e.raw, err)
		}
	}

	// The API's view does not show refusals; the custom status does.
	var sub approval.Submission
	for {
		md, err := c.FetchOrchestrationMetadata(ctx, api.InstanceID(id), api.WithFetchPayloads(true))
		if err != nil {
			t.Fatal(err)
		}
		if md.RuntimeStatus != api.RUNTIME_STATUS_RUNNING {
			t.Fatalf("after the malformed events the orchestration is %v: %s %v", md.RuntimeStatus, md.SerializedOutput, md.FailureDetails)
		}
		if err := json.Unmarshal([]byte(md.SerializedCustomStatus), &sub); err != nil {
			t.Fatalf("custom status %q: %v", md.SerializedCustomStatus, err)
		}
		if sub.RefusedTotal >= len(events) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("refused %d of %d events within a minute: %s", sub.RefusedTotal, len(events), md.SerializedCustomStatus)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if sub.RefusedTotal != len(events) || len(sub.Refused) != len(events) {
		t.Fatalf("refused_total %d, %d refusals listed; want %d: %+v", sub.RefusedTotal, len(sub.Refused), len(events), sub.Refused)
	}
	var got, want []string
	for i, r := range sub.Refused {
		got = append(got, string(r.Reason))
		want = append(want, string(events[i].reason))
		if r.Detail == "" || r.At == "" {
			t.Errorf("refusal %d names no detail or time: %+v", i, r)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("refusal reasons %v, want %v (in the order raised): %+v", got, want, sub.Refused)
	}
	if code, _, out := s.call("GetApproval", id, nil); code != http.StatusAccepted || out["status"] != "Pending" {
		t.Fatalf("after the refused events GET = %d %v, want 202 Pending", code, out)
	}

	code, _, out := s.call("SubmitDecision", id, map[string]any{"approved": true, "approver": "bob", "comments": "a proper decision"})
	if code != http.StatusOK && code != http.StatusAccepted {
		t.Fatalf("decision = %d %v", code, out)
	}
	out = s.outcome(id, 30*time.Second)
	result, _ := out["result"].(map[string]any)
	if out["status"] != "Approved" || result["approver"] != "bob" || result["comments"] != "a proper decision" {
		t.Fatalf("outcome = %v", out)
	}
}
