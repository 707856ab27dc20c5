//go:build !unix

package scheduler

// lockDataDir does nothing where flock is not available: two schedulers
// must not be pointed at the same data directory there.
func lockDataDir(string) (func(), error) { return func() {}, nil }
