package approvaldash

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/dts/mgmt"
	"github.com/approvals-go/approvals/scheduler/dashboard"
)

// The dashboard's own tests drive this package through a real scheduler
// (they wire it in); these cover what they do not reach.

// instance is an approval's orchestration as the scheduler returns it.
func instance(status api.OrchestrationStatus, custom, output string) *mgmt.Instance {
	in := &mgmt.Instance{}
	in.InstanceID, in.Name, in.RuntimeStatus = "a-1", approval.OrchestratorName, status
	in.SerializedInput = `{"request_id":"a-1","requester":"ana","item":"Laptop"}`
	in.SerializedCustomStatus, in.SerializedOutput = custom, output
	return in
}

func TestSummaries(t *testing.T) {
	due := time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339Nano)
	submitted := `{"request_id":"a-1","status":"Pending","submitted_at":"2026-01-01T00:00:00Z"}`
	cases := []struct {
		name string
		in   *mgmt.Instance
		text string
		tone dashboard.Tone
	}{
		{"being submitted", instance(api.RUNTIME_STATUS_RUNNING, "", ""), "Being submitted", dashboard.ToneWaiting},
		{"waiting", instance(api.RUNTIME_STATUS_RUNNING, strings.Replace(submitted, `"status"`, `"expires_at":"`+due+`","status"`, 1), ""),
			"Awaiting decision · due in 1h 59m", dashboard.ToneWaiting},
		{"at a stage", instance(api.RUNTIME_STATUS_RUNNING, strings.Replace(submitted, `"status"`, `"expires_at":"`+due+`","stage":2,"stages":[{"name":"manager"},{"name":"finance"}],"status"`, 1), ""),
			"Awaiting stage 2 of 2 (finance) · due in 1h 59m", dashboard.ToneWaiting},
		{"sent back", instance(api.RUNTIME_STATUS_RUNNING, strings.Replace(submitted, `"status"`, `"expires_at":"`+due+`","changes_requested":true,"status"`, 1), ""),
			"Changes requested · due in 1h 59m", dashboard.ToneWaiting},
		{"approved", instance(api.RUNTIME_STATUS_COMPLETED, "", `{"status":"Approved","approver":"bob"}`), "Approved by bob", dashboard.ToneGood},
		{"rejected", instance(api.RUNTIME_STATUS_COMPLETED, "", `{"status":"Rejected","approver":"bob"}`), "Rejected by bob", dashboard.ToneBad},
		{"approved by a delegate", instance(api.RUNTIME_STATUS_COMPLETED, "", `{"status":"Approved","approver":"bob","acting_for":"alice"}`), "Approved by bob for alice", dashboard.ToneGood},
		{"timed out", instance(api.RUNTIME_STATUS_COMPLETED, "", `{"status":"Timeout"}`), "Timed out", dashboard.ToneEnded},
		{"withdrawn", instance(api.RUNTIME_STATUS_COMPLETED, "", `{"status":"Withdrawn","approver":"ana"}`), "Withdrawn by ana", dashboard.TonePlain},
		{"terminated, with its reason", instance(api.RUNTIME_STATUS_TERMINATED, "", `"gone"`), "No outcome · gone", dashboard.ToneEnded},
		{"terminated without a reason", instance(api.RUNTIME_STATUS_TERMINATED, "", ""), "No outcome", dashboard.ToneEnded},
		{"failed", instance(api.RUNTIME_STATUS_FAILED, "", ""), "No outcome · the workflow failed without details", dashboard.ToneEnded},
	}
	for _, c := range cases {
		// The list reads a finished approval whole: its outcome is in its
		// output.
		listed := *c.in
		listed.SerializedOutput = ""
		loads := 0
		load := func(context.Context) (*mgmt.Instance, error) { loads++; return c.in, nil }
		got, err := App{}.Summary(t.Context(), &listed, load)
		// A countdown may have ticked since due was set; all else is exact.
		ticked := got != nil && strings.HasSuffix(c.text, " 1h 59m") && strings.HasPrefix(got.Text, strings.TrimSuffix(c.text, "9m"))
		if err != nil || got == nil || got.Text != c.text && !ticked || got.Tone != c.tone {
			t.Errorf("%s: %+v %v, want %q (%q)", c.name, got, err, c.text, c.tone)
		}
		if want := map[bool]int{true: 1, false: 0}[mgmt.Final(c.in.RuntimeStatus)]; loads != want {
			t.Errorf("%s: read whole %d times, want %d", c.name, loads, want)
		}
	}
	other := instance(api.RUNTIME_STATUS_RUNNING, `{"x":1}`, "")
	other.Name = "something_else"
	if got, err := (App{}).Summary(t.Context(), other, nil); got != nil || err != nil {
		t.Errorf("another orchestration summarised as %+v %v", got, err)
	}
}

