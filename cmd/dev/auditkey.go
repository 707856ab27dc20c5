package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/approvals-go/approvals/audit"
)

// auditKeyFile holds, in the data directory, the audit key the dev server
// generated for itself, so that trails sealed before a restart still
// check with the public key it printed.
const auditKeyFile = "audit-key"

// devAuditKey is the key that seals audit trails when APPROVALS_AUDIT_KEY
// gives none: the one kept in data, or a new one, kept there (or, with no
// data directory, for this run only).
func devAuditKey(data string) (string, error) {
	if data == "" {
		return newAuditKey()
	}
	path := filepath.Join(data, auditKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read the dev audit key: %w", err)
	}
	key, err := newAuditKey()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(data, 0o700); err != nil {
		return "", fmt.Errorf("keep the dev audit key: %w", err)
	}
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("keep the dev audit key: %w", err)
	}
	return key, nil
}

func newAuditKey() (string, error) {
	seed := make([]byte, audit.KeySize)
	if _, err := rand.Read(seed); err != nil {
		return "", fmt.Errorf("generate the dev audit key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(seed), nil
}

// auditPublicKey is what checks the trails the dev server seals.
func auditPublicKey(k string) (string, error) {
	s, err := audit.NewSigner(k, "")
	if err != nil {
		return "", fmt.Errorf("APPROVALS_AUDIT_KEY: %w", err)
	}
	return audit.PublicKeyText(s.PublicKeys()[0]), nil
}
