// Package nodetest installs the npm packages that tests pin in a testdata
// folder (a package.json with its package-lock.json) and runs Node scripts
// from it. Without Node a developer's run skips those tests; CI (CI set),
// which promises them, fails.
package nodetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var installs sync.Map // dir -> *install

type install struct {
	once sync.Once
	err  error
}

// Install makes sure the packages pinned in dir are installed, with
// `npm ci` on first use, and returns dir's node_modules.
func Install(t testing.TB, dir string) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed; these checks need Node.js 20 or later", tool)
			}
			t.Skipf("%s is not installed; install Node.js 20 or later to run these checks", tool)
		}
	}
	modules := filepath.Join(dir, "node_modules")
	v, _ := installs.LoadOrStore(dir, &install{})
	in := v.(*install)
	in.once.Do(func() {
		if _, err := os.Stat(modules); err == nil {
			return
		}
		out, err := exec.Command("npm", "ci", "--prefix", dir, "--no-audit", "--no-fund").CombinedOutput()
		if err != nil {
			in.err = fmt.Errorf("npm ci in %s: %v\n%s", dir, err, out)
		}
	})
	if in.err != nil {
		t.Fatal(in.err)
	}
	return modules
}

// Run runs a script from dir with args, after Install, and fails the test
// if it exits non-zero or outlives timeout. It returns what it printed.
func Run(t testing.TB, dir string, env []string, timeout time.Duration, script string, args ...string) string {
	t.Helper()
	Install(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{script}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", script, err, out)
	}
	return string(out)
}
