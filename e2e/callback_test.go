package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/webhook"
)

// hook is a callback receiver that fails its first answers.
type hook struct {
	mu       sync.Mutex
	failures int
	calls    []*http.Request
	bodies   [][]byte
	ok       chan struct{}
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, r)
	h.bodies = append(h.bodies, body)
	if len(h.calls) <= h.failures {
		http.Error(w, "not now", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusNoContent)
	if len(h.calls) == h.failures+1 {
		close(h.ok)
	}
}

// An approval with a callback_url POSTs its final status there, signed,
// retried after a failure with the same delivery id, and delivered once it
// succeeds.
func TestCallbackDeliveredWithRetries(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef-callback"
	h := &hook{failures: 1, ok: make(chan struct{})}
	receiver := httptest.NewServer(h)
	defer receiver.Close()
	s := newStackWith(t, func(s *stack) {
		s.workerEnv = []string{"APPROVALS_CALLBACK_ALLOW=127.0.0.1/32", "APPROVALS_CALLBACK_SECRET=" + secret}
	})
	s.startOrchestration(approval.Request{RequestID: "cb", Requester: "ana", Item: "laptop", CallbackURL: receiver.URL + "/hook?sig=abc"})
	s.waitSubmitted("cb")
	s.decide("cb", true, "bob")
	select {
	case <-h.ok:
	case <-time.After(60 * time.Second):
		t.Fatalf("the callback was not delivered; %d attempts", len(h.calls))
	}
	time.Sleep(time.Second) // nothing more should come
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.calls) != 2 {
		t.Fatalf("%d callback requests, want one failure and one delivery", len(h.calls))
	}
	for i, r := range h.calls {
		if r.Method != http.MethodPost || r.URL.Path != "/hook" || r.URL.Query().Get("sig") != "abc" ||
			!webhook.Verify([]byte(secret), h.bodies[i], r.Header.Get(webhook.SignatureHeader)) {
			t.Fatalf("attempt %d: %s %s signature %q", i, r.Method, r.URL, r.Header.Get(webhook.SignatureHeader))
		}
	}
	if a, b := h.calls[0].Header.Get(webhook.DeliveryHeader), h.calls[1].Header.Get(webhook.DeliveryHeader); a == "" || a != b {
		t.Fatalf("delivery ids %q and %q: a retry must carry the same one", a, b)
	}
	var body approval.CallbackBody
	if err := json.Unmarshal(h.bodies[1], &body); err != nil {
		t.Fatal(err)
	}
	if body.ID != "cb" || body.Status != approval.StatusApproved || body.Result == nil || body.Result.Approver != "bob" {
		t.Fatalf("callback body = %s", h.bodies[1])
	}
}
