// Package approvaldash is what the scheduler's dashboard shows of
// approvals: an approval's state in a few words, its request, approvers,
// deadline and outcome on its page, what each decision in its history
// said, and the action that approves or rejects it. It implements
// dashboard.App, which cmd/scheduler, cmd/dev and the dashboard bench wire
// in.
//
// It is a package of its own so that neither side knows the other:
// approval knows nothing of the dashboard, and the scheduler, its
// dashboard included, nothing of approvals; only this package imports
// both. Who may decide is still approval's to say: the action asks
// approval.State.Check, as the HTTP API and the pages do.
package approvaldash

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/dts/mgmt"
	"github.com/approvals-go/approvals/scheduler/dashboard"
)

// templates are the approval's section of its page and the decide form.
//
//go:embed approval.html
var templates string

// App is the approvals' part of the dashboard.
type App struct{}

var _ dashboard.App = App{}

// Info adds the decide action and offers an approval to the start form.
func (App) Info() dashboard.AppInfo {
	return dashboard.AppInfo{
		Templates:  templates,
		Summaries:  "Approval",
		StartName:  approval.OrchestratorName,
		StartInput: `{"requester": "", "item": "", "timeout_hours": 24}`,
		Actions:    []dashboard.Action{decide},
	}
}

// Summary says where an approval stands: from its custom status while it
// waits, from its outcome once it has one (read whole for finished
// approvals only, which are few on a page and small).
func (App) Summary(ctx context.Context, in *mgmt.Instance, load func(context.Context) (*mgmt.Instance, error)) (*dashboard.Summary, error) {
	if in.Name != approval.OrchestratorName {
		return nil, nil
	}
	if mgmt.Final(in.RuntimeStatus) {
		full, err := load(ctx)
		if err != nil {
			return nil, err
		}
		in = full
	}
	st, ok := approval.StateOf(&in.OrchestrationMetadata)
	if !ok {
		return nil, nil
	}
	return summary(st, time.Now()), nil
}

// tones colour outcomes as the dashboard colours the statuses they are
// like.
var tones = map[approval.Status]dashboard.Tone{
	approval.StatusPending:    dashboard.ToneWaiting,
	approval.StatusApproved:   dashboard.ToneGood,
	approval.StatusRejected:   dashboard.ToneBad,
	approval.StatusTimeout:    dashboard.ToneEnded,
	approval.StatusTerminated: dashboard.ToneEnded,
	approval.StatusFailed:     dashboard.ToneEnded,
}

// summary is an approval's state in a few words at now.
func summary(st approval.State, now time.Time) *dashboard.Summary {
	switch {
	case st.Result != nil && st.Result.Status == approval.StatusTimeout:
		return &dashboard.Summary{Text: "Timed out", Tone: dashboard.ToneEnded}
	case st.Result != nil:
		text := string(st.Result.Status)
		if st.Result.Approver != "" {
			text += " by " + st.Result.Approver
		}
		if st.Result.ActingFor != "" {
			text += " for " + st.Result.ActingFor
		}
		return &dashboard.Summary{Text: text, Tone: tones[st.Result.Status]}
	case st.Status == approval.StatusTerminated, st.Status == approval.StatusFailed:
		// The instance's status says which; the reason is what to add.
		text := "No outcome"
		if st.Error != "" {
			text += " · " + st.Error
		}
		return &dashboard.Summary{Text: text, Tone: tones[st.Status]}
	case st.Progress.ChangesRequested:
		return &dashboard.Summary{Text: "Changes requested · due " + dashboard.Ago(now, st.ExpiresAt), Tone: dashboard.ToneWaiting}
	case st.Progress.Stage > 0 && st.Progress.Stage <= len(st.Progress.Stages):
		text := fmt.Sprintf("Awaiting stage %d of %d", st.Progress.Stage, len(st.Progress.Stages))
		if name := st.Progress.Stages[st.Progress.Stage-1].Name; name != "" {
			text += " (" + name + ")"
		}
		return &dashboard.Summary{Text: text + " · due " + dashboard.Ago(now, st.ExpiresAt), Tone: dashboard.ToneWaiting}
	case !st.ExpiresAt.IsZero():
		return &dashboard.Summary{Text: "Awaiting decision" + groupWords(st) + " · due " + dashboard.Ago(now, st.ExpiresAt), Tone: dashboard.ToneWaiting}
	case !st.SubmittedAt.IsZero():
		return &dashboard.Summary{Text: "Awaiting decision" + groupWords(st), Tone: dashboard.ToneWaiting}
	}
	return &dashboard.Summary{Text: "Being submitted", Tone: dashboard.ToneWaiting}
}

