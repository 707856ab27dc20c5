// Command audit checks exported approval audit trails, and prints the
// public key that checks what a deployment seals.
//
// Usage:
//
//	go run ./cmd/audit verify -key PUBLIC [-key PUBLIC ...] [FILE]
//	go run ./cmd/audit public-key
//
// verify reads sealed trails, one a line, from FILE or standard input and
// checks every trail: each entry chained to the one before and unchanged,
// and the seal signed by one of the keys.
// It exits 1 at the first trail that does not check, naming its line.
//
// public-key prints the public keys of APPROVALS_AUDIT_KEY and
// APPROVALS_AUDIT_KEY_PREVIOUS, base64, current first: what to give
// auditors.
//
// docs/audit.md says where trails come from (GET /api/audit, GET
// /api/approvals/{id}/audit, the blobs the worker exports) and what they
// hold.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"crypto/ed25519"

	"github.com/approvals-go/approvals/audit"
)

const usage = `Usage:
  audit verify -key PUBLIC [-key PUBLIC ...] [FILE]   check exported trails (JSON lines)
  audit public-key                                     print the keys that check this deployment's seals

public-key reads APPROVALS_AUDIT_KEY and APPROVALS_AUDIT_KEY_PREVIOUS.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	case "verify":
		return verify(args[1:], stdin, stdout, stderr)
	case "public-key":
		s, err := audit.NewSigner(os.Getenv("APPROVALS_AUDIT_KEY"), os.Getenv("APPROVALS_AUDIT_KEY_PREVIOUS"))
		if err == nil && s == nil {
			err = errors.New("APPROVALS_AUDIT_KEY is not set")
		}
		if err != nil {
			fmt.Fprintln(stderr, "audit:", err)
			return 1
		}
		for _, k := range s.PublicKeys() {
			fmt.Fprintln(stdout, audit.PublicKeyText(k))
		}
		return 0
	}
	fmt.Fprintf(stderr, "audit: unknown command %q\n%s", args[0], usage)
	return 2
}

// keyList is the repeatable -key flag.
type keyList []ed25519.PublicKey

func (k *keyList) String() string { return fmt.Sprint(len(*k), " keys") }

func (k *keyList) Set(s string) error {
	key, err := audit.ParsePublicKey(s)
	if err != nil {
		return err
	}
	*k = append(*k, key)
	return nil
}

func verify(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var keys keyList
	fs.Var(&keys, "key", "a public `key` that checks seals (base64; repeat for rotated keys)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(keys) == 0 || fs.NArg() > 1 {
		fmt.Fprint(stderr, "audit verify: give at least one -key and at most one file\n", usage)
		return 2
	}
	in, name := stdin, "standard input"
	if fs.NArg() == 1 {
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			fmt.Fprintln(stderr, "audit:", err)
			return 1
		}
		defer f.Close()
		in, name = f, fs.Arg(0)
	}
	n, err := audit.VerifyLines(in, keys...)
	if err != nil {
		fmt.Fprintf(stderr, "audit: %s: %s checked, then %v\n", name, trails(n), err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: %s checked\n", name, trails(n))
	return 0
}

func trails(n int) string {
	if n == 1 {
		return "1 trail"
	}
	return fmt.Sprintf("%d trails", n)
}
