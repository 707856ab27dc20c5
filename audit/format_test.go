package audit_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// An auditor checks a trail without this code, by docs/audit.md's
// words alone: an entry's hash is the SHA-256 of its JSON exactly as
// exported with the hash's value emptied, and the seal signs its fields
// but the signature, one a line, under "approvals-audit-v1".
func TestTrailChecksByTheDocumentedRecipe(t *testing.T) {
	s := signer(t, key(4), "")
	entries := sample()
	entries[1].Comments = `<b>&</b> "quoted" ` + "\u2028 é"
	line, err := json.Marshal(s.Seal("req-9", entries, time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)))
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Entries []json.RawMessage `json:"entries"`
		Seal    map[string]any    `json:"seal"`
	}
	if err := json.Unmarshal(line, &raw); err != nil {
		t.Fatal(err)
	}
	hashMember := regexp.MustCompile(`"hash":"([0-9a-f]{64})"`)
	head := ""
	for i, e := range raw.Entries {
		m := hashMember.FindSubmatch(e)
		if m == nil {
			t.Fatalf("entry %d has no hash: %s", i+1, e)
		}
		sum := sha256.Sum256([]byte(strings.Replace(string(e), string(m[0]), `"hash":""`, 1)))
		if got := hex.EncodeToString(sum[:]); got != string(m[1]) {
			t.Fatalf("entry %d: the documented recipe gives %s, the trail says %s", i+1, got, m[1])
		}
		head = string(m[1])
	}
	seal := raw.Seal
	if seal["head"] != head {
		t.Fatalf("the seal's head %v is not the last entry's hash %s", seal["head"], head)
	}
	message := strings.Join([]string{"approvals-audit-v1", seal["approval"].(string), strconv.Itoa(int(seal["entries"].(float64))),
		seal["head"].(string), seal["sealed_at"].(string), seal["alg"].(string), seal["key_id"].(string)}, "\n")
	sig, err := base64.StdEncoding.DecodeString(seal["signature"].(string))
	if err != nil {
		t.Fatal(err)
	}
	pub := s.PublicKeys()[0]
	if !ed25519.Verify(pub, []byte(message), sig) {
		t.Fatal("the documented message does not check against the signature")
	}
	keyID := sha256.Sum256(pub)
	if seal["key_id"] != hex.EncodeToString(keyID[:8]) {
		t.Fatalf("key_id %v is not the first 8 bytes of the public key's SHA-256", seal["key_id"])
	}
}
