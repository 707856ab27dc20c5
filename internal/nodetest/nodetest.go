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
	"syscall"
	"testing"
	"time"

	"github.com/approvals-go/approvals/internal/prereq"
)

var installs sync.Map // dir -> *installation

type installation struct {
	once sync.Once
	err  error
}

// Install makes sure the packages pinned in dir are installed, with
// `npm ci` on first use, and returns dir's node_modules.
func Install(t testing.TB, dir string) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			prereq.Missing(t, "%s is not installed; install Node.js 20 or later to run these checks", tool)
		}
	}
	modules := filepath.Join(dir, "node_modules")
	v, _ := installs.LoadOrStore(dir, &installation{})
	in := v.(*installation)
	in.once.Do(func() { in.err = install(dir, modules) })
	if in.err != nil {
		t.Fatal(in.err)
	}
	return modules
}

// install runs npm ci in dir unless its packages are installed already,
// as of its package-lock.json. go test runs packages' test binaries side by
// side, and npm ci starts by deleting node_modules, so they take turns
// under a lock on a file beside it.
func install(dir, modules string) error {
	lock, err := os.OpenFile(filepath.Join(dir, ".npm-ci.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	// npm writes node_modules/.package-lock.json when an install is done.
	done, errDone := os.Stat(filepath.Join(modules, ".package-lock.json"))
	want, errWant := os.Stat(filepath.Join(dir, "package-lock.json"))
	if errDone == nil && errWant == nil && !done.ModTime().Before(want.ModTime()) {
		return nil
	}
	out, err := exec.Command("npm", "ci", "--prefix", dir, "--no-audit", "--no-fund").CombinedOutput()
	if err != nil {
		return fmt.Errorf("npm ci in %s: %v\n%s", dir, err, out)
	}
	return nil
}

// Command is node running a script from dir with args, after Install,
// with env added to its environment; the caller starts it.
func Command(t testing.TB, ctx context.Context, dir string, env []string, script string, args ...string) *exec.Cmd {
	t.Helper()
	Install(t, dir)
	cmd := exec.CommandContext(ctx, "node", append([]string{script}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// Run runs a script from dir with args, after Install, and fails the test
// if it exits non-zero or outlives timeout. It returns what it printed.
func Run(t testing.TB, dir string, env []string, timeout time.Duration, script string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := Command(t, ctx, dir, env, script, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", script, err, out)
	}
	return string(out)
}
