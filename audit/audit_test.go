package audit_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/approvals-go/approvals/audit"
)

func key(b byte) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, audit.KeySize))
}

func signer(t *testing.T, current, previous string) *audit.Signer {
	t.Helper()
	s, err := audit.NewSigner(current, previous)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sample is a two-stage purchase: asked, one decision, the outcome.
func sample() []audit.Entry {
	return []audit.Entry{
		{At: "2026-12-01T09:00:00Z", Event: audit.EventRequested, Actor: "ana@example.com", Channel: "api", Auth: "function_key"},
		{At: "2026-12-01T10:30:00Z", Event: audit.EventDecided, Actor: "Bob@Example.com", Identity: "bob@example.com", ActingFor: "carol@example.com",
			Channel: "link", Auth: "signed_link", Action: "approve", Comments: "fine — ok"},
		{At: "2026-12-01T10:30:01Z", Event: audit.EventEnded, Status: "Approved"},
	}
}

func TestSealedTrailVerifies(t *testing.T) {
	s := signer(t, key(1), "")
	trail := s.Seal("req-1", sample(), time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC))
	if err := audit.Verify(trail, s.PublicKeys()...); err != nil {
		t.Fatal(err)
	}
	if trail.Entries[0].Prev != "" || trail.Entries[1].Prev != trail.Entries[0].Hash || trail.Seal.Head != trail.Entries[2].Hash {
		t.Errorf("entries are not chained: %+v", trail)
	}
	line, err := json.Marshal(trail)
	if err != nil {
		t.Fatal(err)
	}
	back, err := audit.Decode(line)
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.Verify(back, s.PublicKeys()...); err != nil {
		t.Fatalf("a trail read back from its JSON: %v", err)
	}
}

// Every single-byte change to an exported trail is refused, when it is read
// or when it is checked.
func TestOneChangedByteIsRefused(t *testing.T) {
	s := signer(t, key(1), "")
	line, err := json.Marshal(s.Seal("req-1", sample(), time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	read := 0
	for i := range line {
		for _, flip := range []byte{0x01, 0x20} {
			changed := bytes.Clone(line)
			changed[i] ^= flip
			back, err := audit.Decode(changed)
			if err != nil {
				continue
			}
			read++
			if err := audit.Verify(back, s.PublicKeys()...); err == nil {
				t.Fatalf("byte %d changed (%q to %q) and the trail still checks: %s", i, line[i], changed[i], changed)
			}
		}
	}
	// Most changes land in values and are read; the check refuses them.
	if read < len(line)/2 {
		t.Errorf("only %d of %d changed trails could be read: the test exercises the reader, not the check", read, 2*len(line))
	}
}

func TestVerifyNamesWhatIsWrong(t *testing.T) {
	s := signer(t, key(1), "")
	fresh := func() audit.Trail { return s.Seal("req-1", sample(), time.Now()) }
	for _, tc := range []struct {
		name   string
		change func(*audit.Trail)
		want   error
	}{
		{"an entry removed from the end", func(tr *audit.Trail) { tr.Entries = tr.Entries[:2] }, audit.ErrBroken},
		{"an entry removed from the middle", func(tr *audit.Trail) { tr.Entries = append(tr.Entries[:1], tr.Entries[2:]...) }, audit.ErrBroken},
		{"two entries swapped", func(tr *audit.Trail) { tr.Entries[0], tr.Entries[1] = tr.Entries[1], tr.Entries[0] }, audit.ErrBroken},
		{"an entry rewritten and re-chained", func(tr *audit.Trail) {
			es := tr.Entries
			es[1].Action = "reject"
			tr.Entries = audit.Chain(es)
		}, audit.ErrBroken},
		{"re-chained and the seal's head moved", func(tr *audit.Trail) {
			es := tr.Entries
			es[1].Action = "reject"
			tr.Entries = audit.Chain(es)
			tr.Seal.Head = tr.Entries[2].Hash
		}, audit.ErrSignature},
		{"an entry of another approval", func(tr *audit.Trail) {
			other := s.Seal("req-2", sample(), time.Now())
			tr.Entries[2] = other.Entries[2]
		}, audit.ErrBroken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := fresh()
			tc.change(&tr)
			if err := audit.Verify(tr, s.PublicKeys()...); !errors.Is(err, tc.want) {
				t.Errorf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

// After a rotation the new signer still vouches for trails the old key
// sealed; a key nobody published is not trusted.
func TestRotation(t *testing.T) {
	old := signer(t, key(1), "")
	sealed := old.Seal("req-1", sample(), time.Now())
	rotated := signer(t, key(2), key(1))
	if err := audit.Verify(sealed, rotated.PublicKeys()...); err != nil {
		t.Fatalf("a trail sealed before the rotation: %v", err)
	}
	if err := audit.Verify(rotated.Seal("req-2", sample(), time.Now()), rotated.PublicKeys()...); err != nil {
		t.Fatalf("a trail sealed after it: %v", err)
	}
	stranger := signer(t, key(3), "")
	if err := audit.Verify(sealed, stranger.PublicKeys()...); !errors.Is(err, audit.ErrUnknown) {
		t.Errorf("checked with an unrelated key: %v, want ErrUnknown", err)
	}
	forged := stranger.Seal("req-1", sample(), time.Now())
	forged.Seal.KeyID = sealed.Seal.KeyID
	if err := audit.Verify(forged, rotated.PublicKeys()...); !errors.Is(err, audit.ErrSignature) {
		t.Errorf("sealed by a stranger under a trusted key's id: %v, want ErrSignature", err)
	}
}

func TestKeys(t *testing.T) {
	if s, err := audit.NewSigner("", ""); s != nil || err != nil {
		t.Errorf("no key: %v, %v; want no signer and no error", s, err)
	}
	for _, tc := range []struct{ key, previous, want string }{
		{"", key(1), "without a current one"},
		{"not base64!", "", "not base64"},
		{base64.StdEncoding.EncodeToString([]byte("short")), "", "is 5 bytes long"},
		{key(1), "short", "previous audit key"},
	} {
		if _, err := audit.NewSigner(tc.key, tc.previous); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewSigner(%q, %q) = %v, want an error saying %q", tc.key, tc.previous, err, tc.want)
		}
	}
	pub := signer(t, key(1), "").PublicKeys()[0]
	back, err := audit.ParsePublicKey(audit.PublicKeyText(pub))
	if err != nil || !ed25519.PublicKey(back).Equal(pub) {
		t.Errorf("a public key does not survive its text: %v", err)
	}
}
