package e2e

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Every binary answers -h and --help with its usage, naming what it reads,
// and exits 0 without starting anything; an unknown flag exits 2.
func TestHelpAndUnknownFlags(t *testing.T) {
	bin := binaries(t)
	for name, mentions := range map[string]string{
		"handler":   "FUNCTIONS_CUSTOMHANDLER_PORT",
		"worker":    "APPROVALS_API_BASE_URL",
		"scheduler": "-grpc",
		"dev":       "-http",
		"client":    "Usage",
	} {
		for _, help := range []string{"-h", "--help"} {
			out, err := exec.Command(filepath.Join(bin, name), help).CombinedOutput()
			if code := exitCode(err); code != 0 || !strings.Contains(string(out), mentions) {
				t.Errorf("%s %s: exit %d, output without %q:\n%s", name, help, code, mentions, out)
			}
		}
		out, err := exec.Command(filepath.Join(bin, name), "-no-such-flag").CombinedOutput()
		if code := exitCode(err); code != 2 {
			t.Errorf("%s -no-such-flag: exit %d, want 2:\n%s", name, code, out)
		}
	}
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
