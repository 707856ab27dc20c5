// Command linkkey keeps the key that signs the approval links
// (APPROVALS_LINK_KEY) in the azd environment, from where every `azd
// provision` writes it to Key Vault.
//
// azd runs it before each provision (the preprovision hook in azure.yaml).
// It generates a key once, from crypto/rand, and never changes one that is
// there: a new key on every provision would break every link already sent.
// A key that is not in the azd environment but in the process environment
// (a pipeline secret, say), which azd would pass to Bicep all the same, is
// stored as it is rather than replaced. It needs nothing but Go and azd, on
// any OS.
//
// azd resolves the Bicep parameters once before it runs this hook; for
// that pass a new environment's linkKey is a stand-in azd generates itself
// (the `generate` metadata in infra/main.bicep), so nothing prompts. The
// pass before deploying, after the hook, takes the key stored here.
//
// Usage, from the repository root:
//
//	go run ./cmd/linkkey [-environment NAME]           keep the key, or generate one
//	go run ./cmd/linkkey -rotate [-environment NAME]   start a rotation
//
// -rotate makes the current key APPROVALS_LINK_KEY_PREVIOUS, still accepted
// for links already sent, and generates a new current key; `azd provision`
// then applies both. Once every approval started before the rotation has
// ended, drop the previous key with `azd env set APPROVALS_LINK_KEY_PREVIOUS ""`
// and provision again. It refuses to rotate while a previous key is still
// set, since that key would then stop working.
//
// The keys travel to azd in a file readable only by its owner, never on a
// command line, and are never printed.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/internal/cli"
)

// The azd environment values, named as the handler and the worker read them
// (config.LinkKeys) and as infra/main.parameters.json passes them to Bicep.
const (
	envKey      = "APPROVALS_LINK_KEY"
	envPrevious = "APPROVALS_LINK_KEY_PREVIOUS"
)

// keyBytes is the entropy of a generated key: that of the HMAC-SHA256 it
// keys. Encoded in base64url it is 43 characters, above
// approval.MinLinkKeyBytes.
const keyBytes = 32

func main() {
	rotateFlag := flag.Bool("rotate", false, "make the current key the previous one and generate a new current key")
	name := flag.String("environment", os.Getenv("AZURE_ENV_NAME"), "azd environment (default: $AZURE_ENV_NAME, which azd sets for hooks, else azd's default environment)")
	cli.Parse("Usage: go run ./cmd/linkkey [-rotate] [-environment NAME]\n\n" +
		"Keeps " + envKey + " in the azd environment, generating it once if it is missing.")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	env := azdEnv{name: *name}
	var msg string
	var err error
	if *rotateFlag {
		msg, err = rotate(ctx, env)
	} else {
		msg, err = ensure(ctx, env, map[string]string{envKey: os.Getenv(envKey), envPrevious: os.Getenv(envPrevious)})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "linkkey:", err)
		os.Exit(1)
	}
	fmt.Println("linkkey:", msg)
}

// store is an azd environment's values.
type store interface {
	values(ctx context.Context) (map[string]string, error)
	set(ctx context.Context, values map[string]string) error
}

// ensure leaves a usable key alone and generates one when there is none.
// process is the keys in the process environment: azd hands a hook the azd
// environment's values on top of its own environment, and falls back to
// the latter when it fills in main.parameters.json, so a key found only
// there is the one the provision would use; it is stored, not replaced.
func ensure(ctx context.Context, s store, process map[string]string) (string, error) {
	values, err := s.values(ctx)
	if err != nil {
		return "", err
	}
	keep := map[string]string{}
	for _, name := range []string{envKey, envPrevious} {
		if values[name] == "" && process[name] != "" {
			values[name], keep[name] = process[name], process[name]
		}
	}
	if err := check(values); err != nil {
		return "", err
	}
	msg := envKey + " is set; it stays as it is"
	switch {
	case values[envKey] != "" && len(keep) > 0:
		msg = "stored the link keys of the process environment in the azd environment"
	case values[envKey] == "" && values[envPrevious] != "":
		return "", fmt.Errorf("%s is set but %s is not; restore the current key, or drop the previous one with `azd env set %s \"\"`",
			envPrevious, envKey, envPrevious)
	case values[envKey] == "":
		key, err := newKey()
		if err != nil {
			return "", err
		}
		keep[envKey] = key
		msg = "generated " + envKey + " and stored it in the azd environment"
	}
	if len(keep) == 0 {
		return msg, nil
	}
	if err := s.set(ctx, keep); err != nil {
		return "", err
	}
	return msg, nil
}

