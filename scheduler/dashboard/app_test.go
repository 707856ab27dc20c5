package dashboard_test

import (
	"github.com/approvals-go/approvals/approvaldash"
	"github.com/approvals-go/approvals/scheduler/dashboard"
)

// The tests' dashboards show approvals as cmd/scheduler's does.
func init() { dashboard.AppForTests = approvaldash.App{} }
