package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/approvals-go/approvals/chaos"
)

// logWriter passes progress lines to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestChaosShortRun is a short run of cmd/chaos: a few hundred approvals
// started and decided while the scheduler, the worker and the handler are
// each SIGKILLed at least once, down long enough to cross deadlines.
// Nothing accepted may be lost and no answer may contradict the end state.
// The seed changes every run and is logged with the command that replays
// the same plan.
func TestChaosShortRun(t *testing.T) {
	cfg := chaos.DefaultConfig()
	cfg.Approvals = 300
	cfg.Duration = 20 * time.Second
	cfg.KillEvery = 3 * time.Second
	cfg.MinTimeout, cfg.MaxTimeout = 3*time.Second, 8*time.Second
	cfg.GiveUp = time.Minute
	cfg.Settle = 30 * time.Second
	cfg.Seed = uint64(time.Now().UnixNano())
	cfg.BinDir = binaries(t)
	cfg.Dir = t.TempDir()
	cfg.Progress = logWriter{t}
	t.Logf("replay: %s", chaos.Replay(cfg))

	rep, err := chaos.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var summary bytes.Buffer
	chaos.Print(&summary, rep)
	t.Log(summary.String())
	for _, p := range chaos.Processes {
		if rep.Kills[p] < 1 {
			t.Errorf("%s was never killed", p)
		}
	}
	if c := rep.Counts; c.Lost != 0 || c.Wrong != 0 {
		t.Errorf("%d lost, %d wrong", c.Lost, c.Wrong)
		for _, p := range chaos.Processes {
			logTail(t, filepath.Join(cfg.Dir, p+".log"), 30)
		}
	}
}

// logTail logs the last n lines of a process log.
func logTail(t *testing.T, path string, n int) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Logf("%s: %v", path, err)
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	t.Logf("--- last lines of %s ---\n%s", filepath.Base(path), strings.Join(lines[max(0, len(lines)-n):], "\n"))
}
