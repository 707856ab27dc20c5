package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/approvals-go/approvals/approval"
)

// attemptTimeout bounds one HTTP attempt. It is well above the handler's
// own bound on a scheduler call, so a slow answer is waited for rather
// than retried over.
const attemptTimeout = time.Minute

// client calls the API as a careful caller would: the same request again
// on a transport error or 503, which the API promises is safe, until a
// definitive answer or the give-up bound.
type client struct {
	hc     *http.Client
	base   string
	slots  chan struct{}
	giveUp time.Duration
}

func newClient(base string, concurrency int, giveUp time.Duration) *client {
	return &client{
		hc: &http.Client{Timeout: attemptTimeout, Transport: &http.Transport{
			MaxIdleConnsPerHost: concurrency, MaxConnsPerHost: concurrency}},
		base: base, slots: make(chan struct{}, concurrency), giveUp: giveUp,
	}
}

// call sends method path with body (JSON, or nothing when nil) until it
// gets a definitive answer, returning that answer and its body.
func (c *client) call(ctx context.Context, method, path string, body any) (Answer, []byte) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return Answer{Err: fmt.Sprintf("encode request: %v", err)}, nil
		}
	}
	a := Answer{FirstSent: time.Now()}
	backoff := 50 * time.Millisecond
	for {
		a.Attempts++
		sent := time.Now()
		code, resp, err := c.attempt(ctx, method, path, raw)
		switch {
		case err != nil:
			a.Err = err.Error()
		case code == http.StatusServiceUnavailable:
			a.Err = "503 Service Unavailable"
		default:
			a.Code, a.Sent, a.Answered, a.Err = code, sent, time.Now(), ""
			return a, resp
		}
		if time.Since(a.FirstSent) > c.giveUp || ctx.Err() != nil {
			return a, nil
		}
		// Jitter keeps thousands of callers from retrying in step after
		// the handler comes back.
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return a, nil
		case <-time.After(wait):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// attempt is one HTTP exchange, holding one of the concurrency slots.
func (c *client) attempt(ctx context.Context, method, path string, raw []byte) (int, []byte, error) {
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return 0, nil, ctx.Err()
	}
	defer func() { <-c.slots }()
	var rd io.Reader
	if raw != nil {
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("build request: %w", err)
	}
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("read answer: %w", err)
	}
	return resp.StatusCode, b, nil
}

// view is what the run reads from an answer's body: an approval (GET,
// repeated start, decision 200) or a problem, whose status is the HTTP
// code and which names approval_status (and, for a 409, the result that
// stands, when the API gives it).
type view struct {
	Status         json.RawMessage `json:"status"`
	ExpiresAt      string          `json:"expires_at"`
	ApprovalStatus approval.Status `json:"approval_status"`
	Reason         string          `json:"reason"`
	Result         *struct {
		Approver  string `json:"approver"`
		Comments  string `json:"comments"`
		Decisions []Vote `json:"decisions"`
	} `json:"result"`
}

// reading is what one answer says about an approval.
type reading struct {
	// final is set when the answer reports a final state.
	final     *Outcome
	expiresAt time.Time
	// reason is a problem's reason code.
	reason string
}

func read(code int, body []byte) reading {
	var v view
	if len(body) == 0 || json.Unmarshal(body, &v) != nil {
		return reading{}
	}
	r := reading{reason: v.Reason}
	if t, err := time.Parse(time.RFC3339Nano, v.ExpiresAt); err == nil {
		r.expiresAt = t
	}
	var status approval.Status
	switch code {
	case http.StatusOK:
		if json.Unmarshal(v.Status, &status) != nil {
			return r
		}
	case http.StatusConflict:
		status = v.ApprovalStatus
	default:
		return r
	}
	if !isFinal(status) {
		return r
	}
	o := Outcome{Status: status}
	if v.Result != nil {
		o.Result, o.Approver, o.Comments, o.Votes = true, v.Result.Approver, v.Result.Comments, v.Result.Decisions
	}
	r.final = &o
	return r
}

func isFinal(s approval.Status) bool {
	switch s {
	case approval.StatusApproved, approval.StatusRejected, approval.StatusTimeout, approval.StatusWithdrawn,
		approval.StatusTerminated, approval.StatusFailed:
		return true
	}
	return false
}
