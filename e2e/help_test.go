package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Every binary under cmd/, found by listing it so that a new one is held
// to this too, answers -h and --help with its usage, naming what it reads,
// and exits 0 at once without starting anything; an unknown flag or an
// argument it does not take exits 2, as promptly.
func TestHelpAndUnknownFlags(t *testing.T) {
	bin := binaries(t)
	// What each -h must mention besides its usage line, where more is
	// known: the settings it reads, or a flag.
	mentions := map[string][]string{
		"handler":   {"FUNCTIONS_CUSTOMHANDLER_PORT", "APPROVALS_LINK_KEY"},
		"worker":    {"APPROVALS_API_BASE_URL", "ENDPOINT", "TASKHUB", "APPROVALS_GROUPS_FILE"},
		"scheduler": {"-grpc", "-dashboard", "/v1/taskhubs/", "DURABLE_TASK_SCHEDULER_TOKEN", "DTS_TASK_HUB_NAMES"},
		"dev":       {"-http", "-grpc", "cmd/worker"},
		"client":    {"-url", "APPROVALS_URL"},
		"chaos":     {"-approvals", "-seed"},
		"bench":     {"-backends", "-query"},
		"linkkey":   {"-rotate", "APPROVALS_LINK_KEY"},
		"package":   {"-out"},
		"audit":     {"verify", "-key", "APPROVALS_AUDIT_KEY"},
	}
	dirs, err := os.ReadDir("../cmd")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join("../cmd", d.Name(), "main.go")); !d.IsDir() || err != nil {
			continue
		}
		name := d.Name()
		t.Run(name, func(t *testing.T) {
			for _, help := range []string{"-h", "--help"} {
				out, code := runBriefly(t, filepath.Join(bin, name), help)
				if code != 0 || !strings.Contains(out, "Usage") || !strings.Contains(out, name) {
					t.Errorf("%s %s: exit %d, want 0 and its usage:\n%s", name, help, code, out)
				}
				for _, m := range mentions[name] {
					if !strings.Contains(out, m) {
						t.Errorf("%s %s does not mention %q:\n%s", name, help, m, out)
					}
				}
			}
			for _, bad := range []string{"-no-such-flag", "no-such-argument"} {
				if out, code := runBriefly(t, filepath.Join(bin, name), bad); code != 2 {
					t.Errorf("%s %s: exit %d, want 2:\n%s", name, bad, code, out)
				}
			}
		})
	}
	for name := range mentions {
		if _, err := os.Stat(filepath.Join("../cmd", name, "main.go")); err != nil {
			t.Errorf("cmd/%s is gone; drop it from the test's list", name)
		}
	}
}

// runBriefly runs a command that must end within five seconds: one that
// is still running then has started instead of answering its command line.
func runBriefly(t *testing.T, path string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Errorf("%s %s still running after 5s: it started instead of answering", filepath.Base(path), strings.Join(args, " "))
	}
	return string(out), exitCode(err)
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
