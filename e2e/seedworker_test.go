package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"

	"github.com/approvals-go/approvals/dts/mgmt"
	"github.com/approvals-go/approvals/internal/nodetest"
)

// in is the stack as seen from the subtest t, so that its helpers fail t
// and not the test that started the stack.
func (s *stack) in(t *testing.T) *stack {
	c := *s
	c.t = t
	return &c
}

// seedStack is a scheduler and a handler with, for worker, the seed's
// worker.py translated to Microsoft's Durable Task JS SDK
// (testdata/jssdk/seedworker.mjs): a worker we did not write in Go that
// keeps exactly the seed's shapes.
func seedStack(t *testing.T) *stack {
	nodetest.Install(t, jssdkDir)
	return newStackWith(t, func(s *stack) {
		s.runWorker = func(env []string) *proc { return nodeProc(t, "seedworker.mjs", env) }
	})
}

// waitPublished waits until the workflow has published its status, which
// the seed's worker does once submit_approval_request has run: its
// submitted_at does not read as RFC 3339, so the status shows its
// approval_url and a derived deadline instead.
func (s *stack) waitPublished(id string) map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		code, _, out := s.call("GetApproval", id, nil)
		if code == http.StatusAccepted && out["approval_url"] != nil {
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("%s was never submitted", id)
	return nil
}

// eventsRaised counts the events raised to an instance, from its history
// on the scheduler.
func (s *stack) eventsRaised(m *mgmt.Client, id string) int {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	history, err := m.History(ctx, api.InstanceID(id))
	if err != nil {
		s.t.Fatal(err)
	}
	n := 0
	for _, e := range history {
		if e.GetEventRaised() != nil {
			n++
		}
	}
	return n
}

// decideAs sends a decision with comments and returns the answer.
func (s *stack) decideAs(id string, approved bool, approver, comments string) (int, map[string]any) {
	s.t.Helper()
	code, _, out := s.call("SubmitDecision", id, map[string]any{"approved": approved, "approver": approver, "comments": comments})
	return code, out
}