// rotate moves the current key to the previous one and generates a new one.
func rotate(ctx context.Context, s store) (string, error) {
	values, err := s.values(ctx)
	if err != nil {
		return "", err
	}
	if err := check(values); err != nil {
		return "", err
	}
	current := values[envKey]
	if current == "" {
		return "", fmt.Errorf("there is no %s to rotate; `azd provision` generates one", envKey)
	}
	if values[envPrevious] != "" {
		return "", fmt.Errorf("%s is still set, and a rotation now would stop links signed with it from working; "+
			"once every approval started before the last rotation has ended, drop it with `azd env set %s \"\"`, then rotate",
			envPrevious, envPrevious)
	}
	key, err := newKey()
	if err != nil {
		return "", err
	}
	if err := s.set(ctx, map[string]string{envPrevious: current, envKey: key}); err != nil {
		return "", err
	}
	return "rotated: the old key is now " + envPrevious + "; run `azd provision` to apply both", nil
}

// check refuses keys the apps would refuse, without echoing them.
func check(values map[string]string) error {
	for _, name := range []string{envKey, envPrevious} {
		if v := values[name]; v != "" && len(v) < approval.MinLinkKeyBytes {
			return fmt.Errorf("%s is shorter than %d bytes, which the apps refuse; "+
				"replace it with a longer key, or clear it with `azd env set %s \"\"` and let the next provision generate one "+
				"(links signed with it will stop working)", name, approval.MinLinkKeyBytes, name)
		}
	}
	return nil
}

func newKey() (string, error) {
	b := make([]byte, keyBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate a key: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// azdEnv is an azd environment, reached through the azd command on PATH.
type azdEnv struct {
	name string // "" is azd's default environment
}

func (a azdEnv) command(ctx context.Context, args ...string) *exec.Cmd {
	// A hook that left the environment to azd's default would write to the
	// wrong one whenever azd runs with -e.
	if a.name != "" {
		args = append(args, "--environment", a.name)
	}
	return exec.CommandContext(ctx, "azd", args...)
}

func (a azdEnv) values(ctx context.Context) (map[string]string, error) {
	cmd := a.command(ctx, "env", "get-values", "--output", "json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("azd env get-values: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	values := map[string]string{}
	if err := json.Unmarshal(stdout.Bytes(), &values); err != nil {
		return nil, fmt.Errorf("azd env get-values printed no JSON object of strings: %w", err)
	}
	return values, nil
}

// set hands the values to `azd env set --file`, in a .env file only its
// owner can read, removed afterwards: on a command line they would show in
// the process list.
func (a azdEnv) set(ctx context.Context, values map[string]string) (err error) {
	f, err := os.CreateTemp("", "linkkey-*.env")
	if err != nil {
		return err
	}
	defer func() {
		if rmErr := os.Remove(f.Name()); rmErr != nil && err == nil {
			err = rmErr
		}
	}()
	w := bufio.NewWriter(f)
	for name, v := range values {
		// azd reads the file with godotenv, which takes a single-quoted
		// value literally (a double-quoted one would have its escapes and
		// $VARIABLES expanded), as long as it holds no quote, backslash or
		// line break. Generated keys are base64url and never do.
		if strings.ContainsAny(v, "'\\\r\n") {
			f.Close()
			return fmt.Errorf("%s holds a quote, a backslash or a line break, which cannot reach azd unaltered; replace it with a key without them", name)
		}
		fmt.Fprintf(w, "%s='%s'\n", name, v)
	}
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	cmd := a.command(ctx, "env", "set", "--file", f.Name())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("azd env set: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
