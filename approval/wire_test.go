package approval_test

import (
	"encoding/json"
	"testing"

	"github.com/approvals-go/approvals/approval"
)

// TestWireOfWhatARequestWentThrough pins the JSON of every shape that
// carries a request's stages, rounds and item, byte for byte: outcomes are
// compared by the replay tests and read by callers, the process input is
// recorded in histories, and the custom status is what the API and the
// dashboard read.
func TestWireOfWhatARequestWentThrough(t *testing.T) {
	stages := []approval.StageProgress{{Name: "finance", Status: approval.StatusApproved, Approvers: []string{"bob"}}}
	rounds := []approval.ChangeRound{{Round: 1, RequestedBy: "bob", Comments: "cheaper", RequestedAt: "2024-01-01T00:00:00Z", Item: "a pen"}}
	votes := []approval.Vote{{Approver: "bob", Approved: true, At: "2024-01-01T12:00:00Z"}}

	var timedOut approval.Outcome
	timedOut.RequestID, timedOut.Status, timedOut.TimedOutAt = "r1", approval.StatusTimeout, "2024-01-02T00:00:00Z"
	timedOut.Decisions, timedOut.Stages, timedOut.Rounds, timedOut.Item = votes, stages, rounds, "a pen"

	var decided approval.Outcome
	decided.RequestID, decided.Status, decided.ProcessedAt, decided.Approver = "r1", approval.StatusApproved, "2024-01-02T00:00:00Z", "bob"
	decided.ActingFor, decided.Decisions, decided.Stages, decided.Rounds, decided.Item = "carol", votes, stages, rounds, "a pen"

	var in approval.ProcessInput
	in.RequestID, in.IsApproved, in.Approver, in.Decisions = "r1", true, "bob", votes
	in.Stages, in.Rounds, in.Item = stages, rounds, "a pen"

	var sub approval.Submission
	sub.RequestID, sub.Status, sub.SubmittedAt, sub.ApprovalURL = "r1", approval.StatusPending, "2024-01-01T00:00:00Z", "https://x/a"
	sub.Decisions, sub.Stage, sub.Stages, sub.Round, sub.Rounds, sub.Item = votes, 1, stages, 2, rounds, "a pen"

	const (
		stagesJSON = `"stages":[{"name":"finance","status":"Approved","approvers":["bob"]}]`
		roundsJSON = `"rounds":[{"round":1,"requested_by":"bob","comments":"cheaper","requested_at":"2024-01-01T00:00:00Z","item":"a pen"}]`
		votesJSON  = `"decisions":[{"approver":"bob","approved":true,"comments":"","at":"2024-01-01T12:00:00Z"}]`
	)
	for _, c := range []struct {
		name string
		v    any
		want string
	}{
		{"timed-out outcome", timedOut, `{"request_id":"r1","status":"Timeout","timed_out_at":"2024-01-02T00:00:00Z",` +
			votesJSON + `,` + stagesJSON + `,` + roundsJSON + `,"item":"a pen"}`},
		{"decided outcome", decided, `{"request_id":"r1","status":"Approved","processed_at":"2024-01-02T00:00:00Z","approver":"bob","comments":"",` +
			`"acting_for":"carol",` + votesJSON + `,` + stagesJSON + `,` + roundsJSON + `,"item":"a pen"}`},
		{"process input", in, `{"request_id":"r1","is_approved":true,"approver":"bob","comments":"",` +
			votesJSON + `,` + stagesJSON + `,` + roundsJSON + `,"item":"a pen"}`},
		{"submission", sub, `{"request_id":"r1","status":"Pending","submitted_at":"2024-01-01T00:00:00Z","approval_url":"https://x/a",` +
			votesJSON + `,"stage":1,` + stagesJSON + `,"round":2,` + roundsJSON + `,"item":"a pen"}`},
	} {
		got, err := json.Marshal(c.v)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if string(got) != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}

	// Read back, an outcome and a process input keep all three.
	for _, c := range []struct {
		name string
		v    any
	}{{"timed-out outcome", timedOut}, {"decided outcome", decided}} {
		raw, _ := json.Marshal(c.v)
		var back approval.Outcome
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(back.Stages) != 1 || len(back.Rounds) != 1 || back.Item != "a pen" {
			t.Errorf("%s read back as stages %v, rounds %v, item %q", c.name, back.Stages, back.Rounds, back.Item)
		}
	}
	raw, _ := json.Marshal(in)
	var back approval.ProcessInput
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Stages) != 1 || len(back.Rounds) != 1 || back.Item != "a pen" {
		t.Errorf("process input read back as stages %v, rounds %v, item %q", back.Stages, back.Rounds, back.Item)
	}
}
