package audit

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
)

// Trail is an approval's entries and the seal over them. A file of trails
// holds one a line (JSON lines).
type Trail struct {
	Entries []Entry `json:"entries"`
	Seal    Seal    `json:"seal"`
}

// Seal vouches for a whole chain: how many entries it has and the hash of
// the last, signed with Ed25519 so that checking needs only a public key.
type Seal struct {
	Approval string `json:"approval"`
	Entries  int    `json:"entries"`
	Head     string `json:"head"`
	SealedAt string `json:"sealed_at"`
	Alg      string `json:"alg"`
	// KeyID names the public key that checks the signature: the first 8
	// bytes of its SHA-256, in hex, so that a rotated key is found.
	KeyID     string `json:"key_id"`
	Signature string `json:"signature"`
}

// message is what the signature covers: every field of the seal but the
// signature, one a line, under a version tag.
func (s Seal) message() []byte {
	return []byte(strings.Join([]string{"approvals-audit-v1", s.Approval, strconv.Itoa(s.Entries), s.Head, s.SealedAt, s.Alg, s.KeyID}, "\n"))
}

// KeySize is the length of an audit key: an Ed25519 seed.
const KeySize = ed25519.SeedSize

// Signer seals trails with the current audit key.
type Signer struct {
	key ed25519.PrivateKey
	id  string
	// previous are the public keys of keys rotated out, still trusted to
	// check trails they sealed.
	previous []ed25519.PublicKey
}

// NewSigner returns a signer for key, a base64 Ed25519 seed, that also
// publishes the public key of previous (which may be empty) so that trails
// sealed before a rotation still check. An empty key means no signer.
func NewSigner(key, previous string) (*Signer, error) {
	if key == "" {
		if previous != "" {
			return nil, errors.New("a previous audit key is set without a current one")
		}
		return nil, nil
	}
	priv, err := parseSeed(key)
	if err != nil {
		return nil, fmt.Errorf("the audit key: %w", err)
	}
	s := &Signer{key: priv, id: KeyID(priv.Public().(ed25519.PublicKey))}
	if previous != "" {
		old, err := parseSeed(previous)
		if err != nil {
			return nil, fmt.Errorf("the previous audit key: %w", err)
		}
		s.previous = append(s.previous, old.Public().(ed25519.PublicKey))
	}
	return s, nil
}

func parseSeed(s string) (ed25519.PrivateKey, error) {
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, errors.New("it is not base64")
	}
	if len(seed) != KeySize {
		return nil, fmt.Errorf("it is %d bytes long; an audit key is %d random bytes, base64 (for example `openssl rand -base64 32`)", len(seed), KeySize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// KeyID names a public key.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// PublicKeys are the keys that check what this signer sealed, current
// first: what a verifier is given.
func (s *Signer) PublicKeys() []ed25519.PublicKey {
	return append([]ed25519.PublicKey{s.key.Public().(ed25519.PublicKey)}, s.previous...)
}

// Seal chains entries for approval and seals the chain at now.
func (s *Signer) Seal(approval string, entries []Entry, now time.Time) Trail {
	for i := range entries {
		entries[i].Approval = approval
	}
	chained := Chain(entries)
	seal := Seal{Approval: approval, Entries: len(chained), SealedAt: now.UTC().Format(time.RFC3339Nano), Alg: "Ed25519", KeyID: s.id}
	if len(chained) > 0 {
		seal.Head = chained[len(chained)-1].Hash
	}
	seal.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(s.key, seal.message()))
	return Trail{Entries: chained, Seal: seal}
}

// Verify checks a trail: every entry chained to the one before it and
// unchanged, and the seal, signed by one of keys, over exactly these
// entries. It says what is wrong first, with ErrBroken, ErrSignature or
// ErrUnknown.
func Verify(t Trail, keys ...ed25519.PublicKey) error {
	seal := t.Seal
	if err := checkChain(seal.Approval, t.Entries); err != nil {
		return err
	}
	head := ""
	if n := len(t.Entries); n > 0 {
		head = t.Entries[n-1].Hash
	}
	if seal.Entries != len(t.Entries) || seal.Head != head {
		return fmt.Errorf("%w: the seal covers %d entries ending %.12s, the trail has %d ending %.12s", ErrBroken, seal.Entries, seal.Head, len(t.Entries), head)
	}
	if seal.Alg != "Ed25519" {
		return fmt.Errorf("%w: algorithm %q", ErrSignature, seal.Alg)
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(seal.Signature)
	if err != nil {
		return fmt.Errorf("%w: it is not base64", ErrSignature)
	}
	for _, k := range keys {
		if KeyID(k) != seal.KeyID {
			continue
		}
		if !ed25519.Verify(k, seal.message(), sig) {
			return ErrSignature
		}
		return nil
	}
	return fmt.Errorf("%w: key %s", ErrUnknown, seal.KeyID)
}

// ParsePublicKey reads a public key as PublicKeyText writes it.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("an audit public key is %d bytes, base64", ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// PublicKeyText is a public key as people pass it around: base64.
func PublicKeyText(k ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(k) }

// Decode reads a trail as encoding/json writes it, strictly:
// member names exactly as written, none unknown or repeated, so that what
// is checked is what the bytes say.
func Decode(b []byte) (Trail, error) {
	var t Trail
	if err := json.Unmarshal(b, &t, json.RejectUnknownMembers(true)); err != nil {
		return Trail{}, fmt.Errorf("reading an audit trail: %w", err)
	}
	return t, nil
}

// VerifyLines checks a file of trails, one a line. It returns how many trails checked, or the first that did not, by
// its line.
func VerifyLines(r io.Reader, keys ...ed25519.PublicKey) (int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 64<<20)
	n, line := 0, 0
	for sc.Scan() {
		line++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		t, err := Decode(sc.Bytes())
		if err == nil {
			err = Verify(t, keys...)
		}
		if err != nil {
			return n, fmt.Errorf("line %d (approval %q): %w", line, t.Seal.Approval, err)
		}
		n++
	}
	if err := sc.Err(); err != nil {
		return n, fmt.Errorf("line %d: %w", line+1, err)
	}
	return n, nil
}
