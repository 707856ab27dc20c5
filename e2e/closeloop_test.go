package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/approvals-go/approvals/webhook"
)

// receiver records the signed webhook notices and callbacks it is sent.
type receiver struct {
	mu        sync.Mutex
	secret    []byte
	notices   []map[string]any
	callbacks []map[string]any
	bad       int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if !webhook.Verify(rc.secret, body, r.Header.Get(webhook.SignatureHeader)) {
		rc.bad++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var m map[string]any
	json.Unmarshal(body, &m)
	if r.URL.Path == "/callback" {
		rc.callbacks = append(rc.callbacks, m)
	} else {
		rc.notices = append(rc.notices, m)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) count(kind string) map[string]int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := map[string]int{}
	for _, m := range rc.notices {
		if m["kind"] == kind {
			n[fmt.Sprint(m["approver"])]++
		}
	}
	return n
}

// The walk-through with cmd/dev and a local receiver: an approval
// for two approvers with policy all notifies both, reminds them, completes
// when both approve, and POSTs the outcome to its callback_url.
func TestCloseTheLoopWithDev(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef-e2e"
	rc := &receiver{secret: []byte(secret)}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	_, s := startDev(t, []string{
		"APPROVALS_NOTIFY=log,webhook", "APPROVALS_WEBHOOK_URL=" + srv.URL + "/notify", "APPROVALS_WEBHOOK_SECRET=" + secret,
		"APPROVALS_CALLBACK_SECRET=" + secret, "APPROVALS_NOTIFY_ALLOW=127.0.0.1/32", "APPROVALS_CALLBACK_ALLOW=127.0.0.1/32",
	})
	base := s.url("")

	post := func(path string, body any) (int, map[string]any) {
		t.Helper()
		raw, _ := json.Marshal(body)
		resp, err := http.Post(base+path, "application/json", bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	code, out := post("/api/approvals", map[string]any{"request_id": "loop", "requester": "ana", "item": "Laptop",
		"approvers": []string{"bob", "carol"}, "policy": "all", "timeout": "1m", "remind_every": "2s",
		"callback_url": srv.URL + "/callback"})
	if code != http.StatusAccepted {
		t.Fatalf("start = %d %v", code, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		requests, reminders := rc.count("request"), rc.count("reminder")
		if requests["bob"] == 1 && requests["carol"] == 1 && reminders["bob"] >= 1 && reminders["carol"] >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("notices: requests %v, reminders %v", requests, reminders)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, out := post("/api/approvals/loop/decision", map[string]any{"approved": true, "approver": "bob"}); code != http.StatusOK || out["status"] != "Pending" {
		t.Fatalf("bob = %d %v", code, out)
	}
	if code, out := post("/api/approvals/loop/decision", map[string]any{"approved": true, "approver": "carol"}); code != http.StatusOK || out["status"] != "Approved" {
		t.Fatalf("carol = %d %v", code, out)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		rc.mu.Lock()
		n := len(rc.callbacks)
		rc.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no callback arrived")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("reminders sent: %v", rc.count("reminder"))
	rc.mu.Lock()
	defer rc.mu.Unlock()
	cb := rc.callbacks[0]
	result, _ := cb["result"].(map[string]any)
	decisions, _ := result["decisions"].([]any)
	if cb["id"] != "loop" || cb["status"] != "Approved" || len(decisions) != 2 || rc.bad != 0 {
		t.Fatalf("callback = %v (bad signatures %d)", cb, rc.bad)
	}
}
