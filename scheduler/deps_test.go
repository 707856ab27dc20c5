package scheduler

import (
	"os/exec"
	"strings"
	"testing"
)

// The scheduler, its dashboard included, knows nothing of approvals: an
// application adds what it knows of its orchestrations through
// dashboard.App, which cmd/ wires in (approvaldash for approvals). Tests
// may still run approvals on it, so their imports are not counted.
func TestSchedulerKnowsNothingOfApprovals(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("go is not on PATH:", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", "./...").Output()
	if err != nil {
		t.Fatalf("go list -deps ./...: %v", err)
	}
	const approval = "github.com/approvals-go/approvals/approval"
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list named only %v", deps)
	}
	for _, pkg := range deps {
		if pkg == approval || strings.HasPrefix(pkg, approval+"/") || pkg == approval+"dash" {
			t.Errorf("the scheduler depends on %s", pkg)
		}
	}
}
