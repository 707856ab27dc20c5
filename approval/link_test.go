package approval_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/approvals-go/approvals/approval"
)

const (
	keyA = "0123456789abcdef0123456789abcdef-A"
	keyB = "0123456789abcdef0123456789abcdef-B"
)

func signer(t *testing.T, key, previous string) *approval.LinkSigner {
	t.Helper()
	s, err := approval.NewLinkSigner(key, previous)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSignedLinks(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	expires := now.Add(time.Hour)
	a := signer(t, keyA, "")
	token := a.Token("exp-1", "bob@example.com", expires)

	c, err := a.Check(token, "exp-1", now)
	if err != nil || c.Approver != "bob@example.com" || !c.Expires.Equal(expires) {
		t.Fatalf("Check = %+v, %v", c, err)
	}
	if _, err := a.Check(token, "exp-2", now); !errors.Is(err, approval.ErrLinkInvalid) {
		t.Fatalf("a link for another approval = %v", err)
	}
	if _, err := a.Check(token, "exp-1", expires); !errors.Is(err, approval.ErrLinkExpired) {
		t.Fatalf("a link at its expiry = %v", err)
	}
	// Every single-character change to the token is refused.
	for i := range token {
		b := []byte(token)
		b[i] ^= 1
		if _, err := a.Check(string(b), "exp-1", now); err == nil {
			t.Fatalf("token changed at %d was accepted", i)
		}
	}
	// Rotation: B is current and A previous, so links signed with A still
	// work; once A is dropped, they do not.
	rotated := signer(t, keyB, keyA)
	if c, err := rotated.Check(token, "exp-1", now); err != nil || c.Approver != "bob@example.com" {
		t.Fatalf("a link signed with the previous key = %+v, %v", c, err)
	}
	if _, err := signer(t, keyB, "").Check(token, "exp-1", now); !errors.Is(err, approval.ErrLinkInvalid) {
		t.Fatalf("a link signed with a rotated-out key = %v", err)
	}
	if _, err := a.Check(rotated.Token("exp-1", "bob@example.com", expires), "exp-1", now); !errors.Is(err, approval.ErrLinkInvalid) {
		t.Fatalf("a link signed with an unknown key = %v", err)
	}

	link, err := url.Parse(a.SignedReviewURL("https://approvals.example", "exp-1", "bob@example.com", expires))
	if err != nil || link.Path != "/api/review/exp-1" || link.Query().Get("token") == "" {
		t.Fatalf("signed link = %v, %v", link, err)
	}
}

func TestLinkKeys(t *testing.T) {
	if s, err := approval.NewLinkSigner("", ""); s != nil || err != nil {
		t.Fatalf("no key = %v, %v; want no signer", s, err)
	}
	for _, c := range []struct{ key, previous string }{{"short", ""}, {keyA, "short"}, {"", keyA}} {
		if _, err := approval.NewLinkSigner(c.key, c.previous); err == nil || strings.Contains(err.Error(), c.key+c.previous) && c.key+c.previous != "" {
			t.Errorf("keys %q/%q: err = %v, want a refusal that does not echo the key", c.key, c.previous, err)
		}
	}
}
