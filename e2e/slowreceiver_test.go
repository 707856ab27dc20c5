package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
	"time"
)

// noticeCounter counts the notices a receiver got, by approval id, from
// the review link each carries.
type noticeCounter struct {
	mu     sync.Mutex
	counts map[string]int
	// hang, when set, keeps each request open until it is closed.
	hang chan struct{}
}

var reviewID = regexp.MustCompile(`/api/review/([A-Za-z0-9._:-]+)`)

func (c *noticeCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if m := reviewID.FindSubmatch(body); m != nil {
		c.mu.Lock()
		c.counts[string(m[1])]++
		c.mu.Unlock()
	}
	if c.hang != nil {
		select {
		case <-c.hang:
		case <-r.Context().Done():
		}
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (c *noticeCounter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.counts))
	for k, v := range c.counts {
		out[k] = v
	}
	return out
}

// A notification receiver that never answers, for 120 new approvals,
// delays nobody: decisions on approvals already pending are decided at
// once, and the channel that works gets every approval's notice, each
// exactly once, while the hanging one is retried.
func TestHangingReceiverDelaysNobody(t *testing.T) {
	hanging := &noticeCounter{counts: map[string]int{}, hang: make(chan struct{})}
	working := &noticeCounter{counts: map[string]int{}}
	hangSrv, workSrv := httptest.NewServer(hanging), httptest.NewServer(working)
	// Release the hanging requests first, so that closing the server does
	// not wait for them.
	t.Cleanup(workSrv.Close)
	t.Cleanup(hangSrv.Close)
	t.Cleanup(func() { close(hanging.hang) })

	s := newStackWith(t, func(s *stack) {
		s.workerEnv = []string{"APPROVALS_NOTIFY=webhook,slack", "APPROVALS_WEBHOOK_URL=" + hangSrv.URL + "/notify",
			"APPROVALS_WEBHOOK_SECRET=0123456789abcdef0123456789abcdef-e2e", "APPROVALS_SLACK_WEBHOOK_URL=" + workSrv.URL + "/slack",
			"APPROVALS_NOTIFY_ALLOW=127.0.0.1/32"}
		s.handlerEnv = []string{"APPROVALS_DECISION_WAIT=5s"}
	})
	const pending, burst = 5, 120
	for i := range pending {
		s.startApproval(fmt.Sprintf("waiting-%d", i), map[string]any{"approver": "bob", "timeout": "1h"})
	}
	for i := range pending {
		s.waitSubmitted(fmt.Sprintf("waiting-%d", i))
	}
	var wg sync.WaitGroup
	for i := range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.startApproval(fmt.Sprintf("new-%03d", i), map[string]any{"approver": "carol", "timeout": "1h"})
		}()
	}
	wg.Wait()
	// Wait until the hanging receiver holds notices open, so that the
	// decisions below are taken while it hangs.
	for deadline := time.Now().Add(30 * time.Second); len(hanging.snapshot()) < pending+10; {
		if time.Now().After(deadline) {
			t.Fatalf("the hanging receiver got %d notices", len(hanging.snapshot()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := range pending {
		id := fmt.Sprintf("waiting-%d", i)
		began := time.Now()
		code, _, out := s.call("SubmitDecision", id, map[string]any{"approved": true, "approver": "bob"})
		if code != http.StatusOK || out["status"] != "Approved" {
			t.Fatalf("decision on %s while a receiver hangs = %d %v, want 200 Approved", id, code, out)
		}
		t.Logf("%s decided in %s", id, time.Since(began).Round(time.Millisecond))
	}
	// The hanging channel is retried (an attempt is cut after 10 s); the
	// working one is sent each notice once, never again because the
	// other failed.
	var retried string
	for deadline := time.Now().Add(60 * time.Second); retried == ""; {
		for id, n := range hanging.snapshot() {
			if n >= 2 {
				retried = id
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the hanging receiver was never retried")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Every approval's notice reaches the working channel while the
	// other still hangs: the hanging one holds up no one's notices either.
	for deadline := time.Now().Add(30 * time.Second); len(working.snapshot()) < pending+burst; {
		if time.Now().After(deadline) {
			t.Fatalf("the working channel got the notices of %d approvals of %d", len(working.snapshot()), pending+burst)
		}
		time.Sleep(100 * time.Millisecond)
	}
	got := working.snapshot()
	if got[retried] != 1 {
		t.Fatalf("%s: the working channel got %d notices while the hanging one was retried", retried, got[retried])
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("%s: the working channel got %d notices, want 1", id, n)
		}
	}
	t.Logf("working channel: %d approvals notified once each; hanging channel: %d approvals tried", len(got), len(hanging.snapshot()))
}
