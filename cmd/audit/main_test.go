package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/approvals-go/approvals/audit"
)

func TestVerify(t *testing.T) {
	s, err := audit.NewSigner(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, audit.KeySize)), "")
	if err != nil {
		t.Fatal(err)
	}
	var lines bytes.Buffer
	for _, id := range []string{"a", "b", "c"} {
		b, _ := json.Marshal(s.Seal(id, []audit.Entry{
			{At: "2026-12-01T09:00:00Z", Event: audit.EventRequested, Actor: "ana"},
			{At: "2026-12-01T10:00:00Z", Event: audit.EventDecided, Actor: "bob", Action: "approve"},
		}, time.Now()))
		lines.Write(append(b, '\n'))
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.jsonl")
	if err := os.WriteFile(good, lines.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.jsonl")
	rows := bytes.SplitAfter(lines.Bytes(), []byte("\n"))
	rows[1] = bytes.Replace(rows[1], []byte(`"actor":"bob"`), []byte(`"actor":"bod"`), 1)
	if err := os.WriteFile(bad, bytes.Join(rows, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	pub := audit.PublicKeyText(s.PublicKeys()[0])

	for _, tc := range []struct {
		name    string
		args    []string
		code    int
		out     string
		errText string
	}{
		{"all check", []string{"verify", "-key", pub, good}, 0, good + ": 3 trails checked", ""},
		{"one byte changed", []string{"verify", "-key", pub, bad}, 1, "", "1 trail checked, then line 2 (approval \"b\"): the audit chain is broken: entry 2 was changed"},
		{"no key", []string{"verify", good}, 2, "", "give at least one -key"},
		{"a key that is not one", []string{"verify", "-key", "abc", good}, 2, "", "an audit public key is 32 bytes"},
		{"help", []string{"--help"}, 0, "audit verify -key PUBLIC", ""},
		{"unknown command", []string{"sign"}, 2, "", `unknown command "sign"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, strings.NewReader(""), &stdout, &stderr)
			if code != tc.code || !strings.Contains(stdout.String(), tc.out) || !strings.Contains(stderr.String(), tc.errText) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q", code, stdout.String(), stderr.String(), tc.code, tc.out, tc.errText)
			}
		})
	}
}
