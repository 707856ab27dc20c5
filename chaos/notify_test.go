package chaos

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/approvals-go/approvals/webhook"
)

func TestReceiverHangsOnAShareOfDeliveries(t *testing.T) {
	rc, err := startReceiver(0.3, 7)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.close()
	var url string
	for _, kv := range rc.env() {
		if v, ok := strings.CutPrefix(kv, "APPROVALS_WEBHOOK_URL="); ok {
			url = v
		}
	}
	hung := 0
	for i := range 1000 {
		if rc.hangs(fmt.Sprintf("delivery-%d", i)) {
			hung++
		}
	}
	if hung < 250 || hung > 350 {
		t.Fatalf("%d of 1000 deliveries hang, want about 300", hung)
	}

	post := func(delivery string, secret []byte, within time.Duration) (int, error) {
		body := []byte(`{"kind":"request","id":"` + delivery + `"}`)
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header = webhook.Headers(secret, body, delivery, time.Now())
		resp, err := (&http.Client{Timeout: within}).Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	var answered, hanging string
	for i := 0; answered == "" || hanging == ""; i++ {
		if id := fmt.Sprintf("delivery-%d", i); rc.hangs(id) {
			hanging = id
		} else {
			answered = id
		}
	}
	if code, err := post(answered, rc.secret, 5*time.Second); code != http.StatusNoContent {
		t.Fatalf("a delivery to answer: %d %v", code, err)
	}
	if code, err := post(hanging, rc.secret, 300*time.Millisecond); err == nil {
		t.Fatalf("a delivery to hang on was answered %d", code)
	}
	if code, err := post(answered, []byte(strings.Repeat("x", 64)), 5*time.Second); code != http.StatusUnauthorized {
		t.Fatalf("a badly signed delivery: %d %v", code, err)
	}
	// The held request ends when its caller gives up.
	deadline := time.Now().Add(5 * time.Second)
	for rc.notices().Hung != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	want := Notices{Received: 3, Deliveries: 2, Hung: 1, BadSignature: 1, Approvals: 2, Answered: 1}
	if got := rc.notices(); got != want {
		t.Fatalf("notices = %+v, want %+v", got, want)
	}
}
