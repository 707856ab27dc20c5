package chaos

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/approvals-go/approvals/approval"
)

func TestClientRetriesTheSameRequest(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if string(b) != `{"approved":true}` {
			t.Errorf("attempt %d sent %q", calls.Load()+1, b)
		}
		switch calls.Add(1) {
		case 1:
			// A handler killed mid-request: the connection drops.
			hj, _ := w.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			conn.Close()
		case 2:
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusConflict)
			io.WriteString(w, `{"status":409,"approval_status":"Approved","result":{"status":"Approved","approver":"Ann","comments":"ok"}}`)
		}
	}))
	defer srv.Close()
	c := newClient(srv.URL, 4, time.Minute)
	a, body := c.call(context.Background(), http.MethodPost, "/x", map[string]any{"approved": true})
	if a.Code != http.StatusConflict || a.Attempts != 3 || a.Sent.Before(a.FirstSent) || a.Answered.Before(a.Sent) {
		t.Fatalf("answer = %+v", a)
	}
	rd := read(a.Code, body)
	want := Outcome{Status: approval.StatusApproved, Result: true, Approver: "Ann", Comments: "ok"}
	if rd.final == nil || !reflect.DeepEqual(*rd.final, want) {
		t.Fatalf("409 read as %+v, want %+v", rd.final, want)
	}
}

func TestClientGivesUp(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	c := newClient(srv.URL, 1, 300*time.Millisecond)
	a, _ := c.call(context.Background(), http.MethodGet, "/x", nil)
	if a.Code != 0 || a.Attempts < 2 || a.Err == "" {
		t.Fatalf("answer = %+v, want no definitive answer after several attempts", a)
	}
}

func TestRead(t *testing.T) {
	exp := "2026-12-01T12:00:10.123456789Z"
	for _, c := range []struct {
		name  string
		code  int
		body  string
		final *Outcome
		exp   bool
	}{
		{"pending", http.StatusAccepted, `{"status":"Pending","expires_at":"` + exp + `"}`, nil, true},
		{"pending before submission", http.StatusAccepted, `{"status":"Pending"}`, nil, false},
		{"approved", http.StatusOK, `{"status":"Approved","expires_at":"` + exp + `","result":{"status":"Approved","approver":"Ann","comments":"ok"}}`,
			&Outcome{Status: approval.StatusApproved, Result: true, Approver: "Ann", Comments: "ok"}, true},
		{"timeout", http.StatusOK, `{"status":"Timeout","result":{"status":"Timeout","timed_out_at":"` + exp + `"}}`,
			&Outcome{Status: approval.StatusTimeout, Result: true}, false},
		{"409 past the deadline while pending", http.StatusConflict, `{"status":409,"approval_status":"Pending","expires_at":"` + exp + `"}`, nil, true},
		{"409 naming only the status", http.StatusConflict, `{"status":409,"approval_status":"Rejected"}`, &Outcome{Status: approval.StatusRejected}, false},
		{"withdrawn", http.StatusOK, `{"status":"Withdrawn","result":{"status":"Withdrawn","approver":" CHAOS","comments":"no longer needed"}}`,
			&Outcome{Status: approval.StatusWithdrawn, Result: true, Approver: " CHAOS", Comments: "no longer needed"}, false},
		{"quorum with its votes", http.StatusOK, `{"status":"Approved","result":{"status":"Approved","approver":"Bob","comments":"b",` +
			`"decisions":[{"approver":"ＡＮＮ","approved":true,"comments":"a","at":"` + exp + `"},{"approver":"Bob","approved":true,"comments":"b","at":"` + exp + `"}]}}`,
			&Outcome{Status: approval.StatusApproved, Result: true, Approver: "Bob", Comments: "b",
				Votes: []Vote{{Approver: "ＡＮＮ", Approved: true, Comments: "a"}, {Approver: "Bob", Approved: true, Comments: "b"}}}, false},
		{"503", http.StatusServiceUnavailable, `{"status":503}`, nil, false},
		{"not JSON", http.StatusOK, `<html>`, nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			rd := read(c.code, []byte(c.body))
			if (rd.final == nil) != (c.final == nil) || rd.final != nil && !reflect.DeepEqual(*rd.final, *c.final) {
				t.Fatalf("final = %+v, want %+v", rd.final, c.final)
			}
			if !rd.expiresAt.IsZero() != c.exp {
				t.Fatalf("expires_at = %v, want one: %v", rd.expiresAt, c.exp)
			}
		})
	}
}
