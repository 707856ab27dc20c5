package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/approvals-go/approvals/approval"
)

// The tests run the hook's logic against a fake azd: this test binary,
// copied under the name azd into a folder put first on PATH. Started with
// fakeStoreVar set, it answers the two commands the hook uses from a JSON
// file, and logs each invocation.
const (
	fakeStoreVar = "LINKKEY_FAKE_AZD_STORE"
	fakeLogVar   = "LINKKEY_FAKE_AZD_LOG"
)

func TestMain(m *testing.M) {
	if store := os.Getenv(fakeStoreVar); store != "" {
		if err := fakeAzd(store, os.Getenv(fakeLogVar), os.Args[1:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "fake azd:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// invocation is what the fake azd logs of one run.
type invocation struct {
	Args []string `json:"args"`
	// Of the --file given to `env set`: its mode, and the raw lines.
	FileMode fs.FileMode `json:"file_mode,omitempty"`
	File     string      `json:"file,omitempty"`
}

// fakeStore is the environments' values by environment name.
type fakeStore map[string]map[string]string

func fakeAzd(storePath, logPath string, args []string, stdout io.Writer) error {
	var envName, output, file string
	var words []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; a {
		case "--environment", "-e", "--output", "--file":
			if i+1 == len(args) {
				return fmt.Errorf("%s needs a value", a)
			}
			v := args[i+1]
			i++
			switch a {
			case "--output":
				output = v
			case "--file":
				file = v
			default:
				envName = v
			}
		default:
			words = append(words, a)
		}
	}
	inv := invocation{Args: args}
	if file != "" {
		info, err := os.Stat(file)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		inv.FileMode, inv.File = info.Mode().Perm(), string(data)
	}
	if err := appendLog(logPath, inv); err != nil {
		return err
	}

	data, err := os.ReadFile(storePath)
	if err != nil {
		return err
	}
	store := fakeStore{}
	if err := json.Unmarshal(data, &store); err != nil {
		return err
	}
	values, ok := store[envName]
	if !ok {
		return fmt.Errorf("environment %q does not exist", envName)
	}
	switch strings.Join(words, " ") {
	case "env get-values":
		if output != "json" {
			return fmt.Errorf("get-values without --output json prints KEY=\"value\" lines")
		}
		return json.NewEncoder(stdout).Encode(values)
	case "env set":
		if file == "" {
			return fmt.Errorf("this fake takes values only from --file")
		}
		sc := bufio.NewScanner(strings.NewReader(inv.File))
		for sc.Scan() {
			name, quoted, ok := strings.Cut(sc.Text(), "=")
			if !ok || len(quoted) < 2 || quoted[0] != '\'' || quoted[len(quoted)-1] != '\'' {
				return fmt.Errorf("line %q is not NAME='value'", sc.Text())
			}
			values[name] = quoted[1 : len(quoted)-1]
		}
		out, err := json.Marshal(store)
		if err != nil {
			return err
		}
		return os.WriteFile(storePath, out, 0o600)
	default:
		return fmt.Errorf("unknown command %q", words)
	}
}

func appendLog(path string, inv invocation) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	return json.NewEncoder(f).Encode(inv)
}

// fake puts the fake azd on PATH with the given environments and returns
// functions reading its store and its log.
func fake(t *testing.T, initial fakeStore) (read func() fakeStore, calls func() []invocation) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	name := "azd"
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	exe, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, name), exe, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	storePath, logPath := filepath.Join(dir, "store.json"), filepath.Join(dir, "log.jsonl")
	data, err := json.Marshal(initial)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(storePath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv(fakeStoreVar, storePath)
	t.Setenv(fakeLogVar, logPath)
	read = func() fakeStore {
		t.Helper()
		data, err := os.ReadFile(storePath)
		if err != nil {
			t.Fatal(err)
		}
		s := fakeStore{}
		if err := json.Unmarshal(data, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	calls = func() []invocation {
		t.Helper()
		data, err := os.ReadFile(logPath)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		var out []invocation
		dec := json.NewDecoder(strings.NewReader(string(data)))
		for dec.More() {
			var inv invocation
			if err := dec.Decode(&inv); err != nil {
				t.Fatal(err)
			}
			out = append(out, inv)
		}
		return out
	}
	return read, calls
}

// checkCalls wants every invocation to name the environment, no key on any
// command line, and each file handed to azd readable by its owner only and
// gone after the run.
func checkCalls(t *testing.T, calls []invocation, env string, keys ...string) {
	t.Helper()
	for _, c := range calls {
		if i := slices.Index(c.Args, "--environment"); i < 0 || i+1 >= len(c.Args) || c.Args[i+1] != env {
			t.Errorf("azd %v does not name the environment %s", c.Args, env)
		}
		for _, k := range keys {
			if k != "" && strings.Contains(strings.Join(c.Args, " "), k) {
				t.Errorf("a key is on the command line of azd %v", c.Args[:2])
			}
		}
		if i := slices.Index(c.Args, "--file"); i >= 0 {
			if runtime.GOOS != "windows" && c.FileMode != 0o600 {
				t.Errorf("the file handed to azd has mode %v, want -rw-------", c.FileMode)
			}
			if _, err := os.Stat(c.Args[i+1]); !os.IsNotExist(err) {
				t.Errorf("the file handed to azd is still there after the run (%v)", err)
			}
		}
	}
}

func TestEnsureIsIdempotent(t *testing.T) {
	read, calls := fake(t, fakeStore{
		"dev":   {"AZURE_ENV_NAME": "dev", "AZURE_LOCATION": "swedencentral"},
		"other": {"AZURE_ENV_NAME": "other"},
	})
	env := azdEnv{name: "dev"}
	ctx := context.Background()

	msg, err := ensure(ctx, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	key := read()["dev"][envKey]
	if len(key) < approval.MinLinkKeyBytes {
		t.Fatalf("generated a key of %d bytes, want at least %d", len(key), approval.MinLinkKeyBytes)
	}
	if s, err := approval.NewLinkSigner(key, ""); err != nil || s == nil {
		t.Fatalf("the link signer refuses the generated key: %v", err)
	}
	if strings.Contains(msg, key) {
		t.Error("the message shows the key")
	}
	first := calls()
	if len(first) != 2 || first[0].Args[1] != "get-values" || first[1].Args[1] != "set" {
		t.Fatalf("first run: azd calls %v, want get-values then set", first)
	}

	// The second run, as every later `azd provision`, keeps the key.
	if _, err := ensure(ctx, env, nil); err != nil {
		t.Fatal(err)
	}
	after := read()
	if after["dev"][envKey] != key {
		t.Error("the second run changed the key: every link already sent would break")
	}
	if after["dev"]["AZURE_LOCATION"] != "swedencentral" || len(after["other"]) != 1 {
		t.Errorf("other values changed: %v", after)
	}
	all := calls()
	if len(all) != 3 || all[2].Args[1] != "get-values" {
		t.Errorf("second run: azd calls %v, want only get-values", all[2:])
	}
	checkCalls(t, all, "dev", key)

	// Another environment gets a key of its own.
	if _, err := ensure(ctx, azdEnv{name: "other"}, nil); err != nil {
		t.Fatal(err)
	}
	if other := read()["other"][envKey]; other == "" || other == key {
		t.Error("a second environment did not get a key of its own")
	}
}

func TestRotate(t *testing.T) {
	read, calls := fake(t, fakeStore{"dev": {}})
	env := azdEnv{name: "dev"}
	ctx := context.Background()
	if _, err := rotate(ctx, env); err == nil {
		t.Fatal("rotate with no key gave no error")
	}
	if _, err := ensure(ctx, env, nil); err != nil {
		t.Fatal(err)
	}
	old := read()["dev"][envKey]

	msg, err := rotate(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	got := read()["dev"]
	if got[envPrevious] != old {
		t.Error("after a rotation the previous key is not the old current key")
	}
	if got[envKey] == old || len(got[envKey]) < approval.MinLinkKeyBytes {
		t.Error("the rotation did not generate a new current key")
	}
	if strings.Contains(msg, old) || strings.Contains(msg, got[envKey]) {
		t.Error("the message shows a key")
	}
	// A link signed before the rotation still checks with the rotated
	// pair, as the handler will hold them.
	before, err := approval.NewLinkSigner(old, "")
	if err != nil {
		t.Fatal(err)
	}
	afterSigner, err := approval.NewLinkSigner(got[envKey], got[envPrevious])
	if err != nil {
		t.Fatal(err)
	}
	const id = "req-1"
	now := time.Now()
	if _, err := afterSigner.Check(before.Token(id, "bob", now.Add(time.Hour)), id, now); err != nil {
		t.Errorf("a link signed with the old key fails after the rotation: %v", err)
	}

	// A second rotation would drop the key links still rely on.
	if _, err := rotate(ctx, env); err == nil {
		t.Fatal("a second rotation while a previous key is set gave no error")
	}
	if again := read()["dev"]; again[envKey] != got[envKey] || again[envPrevious] != got[envPrevious] {
		t.Error("the refused rotation changed the keys")
	}
	// Once the previous key is dropped, rotating works again.
	store := read()
	store["dev"][envPrevious] = ""
	if err := writeStore(store); err != nil {
		t.Fatal(err)
	}
	if _, err := rotate(ctx, env); err != nil {
		t.Errorf("rotate after dropping the previous key: %v", err)
	}
	checkCalls(t, calls(), "dev", old, got[envKey])
}

func writeStore(s fakeStore) error {
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return os.WriteFile(os.Getenv(fakeStoreVar), data, 0o600)
}

func TestRefusals(t *testing.T) {
	const short = "k3y-0f-20-characters"
	long := strings.Repeat("a", 40)
	ensureAlone := func(ctx context.Context, s store) (string, error) { return ensure(ctx, s, nil) }
	cases := []struct {
		name   string
		values map[string]string
		run    func(context.Context, store) (string, error)
	}{
		{"short current key", map[string]string{envKey: short}, ensureAlone},
		{"short previous key", map[string]string{envKey: long, envPrevious: short}, ensureAlone},
		{"previous key without a current one", map[string]string{envPrevious: long}, ensureAlone},
		{"short key in the process environment", map[string]string{}, func(ctx context.Context, s store) (string, error) {
			return ensure(ctx, s, map[string]string{envKey: short})
		}},
		{"current key azd cannot read back unaltered", map[string]string{envKey: long + `'\`}, rotate},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			read, _ := fake(t, fakeStore{"dev": c.values})
			_, err := c.run(context.Background(), azdEnv{name: "dev"})
			if err == nil {
				t.Fatal("no error")
			}
			for _, v := range []string{short, long} {
				if strings.Contains(err.Error(), v) {
					t.Errorf("the error shows a key: %v", err)
				}
			}
			if got := read()["dev"]; !maps.Equal(got, c.values) {
				t.Errorf("the refused run changed the environment to %v", got)
			}
		})
	}
}

// TestProcessKeyIsKept: a key azd would take from the process environment
// (a pipeline secret) is stored as it is, not replaced by a generated one.
func TestProcessKeyIsKept(t *testing.T) {
	read, calls := fake(t, fakeStore{"ci": {}})
	key := strings.Repeat("k", 43)
	ctx := context.Background()
	for range 2 {
		if _, err := ensure(ctx, azdEnv{name: "ci"}, map[string]string{envKey: key}); err != nil {
			t.Fatal(err)
		}
		if got := read()["ci"][envKey]; got != key {
			t.Fatal("the key of the process environment was not stored as it is")
		}
	}
	if n := len(calls()); n != 3 {
		t.Errorf("%d azd calls, want 3: get-values and set, then get-values only", n)
	}
	checkCalls(t, calls(), "ci", key)
}

func TestAzdFailureIsReported(t *testing.T) {
	fake(t, fakeStore{"dev": {}})
	_, err := ensure(context.Background(), azdEnv{name: "missing"}, nil)
	if err == nil || !strings.Contains(err.Error(), `environment "missing" does not exist`) {
		t.Errorf("err = %v, want azd's own message", err)
	}
}