// The HTTP API and the pages in front of a worker that keeps exactly the
// seed's contract, written in JavaScript on Microsoft's SDK: every answer
// is true, and what that worker does not support is refused with nothing
// raised. One stack for every case; the approvals start together.
func TestSeedWorker(t *testing.T) {
	s := seedStack(t)
	m := mgmt.New(s.schedulerConn())
	began := time.Now()
	for _, id := range []string{"seed-approve", "seed-reject", "seed-page", "seed-race"} {
		s.startApproval(id, map[string]any{"timeout_hours": 1})
	}
	s.startApproval("seed-timeout", map[string]any{"timeout_hours": 0.0005})
	s.startApproval("seed-all", map[string]any{"approvers": []string{"bob", "carol"}, "policy": "all", "timeout_hours": 1})

	t.Run("pending status says what the handler cannot know", func(t *testing.T) {
		s := s.in(t)
		st := s.waitPublished("seed-approve")
		t.Logf("published %s after the start", time.Since(began).Round(time.Millisecond))
		if st["status"] != "Pending" || st["expires_at_derived"] != true || st["features"] != nil || st["withdraw_uri"] != nil || st["decision_uri"] == nil {
			t.Fatalf("pending status = %v", st)
		}
		created, err1 := time.Parse(time.RFC3339Nano, st["created_at"].(string))
		expires, err2 := time.Parse(time.RFC3339Nano, st["expires_at"].(string))
		if err1 != nil || err2 != nil || !expires.Equal(created.Add(time.Hour)) {
			t.Fatalf("derived deadline %v, want created_at %v + timeout_hours (%v %v)", st["expires_at"], st["created_at"], err1, err2)
		}
	})

	t.Run("withdrawal refused, nothing raised", func(t *testing.T) {
		s := s.in(t)
		s.waitPublished("seed-approve")
		code, _, out := s.call("WithdrawApproval", "seed-approve", map[string]any{"requester": "ana", "reason": "bought it elsewhere"})
		if code != http.StatusConflict || out["reason"] != "not_supported" {
			t.Fatalf("withdrawal = %d %v, want 409 not_supported", code, out)
		}
		if n := s.eventsRaised(m, "seed-approve"); n != 0 {
			t.Fatalf("a refused withdrawal raised %d events", n)
		}
		if code, _, out := s.call("GetApproval", "seed-approve", nil); code != http.StatusAccepted || out["status"] != "Pending" {
			t.Fatalf("after the refused withdrawal: %d %v", code, out)
		}
	})

	t.Run("approve with comments", func(t *testing.T) {
		s := s.in(t)
		code, out := s.decideAs("seed-approve", true, "bob", "Within budget")
		result, _ := out["result"].(map[string]any)
		if code != http.StatusOK || out["status"] != "Approved" || result["approver"] != "bob" {
			t.Fatalf("approval = %d %v, want 200 Approved by bob", code, out)
		}
		// The seed's process_approval records no comments: the outcome
		// does not claim any.
		if _, claimed := result["comments"]; claimed {
			t.Fatalf("the outcome claims comments the worker did not record: %v", result)
		}
		if n := s.eventsRaised(m, "seed-approve"); n != 1 {
			t.Fatalf("%d events raised, want the one decision", n)
		}
		// The same decision again (a retry after a lost answer) is 200;
		// another one is 409, saying what stands.
		if code, out := s.decideAs("seed-approve", true, "bob", "Within budget"); code != http.StatusOK {
			t.Fatalf("the same decision again = %d %v, want 200", code, out)
		}
		code, out = s.decideAs("seed-approve", false, "carol", "too late")
		if code != http.StatusConflict || out["approval_status"] != "Approved" || !strings.Contains(out["detail"].(string), "Approved by bob") {
			t.Fatalf("a decision after the end = %d %v, want 409 naming the outcome", code, out)
		}
	})

	t.Run("reject", func(t *testing.T) {
		s := s.in(t)
		s.waitPublished("seed-reject")
		code, out := s.decideAs("seed-reject", false, "carol", "")
		result, _ := out["result"].(map[string]any)
		if code != http.StatusOK || out["status"] != "Rejected" || result["approver"] != "carol" {
			t.Fatalf("rejection = %d %v, want 200 Rejected by carol", code, out)
		}
	})

	t.Run("two decisions at once: exactly one is the outcome", func(t *testing.T) {
		s := s.in(t)
		s.waitPublished("seed-race")
		codes := make(chan int, 2)
		for _, d := range []map[string]any{{"approved": true, "approver": "bob"}, {"approved": false, "approver": "carol"}} {
			go func() {
				b, _ := json.Marshal(d)
				resp, err := http.Post(s.url("/api/approvals/seed-race/decision"), "application/json", bytes.NewReader(b))
				if err != nil {
					codes <- 0
					return
				}
				resp.Body.Close()
				codes <- resp.StatusCode
			}()
		}
		got := []int{<-codes, <-codes}
		slices.Sort(got)
		if !slices.Equal(got, []int{http.StatusOK, http.StatusConflict}) {
			t.Fatalf("two decisions at once answered %v, want one 200 and one 409", got)
		}
	})

	t.Run("a policy the workflow does not count is refused", func(t *testing.T) {
		s := s.in(t)
		s.waitPublished("seed-all")
		// The seed's orchestrator would take bob's approval for the
		// outcome, though the request asks for carol's too.
		code, out := s.decideAs("seed-all", true, "bob", "")
		if code != http.StatusConflict || out["reason"] != "not_supported" {
			t.Fatalf("a vote on the seed's workflow = %d %v, want 409 not_supported", code, out)
		}
		if n := s.eventsRaised(m, "seed-all"); n != 0 {
			t.Fatalf("a refused vote raised %d events", n)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		s := s.in(t)
		out := s.outcome("seed-timeout", 30*time.Second)
		result, _ := out["result"].(map[string]any)
		if out["status"] != "Timeout" || result["timed_out_at"] == nil {
			t.Fatalf("seed-timeout ended %v", out)
		}
		if code, out := s.decideAs("seed-timeout", true, "bob", ""); code != http.StatusConflict || out["approval_status"] != "Timeout" {
			t.Fatalf("a decision after the timeout = %d %v, want 409 Timeout", code, out)
		}
	})

	t.Run("review page", func(t *testing.T) {
		s := s.in(t)
		s.waitPublished("seed-page")
		page := s.url("/api/review/seed-page")
		html := http.Header{"Accept": {"text/html"}}
		code, body := fetch(t, http.DefaultClient, page, html)
		for _, want := range []string{"Its workflow supports", "The sample's contract only", "does not publish its deadline", "As its workflow wrote it"} {
			if code != http.StatusOK || !strings.Contains(body, want) {
				t.Fatalf("review page = %d, lacks %q:\n%s", code, want, body)
			}
		}
		// Decided through the page's form, as a browser posts it.
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		req, _ := http.NewRequest(http.MethodPost, page, strings.NewReader(url.Values{"approved": {"true"}, "approver": {"dave"}, "comments": {"ok"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "text/html")
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != page {
			t.Fatalf("the page's decision = %d to %q, want 303 back to the page", resp.StatusCode, resp.Header.Get("Location"))
		}
		_, body = fetch(t, http.DefaultClient, page, html)
		for _, want := range []string{"Approved by", "dave", "does not record comments"} {
			if !strings.Contains(body, want) {
				t.Fatalf("the decided page lacks %q:\n%s", want, body)
			}
		}
	})
}