// Page is an approval's state in a few words, the approval as its read
// model has it (request, approvers, deadline and outcome) and whether it
// can be decided, from one reading of its state.
func (App) Page(in *mgmt.Instance) dashboard.Page {
	st, ok := approval.StateOf(&in.OrchestrationMetadata)
	if !ok {
		return dashboard.Page{}
	}
	p := dashboard.Page{Summary: summary(st, time.Now()), Panel: &dashboard.Part{Template: "approval-panel", Data: st}}
	if decidable(st, in) {
		p.Open = []string{decideName}
	}
	return p
}

// Note says what a decision in a history decided, and by whom.
func (App) Note(e *backend.HistoryEvent) string {
	er := e.GetEventRaised()
	if er == nil || er.GetName() != approval.DecisionEventName {
		return ""
	}
	var d approval.Decision
	if json.Unmarshal([]byte(er.GetInput().GetValue()), &d) != nil {
		return ""
	}
	return d.String()
}

// decide approves or rejects a pending approval from the dashboard.
var decide = dashboard.Action{
	Name: decideName, Label: "Approve or reject",
	Title: "Approve or reject", Verb: "Send decision",
	Explain: "Raises the approval's own approval_response event, exactly as the approval page and the HTTP API do.",
	Form:    "approval-decide",
	Open: func(in *mgmt.Instance) (any, bool) {
		st, ok := approval.StateOf(&in.OrchestrationMetadata)
		if !ok {
			return nil, false
		}
		return &st, decidable(st, in)
	},
	Do:     send,
	Notice: "decided",
	Done:   "Decision sent as approval_response. The orchestration completes once it processes it.",
}

// decideName names the decide action in its URL.
const decideName = "decide"

// decidable says whether an approval waits for a decision the dashboard
// can send: a suspended one would only keep it.
func decidable(st approval.State, in *mgmt.Instance) bool {
	return st.Pending() && in.RuntimeStatus == api.RUNTIME_STATUS_RUNNING
}

// send raises the decision the form makes, if the rules let its approver
// decide now.
func send(ctx context.Context, h dashboard.Hub, in *mgmt.Instance, data any, f url.Values) (string, error) {
	st, ok := data.(*approval.State)
	if !ok {
		return "", errors.New("decide: not an approval")
	}
	who := strings.TrimSpace(f.Get("approver"))
	verdict := f.Get("decision")
	if who == "" {
		return "Say who decides.", nil
	}
	if verdict != "approve" && verdict != "reject" {
		return "Choose approve or reject.", nil
	}
	// The same rules as the API's, deadline and votes included.
	now := time.Now()
	if err := st.Check(approval.Attempt{Who: who, At: now}); err != nil {
		return "“" + who + "” may not decide this request: " + err.Error() + ".", nil
	}
	yes := verdict == "approve"
	d := approval.DecisionRequest{Approved: &yes, Comments: strings.TrimSpace(f.Get("comments"))}.Decision(who, "")
	d.ResponseTime = approval.FormatTime(now)
	// The dashboard vouches for no one: its operator types the name.
	d.Channel, d.Auth = approval.ChannelDashboard, approval.AuthDevelopment
	payload, err := json.Marshal(d)
	if err != nil {
		return "", err
	}
	return "", h.Raise(ctx, in.InstanceID, approval.DecisionEventName, string(payload))
}

// groupWords is the groups' progress in a few words, " · finance 1 of 2,
// security 0 of 1", or "" for a request without groups.
func groupWords(st approval.State) string {
	var parts []string
	for _, g := range st.GroupProgress() {
		parts = append(parts, fmt.Sprintf("%s %d of %d", g.Group, len(g.Approved), g.Required))
	}
	if len(parts) == 0 {
		return ""
	}
	return " · " + strings.Join(parts, ", ")
}
