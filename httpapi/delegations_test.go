package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/config"
	"github.com/approvals-go/approvals/httpapi"
)

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// The delegation routes refuse, by name, what the domain refuses, and
// nothing reaches a ledger then.
func TestDelegationRoutesRefuse(t *testing.T) {
	e := newDelegatingAPI(t, httpapi.Options{})
	now := time.Now()
	e.delegate(t, "alice", "bob", now.Add(time.Hour))
	for name, c := range map[string]struct {
		body  map[string]any
		code  int
		field string
	}{
		"to oneself":       {map[string]any{"delegator": "alice", "to": " ALICE", "from": rfc3339(now), "until": rfc3339(now.Add(time.Hour))}, 400, "to"},
		"no delegator":     {map[string]any{"to": "bob", "from": rfc3339(now), "until": rfc3339(now.Add(time.Hour))}, 400, "delegator"},
		"until first":      {map[string]any{"delegator": "carol", "to": "bob", "from": rfc3339(now.Add(time.Hour)), "until": rfc3339(now)}, 400, "until"},
		"not RFC 3339":     {map[string]any{"delegator": "carol", "to": "bob", "from": "tomorrow", "until": rfc3339(now)}, 400, "from"},
		"an unknown field": {map[string]any{"delegator": "carol", "to": "bob", "from": rfc3339(now), "until": rfc3339(now.Add(time.Hour)), "for": "x"}, 400, "for"},
		"a cycle":          {map[string]any{"delegator": "bob", "to": "alice", "from": rfc3339(now), "until": rfc3339(now.Add(time.Hour))}, 409, "to"},
	} {
		r := e.postJSON(t, httpapi.DelegationsPath, c.body)
		if r.code != c.code || r.body["field"] != c.field {
			t.Errorf("%s: %d %s; want %d naming %s", name, r.code, r.raw, c.code, c.field)
		}
	}
	// Only the delegation given first is kept, in alice's list and bob's.
	for who, want := range map[string][2]int{"alice": {1, 0}, "bob": {0, 1}, "carol": {0, 0}} {
		r := e.do(t, http.MethodGet, httpapi.DelegationsPath+"?person="+who, "", "")
		given, _ := r.body["given"].([]any)
		received, _ := r.body["received"].([]any)
		if r.code != http.StatusOK || len(given) != want[0] || len(received) != want[1] {
			t.Errorf("%s's delegations after the refusals: %d %s; want %d given, %d received", who, r.code, r.raw, want[0], want[1])
		}
	}
	if r := e.do(t, http.MethodDelete, httpapi.DelegationsPath+"/nope?person=alice", "", ""); r.code != http.StatusNotFound {
		t.Errorf("revoking an unknown delegation = %d %s; want 404", r.code, r.raw)
	}
	if r := e.do(t, http.MethodGet, httpapi.DelegationsPath, "", ""); r.code != http.StatusBadRequest || r.body["field"] != "person" {
		t.Errorf("listing without a person = %d %s; want 400 naming person", r.code, r.raw)
	}
}

// With sign-in, the delegator is the signed-in person: a body naming
// someone else is refused, and a list is the caller's own.
func TestDelegationsTakeTheSignedInPerson(t *testing.T) {
	e := newDelegatingAPI(t, httpapi.Options{Identity: config.IdentityAppService})
	now := time.Now()
	body := map[string]any{"delegator": "mallory@contoso.com", "to": "bob@contoso.com", "from": rfc3339(now), "until": rfc3339(now.Add(time.Hour))}
	e.header = signedIn("alice@contoso.com")
	if r := e.postJSON(t, httpapi.DelegationsPath, body); r.code != http.StatusForbidden || r.body["reason"] != "delegator_mismatch" {
		t.Errorf("a delegation naming someone else = %d %s; want 403 delegator_mismatch", r.code, r.raw)
	}
	delete(body, "delegator")
	if r := e.postJSON(t, httpapi.DelegationsPath, body); r.code != http.StatusCreated || r.body["delegator"] != "alice@contoso.com" {
		t.Fatalf("alice's delegation = %d %s; want 201 from alice", r.code, r.raw)
	}
	r := e.do(t, http.MethodGet, httpapi.DelegationsPath+"?person=mallory@contoso.com", "", "")
	if r.code != http.StatusForbidden {
		t.Errorf("listing someone else's = %d %s; want 403", r.code, r.raw)
	}
	e.header = signedIn("bob@contoso.com")
	r = e.do(t, http.MethodGet, httpapi.DelegationsPath, "", "")
	if r.code != http.StatusOK || !strings.Contains(r.raw, `"delegator": "alice@contoso.com"`) {
		t.Errorf("bob's list = %d %s; want alice's delegation received", r.code, r.raw)
	}
}

// An API built without a store says so rather than pretending.
func TestDelegationsNeedAStore(t *testing.T) {
	e := newAPI(t)
	if r := e.do(t, http.MethodGet, httpapi.DelegationsPath+"?person=alice", "", ""); r.code != http.StatusNotImplemented {
		t.Errorf("listing without a store = %d %s; want 501", r.code, r.raw)
	}
}

// stalledStore is a delegation store whose scheduler never answers.
type stalledStore struct{}

func (stalledStore) Ledger(ctx context.Context, _ string) (approval.Ledger, error) {
	<-ctx.Done()
	return approval.Ledger{}, ctx.Err()
}

func (stalledStore) Send(ctx context.Context, _ string, _ approval.DelegationEvent) error {
	<-ctx.Done()
	return ctx.Err()
}

func (stalledStore) Source(context.Context) approval.DelegationSource { return nil }

// A scheduler that does not answer holds a delegation read, the list and
// the away page alike, no longer than the call timeout: the person is told
// to retry rather than left waiting.
func TestDelegationReadsGiveUpAtTheCallTimeout(t *testing.T) {
	e := newAPIWith(t, httpapi.Options{Delegations: stalledStore{}, CallTimeout: 200 * time.Millisecond})
	for _, path := range []string{httpapi.DelegationsPath + "?person=alice", httpapi.AwayPath + "?person=alice"} {
		done := make(chan response, 1)
		go func() { done <- e.do(t, http.MethodGet, path, "", "") }()
		select {
		case r := <-done:
			if r.code != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
				t.Errorf("GET %s with a stalled scheduler = %d %s; want 503 with Retry-After", path, r.code, r.raw)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("GET %s with a stalled scheduler did not answer in 10 s", path)
		}
	}
}