func TestNotesOnDecisions(t *testing.T) {
	raised := func(name, payload string) *backend.HistoryEvent {
		e := &backend.HistoryEvent{}
		js := fmt.Sprintf(`{"eventId":-1,"eventRaised":{"name":%q,"input":%q}}`, name, payload)
		if err := protojson.Unmarshal([]byte(js), e); err != nil {
			t.Fatal(err)
		}
		return e
	}
	for payload, want := range map[string]string{
		`{"is_approved":true,"approver":"bob","comments":"fine"}`:    "Approved by bob: “fine”",
		`{"is_approved":true,"approver":"bob","acting_for":"alice"}`: "Approved by bob for alice",
		`{"is_approved":false,"approver":"bob"}`:                     "Rejected by bob",
		`{}`:                                                         "Rejected by Unknown",
		`{"action":"withdraw","approver":"ana","comments":"bought elsewhere"}`: "Withdrawn by ana: “bought elsewhere”",
		`{"action":"request_changes","approver":"bob","comments":"which?"}`:    "Changes requested by bob: “which?”",
		`{"action":"resubmit","approver":"ana","item":"bike"}`:                 "Resubmitted by ana",
		`not json`: "",
	} {
		if got := (App{}).Note(raised(approval.DecisionEventName, payload)); got != want {
			t.Errorf("%s: note %q, want %q", payload, got, want)
		}
	}
	if got := (App{}).Note(raised("tick", `{"is_approved":true}`)); got != "" {
		t.Errorf("another event noted as %q", got)
	}
}

// raiser is a hub that records what is raised.
type raiser struct {
	dashboard.Hub
	event, payload string
}

func (r *raiser) Raise(_ context.Context, _ api.InstanceID, event, payload string) error {
	r.event, r.payload = event, payload
	return nil
}

