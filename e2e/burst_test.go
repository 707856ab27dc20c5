package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/approvals-go/approvals/dts/mgmt"
)

// startAnswer is how the handler answered one start of a burst.
type startAnswer struct {
	id         string
	code       int
	retryAfter string
	err        error
}

// TestDecisionsDuringAStartBurst floods the handler with starts from 64
// connections, as a reviewer did when nothing bounded intake (decisions
// then waited out the handler's five seconds behind tens of thousands of
// new approvals). With the scheduler's backlog bounded (lowered here so
// that the burst passes it) and work under way handed out first, each
// decision sent during the burst on an approval pending before it is
// answered 200 with its outcome, and every start is either accepted (and
// exists) or refused with 503 and Retry-After (and does not exist).
// Latencies are logged, not asserted: this machine is shared and noisy.
func TestDecisionsDuringAStartBurst(t *testing.T) {
	const (
		bound       = 500
		conns       = 64
		decisions   = 16
		decideEvery = 250 * time.Millisecond
	)
	s := newStackWith(t, func(s *stack) {
		s.schedArgs = []string{"-max-backlog", strconv.Itoa(bound)}
		// The handler's default: a decision is answered 200 once its
		// outcome is recorded within five seconds, 202 after.
		s.handlerEnv = []string{"APPROVALS_DECISION_WAIT=5s"}
	})
	pending := s.startApprovals("before", decisions, "1h")
	for _, id := range pending {
		s.waitSubmitted(id)
	}

	burstClient := &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxConnsPerHost: conns, MaxIdleConnsPerHost: conns}}
	defer burstClient.CloseIdleConnections()
	stop := make(chan struct{})
	var stopOnce, refusedOnce sync.Once
	stopBurst := func() { stopOnce.Do(func() { close(stop) }) }
	defer stopBurst()
	refused := make(chan struct{})
	answers := make([][]startAnswer, conns)
	var wg sync.WaitGroup
	began := time.Now()
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				a := s.postStart(burstClient, fmt.Sprintf("burst-%02d-%06d", c, n))
				answers[c] = append(answers[c], a)
				if a.code == http.StatusServiceUnavailable {
					refusedOnce.Do(func() { close(refused) })
				}
			}
		}()
	}
	select {
	case <-refused:
	case <-time.After(20 * time.Second):
		t.Fatalf("no start was refused within 20s of the burst: the backlog never reached its bound of %d", bound)
	}
	t.Logf("first start refused %s into the burst", time.Since(began).Round(time.Millisecond))

	// Decisions on approvals pending since before the burst, spread over
	// it, one at a time as people send them.
	latencies := make([]time.Duration, 0, decisions)
	for _, id := range pending {
		time.Sleep(decideEvery)
		t0 := time.Now()
		code, _, out := s.call("SubmitDecision", id, map[string]any{"approved": true, "approver": "bob", "comments": "during the burst"})
		d := time.Since(t0)
		latencies = append(latencies, d)
		if code != http.StatusOK || out["status"] != "Approved" {
			t.Errorf("decision on %s during the burst = %d %v after %s, want 200 and Approved", id, code, out, d.Round(time.Millisecond))
		}
	}
	stopBurst()
	wg.Wait()
	burst := time.Since(began)

	for _, id := range pending {
		if out := s.outcome(id, 20*time.Second); out["status"] != "Approved" {
			t.Errorf("%s, decided during the burst, ended %v", id, out)
		}
	}

	accepted, refusals, wrong := map[string]bool{}, map[string]bool{}, 0
	for _, as := range answers {
		for _, a := range as {
			switch {
			case a.err == nil && a.code == http.StatusAccepted:
				accepted[a.id] = true
			case a.err == nil && a.code == http.StatusServiceUnavailable && a.retryAfter != "":
				refusals[a.id] = true
			default:
				if wrong++; wrong <= 5 {
					t.Errorf("start %s answered %d (Retry-After %q), %v; want 202, or 503 with Retry-After", a.id, a.code, a.retryAfter, a.err)
				}
			}
		}
	}
	if wrong > 5 {
		t.Errorf("%d starts in all were answered neither 202 nor 503 with Retry-After", wrong)
	}
	stored := s.instancesWithPrefix("burst-")
	for id := range accepted {
		if !stored[id] {
			t.Errorf("start %s was answered 202 but does not exist", id)
		}
	}
	for id := range refusals {
		if stored[id] {
			t.Errorf("start %s was refused but exists", id)
		}
	}

	slices.Sort(latencies)
	t.Logf("burst of %s from %d connections: %d starts accepted (%.0f/s), %d refused with 503",
		burst.Round(time.Millisecond), conns, len(accepted), float64(len(accepted))/burst.Seconds(), len(refusals))
	t.Logf("decisions during the burst answered with their outcome: p50 %s, max %s, all %v",
		latencies[len(latencies)/2].Round(time.Millisecond), latencies[len(latencies)-1].Round(time.Millisecond), roundAll(latencies))

	// An approval started once the burst is over waits only for what the
	// bound let in before it.
	t0 := time.Now()
	s.startApproval("after-burst", map[string]any{"timeout": "1h"})
	s.waitSubmitted("after-burst")
	t.Logf("an approval started after the burst could be decided %s later", time.Since(t0).Round(time.Millisecond))
}

// postStart starts an approval through the handler and keeps the answer.
func (s *stack) postStart(hc *http.Client, id string) startAnswer {
	body, _ := json.Marshal(map[string]any{"request_id": id, "requester": "ana", "item": "laptop", "timeout": "1h"})
	resp, err := hc.Post(s.url("/api/approvals"), "application/json", bytes.NewReader(body))
	if err != nil {
		return startAnswer{id: id, err: err}
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return startAnswer{id: id, code: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
}

// instancesWithPrefix lists the scheduler's instances whose IDs start with
// prefix, through its management API.
func (s *stack) instancesWithPrefix(prefix string) map[string]bool {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m := mgmt.New(s.schedulerConn())
	ids := map[string]bool{}
	q := mgmt.Query{IDPrefix: prefix, PageSize: 1000}
	for {
		page, err := m.QueryInstances(ctx, q)
		if err != nil {
			s.t.Fatalf("list instances %s*: %v", prefix, err)
		}
		for _, in := range page.Instances {
			ids[string(in.InstanceID)] = true
		}
		if page.ContinuationToken == "" {
			return ids
		}
		q.ContinuationToken = page.ContinuationToken
	}
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}
