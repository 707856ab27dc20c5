// Package prereq is what a test does when something it needs from the
// machine (Node, Chromium, a C compiler) is not there: a developer's run
// skips the test and says what to install; CI, which installs everything
// the tests need (.ci/run), fails it, so that no check is lost quietly.
package prereq

import (
	"os"
	"testing"
)

// Missing ends the test for want of a prerequisite: a skip on a
// developer's machine, a failure when the CI environment variable is set.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}
