package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/dts/dtstest"
	"github.com/approvals-go/approvals/webhook"
)

// holder is an HTTPS receiver that holds every request until its client
// gives up or the test releases it; a released request is answered 200 OK
// and its delivery id kept.
type holder struct {
	*httptest.Server
	release chan struct{}
	// open releases the requests held and those to come.
	open func()

	mu       sync.Mutex
	inflight int
	held     []time.Duration
	answered []string
}

func newHolder(t *testing.T) *holder {
	h := &holder{release: make(chan struct{})}
	h.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		began := time.Now()
		// Once the body is read, the server watches the connection and
		// ends the request's context when the client hangs up.
		io.Copy(io.Discard, req.Body)
		h.mu.Lock()
		h.inflight++
		h.mu.Unlock()
		var released bool
		select {
		case <-req.Context().Done():
		case <-h.release:
			released = true
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		h.inflight--
		h.held = append(h.held, time.Since(began))
		if released {
			h.answered = append(h.answered, req.Header.Get(webhook.DeliveryHeader))
		}
	}))
	// Connections the client opened but no longer needs are cut at Close,
	// mid-handshake; that is no failure of the test.
	h.Config.ErrorLog = log.New(io.Discard, "", 0)
	h.StartTLS()
	var once sync.Once
	h.open = func() { once.Do(func() { close(h.release) }) }
	// Released before it closes: Close waits for the requests it holds.
	t.Cleanup(func() {
		h.open()
		h.Close()
	})
	return h
}

func (h *holder) state() (inflight int, held []time.Duration, answered []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.inflight, append([]time.Duration(nil), h.held...), append([]string(nil), h.answered...)
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func deliveryIDs(rs []received) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.header.Get(webhook.DeliveryHeader)
	}
	return out
}

// While one channel hangs, the other receives each notice exactly once,
// and each attempt at the hanging one is cut at its deadline.
func TestDeliverCutsAHangingChannelAndSendsTheOthersOnce(t *testing.T) {
	hang := newHolder(t)
	hook := newReceiver(t, http.StatusOK)
	c := loopbackClient(t, hang, hook)
	m := Multi{
		{Name: "teams", Notifier: &Teams{URL: hang.URL + "/workflows/s3cr3t-path-token?sig=s3cr3t-query-token", Client: c}},
		{Name: "webhook", Notifier: &Webhook{URL: hook.url(), Secret: []byte(secret), Client: c}},
	}
	d := approval.Delivery{Attempts: 3, Backoff: 10 * time.Millisecond, AttemptTimeout: 300 * time.Millisecond}
	request := signedNotice("alice@example.com")
	reminder := request
	reminder.Kind, reminder.Occasion = approval.NoticeReminder, 1
	for _, n := range []approval.Notice{request, reminder} {
		began := time.Now()
		err := m.Deliver(context.Background(), n, d)
		took := time.Since(began)
		var ce *ChannelError
		if !errors.As(err, &ce) || ce.Channel != "teams" || strings.Contains(err.Error(), "webhook") ||
			!strings.Contains(err.Error(), "gave up after 3 attempts: no answer within 300ms") {
			t.Fatalf("error %v: want only the teams channel, given up after three attempts cut at their deadline", err)
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("error %q holds the webhook URL's secrets", err)
		}
		// Three deadlines and two back-offs at least; and far less than
		// the minutes the receiver would hold a request.
		if took < 930*time.Millisecond || took > 10*time.Second {
			t.Errorf("delivery took %s; want three attempts of 300ms", took)
		}
	}
	ids := deliveryIDs(hook.received())
	if len(ids) != 2 || ids[0] == ids[1] {
		t.Fatalf("the working channel received %d deliveries, ids %v; want each notice once", len(ids), ids)
	}
	waitFor(t, "the hanging receiver seeing six attempts end", func() bool {
		_, held, _ := hang.state()
		return len(held) == 6
	})
	_, held, answered := hang.state()
	for _, h := range held {
		if h > 5*time.Second {
			t.Errorf("an attempt was held %s, not cut at its deadline", h)
		}
	}
	if len(answered) != 0 {
		t.Errorf("the hanging receiver answered %d requests", len(answered))
	}
}