func TestDecideAsksTheRules(t *testing.T) {
	waiting := instance(api.RUNTIME_STATUS_RUNNING, `{"request_id":"a-1","status":"Pending","submitted_at":"2026-01-01T00:00:00Z","expires_at":"2999-01-01T00:00:00Z"}`, "")
	data, ok := decide.Open(waiting)
	if !ok {
		t.Fatal("a waiting approval cannot be decided")
	}
	if p := (App{}).Page(waiting); !slices.Equal(p.Open, []string{decide.Name}) || p.Summary == nil || p.Panel == nil {
		t.Errorf("a waiting approval's page: %+v, want its summary, its panel and decide open", p)
	}
	for _, c := range []struct {
		form    url.Values
		problem string
	}{
		{url.Values{"decision": {"approve"}}, "Say who decides."},
		{url.Values{"approver": {"bob"}}, "Choose approve or reject."},
		{url.Values{"approver": {"Ana"}, "decision": {"approve"}}, "“Ana” may not decide this request: "},
	} {
		h := &raiser{}
		problem, err := decide.Do(t.Context(), h, waiting, data, c.form)
		if err != nil || !strings.HasPrefix(problem, c.problem) || h.event != "" {
			t.Errorf("%v: problem %q, err %v, raised %q; want %q and nothing raised", c.form, problem, err, h.event, c.problem)
		}
	}
	h := &raiser{}
	problem, err := decide.Do(t.Context(), h, waiting, data, url.Values{"approver": {"bob"}, "decision": {"reject"}, "comments": {" no "}})
	var d approval.Decision
	if problem != "" || err != nil || h.event != approval.DecisionEventName || json.Unmarshal([]byte(h.payload), &d) != nil ||
		*d.IsApproved || *d.Approver != "bob" || d.Comments != "no" || d.ResponseTime == "" ||
		d.Channel != approval.ChannelDashboard || d.Auth != approval.AuthDevelopment {
		t.Fatalf("decided: %q %v, raised %s %s", problem, err, h.event, h.payload)
	}
	for _, in := range []*mgmt.Instance{
		instance(api.RUNTIME_STATUS_COMPLETED, "", `{"status":"Approved","approver":"bob"}`),
		instance(api.RUNTIME_STATUS_SUSPENDED, "", ""),
	} {
		if _, ok := decide.Open(in); ok {
			t.Errorf("an approval %s can be decided", in.RuntimeStatus)
		}
		if p := (App{}).Page(in); len(p.Open) != 0 {
			t.Errorf("an approval %s offers %v on its page", in.RuntimeStatus, p.Open)
		}
	}
	other := instance(api.RUNTIME_STATUS_RUNNING, `{"x":1}`, "")
	other.Name = "something_else"
	if p := (App{}).Page(other); p.Summary != nil || p.Panel != nil || p.Open != nil {
		t.Errorf("another orchestration's page: %+v", p)
	}
}

// The dashboard takes the app's parts: its templates parse, its action
// names a template of its own.
func TestTheDashboardTakesIt(t *testing.T) {
	if _, err := dashboard.New(dashboard.Options{Hubs: []dashboard.Hub{&raiser{}}, App: App{}}); err != nil {
		t.Fatal(err)
	}
}

// A request with groups says each group's progress in its summary and
// on its panel.
func TestGroupProgress(t *testing.T) {
	in := instance(api.RUNTIME_STATUS_RUNNING, `{"request_id":"a-1","status":"Pending","submitted_at":"2026-01-01T00:00:00Z","features":["withdraw","groups"],`+
		`"decisions":[{"approver":"carol","approved":true,"comments":"","at":"2026-01-01T00:01:00Z","group":"finance"}]}`, "")
	in.SerializedInput = `{"request_id":"a-1","requester":"ana","item":"Laptop","groups":[{"group":"finance","required":2},{"group":"security","required":1}]}`
	got, err := App{}.Summary(t.Context(), in, nil)
	if err != nil || got == nil || !strings.HasPrefix(got.Text, "Awaiting decision · finance 1 of 2, security 0 of 1 · due") {
		t.Fatalf("summary = %+v %v", got, err)
	}
	part := App{}.Page(in).Panel
	tmpl := template.Must(template.New("").Funcs(template.FuncMap{"time": fmt.Sprint, "ago": fmt.Sprint}).Parse(templates))
	var b strings.Builder
	if err := tmpl.ExecuteTemplate(&b, part.Template, part.Data); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "<dt>Groups</dt><dd>finance: 1 of 2 — carol; security: 0 of 1</dd>") {
		t.Fatalf("panel:\n%s", b.String())
	}
}

// BenchmarkInstancePage measures what the dashboard asks of the app for
// one instance's page of a waiting approval.
func BenchmarkInstancePage(b *testing.B) {
	in := instance(api.RUNTIME_STATUS_RUNNING, `{"request_id":"a-1","status":"Pending","submitted_at":"2026-01-01T00:00:00Z","expires_at":"2999-01-01T00:00:00Z"}`, "")
	in.SerializedInput = `{"request_id":"a-1","requester":"ana","item":"Laptop, 1200 EUR","approvers":["bob","carol","dan"],"required":2,"timeout_hours":24}`
	b.ReportAllocs()
	for b.Loop() {
		if p := (App{}).Page(in); p.Summary == nil || p.Panel == nil || len(p.Open) != 1 {
			b.Fatalf("%+v", p)
		}
	}
}
