package approval_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/dts/dtstest"
)

var errRefused = errors.New("refused")

// flaky fails the first failures attempts for each approver, then
// delivers; block makes a failing attempt wait for its deadline instead.
type flaky struct {
	failures int
	block    bool

	mu       sync.Mutex
	attempts map[string]int
}

func (f *flaky) NotifyApprover(ctx context.Context, n approval.Notice) error {
	f.mu.Lock()
	if f.attempts == nil {
		f.attempts = map[string]int{}
	}
	f.attempts[n.Approver]++
	fail := f.attempts[n.Approver] <= f.failures
	f.mu.Unlock()
	switch {
	case !fail:
		return nil
	case f.block:
		<-ctx.Done()
		return ctx.Err()
	}
	return errRefused
}

func (f *flaky) tries(approver string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts[approver]
}

func TestSendRetriesUntilDelivered(t *testing.T) {
	f := &flaky{failures: 2}
	d := approval.Delivery{Attempts: 4, Backoff: time.Millisecond}
	if err := d.Send(context.Background(), f, approval.Notice{Approver: "bob"}); err != nil || f.tries("bob") != 3 {
		t.Fatalf("Send = %v after %d attempts; want delivered at the third", err, f.tries("bob"))
	}
}

func TestSendGivesUpAfterItsAttempts(t *testing.T) {
	f := &flaky{failures: 10}
	d := approval.Delivery{Attempts: 3, Backoff: time.Millisecond}
	err := d.Send(context.Background(), f, approval.Notice{Approver: "bob"})
	if !errors.Is(err, errRefused) || !strings.HasPrefix(err.Error(), "gave up after 3 attempts: ") || f.tries("bob") != 3 {
		t.Fatalf("Send = %v after %d attempts; want the last refusal after three", err, f.tries("bob"))
	}
}

// An attempt that gets no answer is cut at its deadline, and the next one
// is made.
func TestSendCutsAnAttemptAtItsDeadline(t *testing.T) {
	f := &flaky{failures: 1, block: true}
	d := approval.Delivery{Attempts: 2, Backoff: time.Millisecond, AttemptTimeout: 50 * time.Millisecond}
	if err := d.Send(context.Background(), f, approval.Notice{Approver: "bob"}); err != nil || f.tries("bob") != 2 {
		t.Fatalf("Send = %v after %d attempts; want delivered at the second", err, f.tries("bob"))
	}
	f = &flaky{failures: 2, block: true}
	err := d.Send(context.Background(), f, approval.Notice{Approver: "bob"})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "gave up after 2 attempts: no answer within 50ms") {
		t.Fatalf("Send = %v; want both attempts cut at 50ms", err)
	}
}

// When the activity's context ends, Send stops at once rather than
// waiting out its back-off.
func TestSendStopsWithItsContext(t *testing.T) {
	f := &flaky{failures: 10}
	d := approval.Delivery{Attempts: 5, Backoff: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	done := make(chan error, 1)
	go func() { done <- d.Send(ctx, f, approval.Notice{Approver: "bob"}) }()
	select {
	case err := <-done:
		if !errors.Is(err, errRefused) || f.tries("bob") != 1 {
			t.Fatalf("Send = %v after %d attempts; want the first refusal", err, f.tries("bob"))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Send waited out its hour of back-off after its context ended")
	}
}

// A notifier with a single channel is still retried, for each approver.
func TestNotifyApproversRetriesASingleNotifier(t *testing.T) {
	f := &flaky{failures: 1}
	acts := &approval.Activities{BaseURL: "https://approvals.example", Notifier: f,
		Delivery: approval.Delivery{Attempts: 2, Backoff: time.Millisecond}}
	in := approval.NotifyInput{Request: approval.Request{RequestID: "exp-9", Requester: "ana", Item: "desk"},
		Kind: approval.NoticeReminder, Approvers: []string{"bob", "carol"}, ExpiresAt: approval.FormatTime(time.Now().Add(time.Hour))}
	sent, err := acts.NotifyApprovers(dtstest.Activity{Input: in})
	if err != nil || sent != 2 || f.tries("bob") != 2 || f.tries("carol") != 2 {
		t.Fatalf("sent %v (%v) after %d and %d attempts; want both delivered at the second", sent, err, f.tries("bob"), f.tries("carol"))
	}
}