func remindInput(approvers ...string) dtstest.Activity {
	return dtstest.Activity{Input: approval.NotifyInput{
		Request:   approval.Request{RequestID: "req-1", Requester: "carol", Item: "A laptop"},
		Kind:      approval.NoticeReminder,
		Approvers: approvers,
		ExpiresAt: approval.FormatTime(time.Now().Add(time.Hour)),
		Occasion:  1,
	}}
}

// The notify activity retries a failing channel on its own: the working
// channel gets each approver's notice once, however often the other is
// retried, and every attempt at a notice carries its delivery id.
func TestNotifyApproversRetriesEachChannelApart(t *testing.T) {
	down := newReceiver(t, http.StatusServiceUnavailable)
	hook := newReceiver(t, http.StatusOK)
	c := loopbackClient(t, down, hook)
	acts := approval.NewActivities("https://approvals.example", slog.New(slog.DiscardHandler))
	acts.Notifier = Multi{
		{Name: "ticketing", Notifier: &Webhook{URL: down.url(), Secret: []byte(secret), Client: c}},
		{Name: "webhook", Notifier: &Webhook{URL: hook.url(), Secret: []byte(secret), Client: c}},
	}
	acts.Delivery = approval.Delivery{Attempts: 3, Backoff: time.Millisecond, AttemptTimeout: 5 * time.Second}
	if _, err := acts.NotifyApprovers(remindInput("alice", "bob", "dan")); err != nil {
		t.Fatal(err)
	}
	ids := deliveryIDs(hook.received())
	seen := map[string]bool{}
	for _, id := range ids {
		seen[id] = true
	}
	if len(ids) != 3 || len(seen) != 3 {
		t.Errorf("the working channel received ids %v; want one notice for each of three approvers", ids)
	}
	retried := map[string]int{}
	for _, id := range deliveryIDs(down.received()) {
		retried[id]++
	}
	for id, n := range retried {
		if n != 3 || !seen[id] {
			t.Errorf("the failing channel got delivery %s %d times; want three attempts at each notice, with its id", id, n)
		}
	}
	if len(retried) != 3 {
		t.Errorf("the failing channel got %d notices, want 3", len(retried))
	}
}

// Notices to many approvers go out in parallel, at most eight at a time.
func TestNotifyApproversTellsApproversInParallel(t *testing.T) {
	hold := newHolder(t)
	acts := approval.NewActivities("https://approvals.example", slog.New(slog.DiscardHandler))
	acts.Notifier = &Webhook{URL: hold.URL + "/hook", Secret: []byte(secret), Client: loopbackClient(t, hold)}
	acts.Delivery = approval.Delivery{Attempts: 1, AttemptTimeout: time.Minute}
	var approvers []string
	for i := range 12 {
		approvers = append(approvers, fmt.Sprintf("approver-%d", i))
	}
	sent := make(chan any, 1)
	go func() {
		n, err := acts.NotifyApprovers(remindInput(approvers...))
		if err != nil {
			t.Error(err)
		}
		sent <- n
	}()
	waitFor(t, "eight notices in flight at once", func() bool {
		inflight, _, _ := hold.state()
		return inflight == 8
	})
	// A ninth would be on its way by now if nothing bounded them.
	time.Sleep(100 * time.Millisecond)
	if inflight, _, _ := hold.state(); inflight != 8 {
		t.Errorf("%d notices in flight at once; want at most eight", inflight)
	}
	hold.open()
	select {
	case n := <-sent:
		if n != 12 {
			t.Errorf("%v notices sent, want 12", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the notices were not all sent")
	}
	if _, _, answered := hold.state(); len(answered) != 12 {
		t.Errorf("the receiver answered %d notices, want 12", len(answered))
	}
}
