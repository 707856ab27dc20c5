package approvaldash

import (
	"fmt"
	"html/template"
	"strings"
	"testing"

	"github.com/microsoft/durabletask-go/api"
)

// The panel says how each decision came and how its sender was known, in
// approval.HowDecided's words, and so does the outcome.
func TestPanelSaysHowDecisionsCame(t *testing.T) {
	in := instance(api.RUNTIME_STATUS_COMPLETED, "", `{"request_id":"a-1","status":"Approved","processed_at":"2026-01-01T00:02:00Z","approver":"bob",`+
		`"channel":"bulk","auth":"sign_in","decisions":[`+
		`{"approver":"carol","approved":true,"at":"2026-01-01T00:01:00Z","channel":"page","auth":"signed_link"},`+
		`{"approver":"bob","approved":true,"at":"2026-01-01T00:02:00Z","channel":"bulk","auth":"sign_in"},`+
		`{"approver":"dan","approved":true,"at":"2026-01-01T00:02:00Z"}]}`)
	in.SerializedInput = `{"request_id":"a-1","requester":"ana","item":"Laptop","approvers":["bob","carol","dan"],"policy":"all"}`
	part := App{}.Page(in).Panel
	tmpl := template.Must(template.New("").Funcs(template.FuncMap{"time": fmt.Sprint, "ago": fmt.Sprint}).Parse(templates))
	var b strings.Builder
	if err := tmpl.ExecuteTemplate(&b, part.Template, part.Data); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`<li>carol: approved <span class="muted">(on the review page, by signed link)</span></li>`,
		`<li>bob: approved <span class="muted">(in a bulk decision, signed in)</span></li>`,
		`<li>dan: approved</li>`,
		`<strong>Approved</strong> by bob <span class="muted approval-how">(in a bulk decision, signed in)</span>`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Fatalf("panel lacks %s:\n%s", want, b.String())
		}
	}
}
