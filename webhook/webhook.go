// Package webhook is the signed delivery the approvals send to other
// systems: the generic notification webhook and the callback that tells a
// caller an approval has ended. Both are a JSON POST with three headers:
//
//	X-Approvals-Signature-256: sha256=<hex of HMAC-SHA256(secret, body)>
//	X-Approvals-Timestamp:     <Unix seconds when it was sent>
//	X-Approvals-Delivery:      <id, the same on every retry of one delivery>
//
// The signature is computed over the exact body bytes, as GitHub's
// X-Hub-Signature-256 is, so a receiver checks it before parsing anything
// (see Verify, which has no dependencies and may be copied). Delivery is at
// least once: a retry after a lost answer repeats a delivery with the same
// id, which receivers use to drop duplicates.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/approvals-go/approvals/internal/safehttp"
)

// The headers of a delivery.
const (
	SignatureHeader = "X-Approvals-Signature-256"
	TimestampHeader = "X-Approvals-Timestamp"
	DeliveryHeader  = "X-Approvals-Delivery"
)

// MinSecretBytes keeps signing secrets out of guessing range: the strength
// of the HMAC-SHA256 they key.
const MinSecretBytes = 32

const prefix = "sha256="

// Sign returns the signature header's value for body.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return prefix + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether header, the X-Approvals-Signature-256 value a
// request came with, signs body with secret. The comparison takes the same
// time whatever the header holds, so it leaks nothing about the right one.
// A receiver verifies the body exactly as received, before decoding it.
func Verify(secret, body []byte, header string) bool {
	got, ok := strings.CutPrefix(header, prefix)
	if !ok {
		return false
	}
	sig, err := hex.DecodeString(got)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hmac.Equal(sig, m.Sum(nil))
}

// Headers are the headers of one delivery of body. With no secret there is
// no signature header: a receiver such as a Logic App's callback URL,
// whose own signature is in its query, needs none.
func Headers(secret, body []byte, delivery string, sent time.Time) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "approvals-webhook/1")
	if len(secret) > 0 {
		h.Set(SignatureHeader, Sign(secret, body))
	}
	h.Set(TimestampHeader, strconv.FormatInt(sent.Unix(), 10))
	h.Set(DeliveryHeader, delivery)
	return h
}

// Post delivers body, signed, to url through c. An error names only the
// URL's scheme and host; a refusal by c wraps safehttp.ErrRefused, a
// non-2xx answer is a *safehttp.StatusError.
func Post(ctx context.Context, c *safehttp.Client, url string, secret, body []byte, delivery string, sent time.Time) error {
	if err := c.Post(ctx, url, Headers(secret, body, delivery, sent), body); err != nil {
		return fmt.Errorf("deliver %s: %w", delivery, err)
	}
	return nil
}

// Sender delivers approval callbacks (it is an approval.CallbackSender):
// each a signed Post with the idempotency key as its delivery id.
type Sender struct {
	Client *safehttp.Client
	// Secret signs each callback; nil sends them unsigned.
	Secret []byte
	// Now is the clock of the timestamp header; nil means time.Now.
	Now func() time.Time
}

// SendCallback posts body to url.
func (s *Sender) SendCallback(ctx context.Context, url string, body []byte, idempotencyKey string) error {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	return Post(ctx, s.Client, url, s.Secret, body, idempotencyKey, now())
}
