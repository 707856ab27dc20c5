package webhook_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/approvals-go/approvals/webhook"
)

// A receiver checks the signature over the body exactly as it arrived,
// before decoding it, and drops deliveries it has already handled.
func Example_receiver() {
	secret := []byte("the secret shared with the approvals worker")
	seen := map[string]bool{}
	receive := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		if !webhook.Verify(secret, body, r.Header.Get(webhook.SignatureHeader)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		id := r.Header.Get(webhook.DeliveryHeader)
		if seen[id] {
			return // a retry of a delivery already handled
		}
		seen[id] = true
		fmt.Printf("delivery %s: %s\n", id, body)
	})

	body := `{"id":"req-1","status":"Approved"}`
	for _, sig := range []string{webhook.Sign(secret, []byte(body)), webhook.Sign(secret, []byte(body)), "sha256=00"} {
		req := httptest.NewRequest(http.MethodPost, "/approvals", strings.NewReader(body))
		req.Header.Set(webhook.SignatureHeader, sig)
		req.Header.Set(webhook.DeliveryHeader, "d-1")
		rec := httptest.NewRecorder()
		receive.ServeHTTP(rec, req)
		fmt.Println(rec.Code)
	}
	// Output:
	// delivery d-1: {"id":"req-1","status":"Approved"}
	// 200
	// 200
	// 401
}
