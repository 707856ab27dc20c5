package dashboard

import (
	"strconv"
	"strings"
	"time"

	"github.com/microsoft/durabletask-go/api"

	"github.com/approvals-go/approvals/dts/mgmt"
)

// statuses are the runtime statuses in the order the dashboard lists
// them: what needs attention first.
var statuses = []api.OrchestrationStatus{
	api.RUNTIME_STATUS_RUNNING,
	api.RUNTIME_STATUS_PENDING,
	api.RUNTIME_STATUS_SUSPENDED,
	api.RUNTIME_STATUS_COMPLETED,
	api.RUNTIME_STATUS_FAILED,
	api.RUNTIME_STATUS_TERMINATED,
	api.RUNTIME_STATUS_CANCELED,
	api.RUNTIME_STATUS_CONTINUED_AS_NEW,
}

// statusSlug is the status in URLs and CSS classes: "running".
func statusSlug(st api.OrchestrationStatus) string { return strings.ToLower(mgmt.StatusName(st)) }

// parseStatus reads a status as a slug, a label or the protocol's enum
// name ("ORCHESTRATION_STATUS_RUNNING"), in any case.
func parseStatus(s string) (api.OrchestrationStatus, bool) {
	s = strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "ORCHESTRATION_STATUS_")
	s = strings.ReplaceAll(s, "_", "")
	for _, st := range statuses {
		if strings.EqualFold(s, mgmt.StatusName(st)) {
			return st, true
		}
	}
	return 0, false
}

// formatTime shows a time in UTC to the millisecond, which is what telling
// steps apart needs.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05.000") + " UTC"
}

// Ago says how long before now t was, or how long after, briefly: "3m
// 05s ago", "in 23h 59m". Apps write their summaries' times with it, as
// the dashboard writes its own.
func Ago(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	if d < 0 {
		return "in " + span(-d)
	}
	if d < time.Second {
		return "just now"
	}
	return span(d.Truncate(time.Second)) + " ago"
}

// commas writes a count with thousands separators.
func commas(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + commas(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
