package dashboard

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"maps"
	"net/url"

	"github.com/microsoft/durabletask-go/backend"

	"github.com/approvals-go/approvals/dts/mgmt"
)

// App is what an application adds to the dashboard about its own
// orchestrations. The dashboard renders any orchestration and knows none;
// an instance's state in a few words, a section of its page, what an event
// of its history means and what an operator may do to it come from the App
// that cmd/ wires in (for approvals, package approvaldash). Declared here,
// where it is used, as Hub is.
type App interface {
	// Info is what the app adds to the dashboard as a whole. New asks for
	// it once.
	Info() AppInfo
	// Summary is the instance's state in a few words, for the list, or
	// nil when the app has none for it. The list passes instances without
	// their input, output and failure; load reads the instance whole. An
	// error leaves the instance without a summary.
	Summary(ctx context.Context, in *mgmt.Instance, load func(context.Context) (*mgmt.Instance, error)) (*Summary, error)
	// Page is what the app adds to the instance's page. The page asks
	// once, with the instance whole, so that the app reads what it keeps
	// in the instance once per page rather than once per part.
	Page(in *mgmt.Instance) Page
	// Note says what an event of a history means to the app, or is empty.
	// Events the dashboard explains itself (a timer, a failure) keep its
	// own note.
	Note(e *backend.HistoryEvent) string
}

// AppInfo is what an app adds to the dashboard as a whole.
type AppInfo struct {
	// Templates are html/template definitions ({{define "name"}}…{{end}})
	// of the parts the app's Page and Actions name, parsed once by New
	// with the dashboard's own template functions (time, ago, span, label,
	// slug, commas, iso and the rest). The dashboard renders them, escaped
	// as every page is.
	Templates string
	// Summaries names what Summary gives ("Approval"); it heads the list's
	// column where instances without a summary show their custom status.
	Summaries string
	// StartName and StartInput are what the start form offers: an
	// orchestrator and an input for it.
	StartName, StartInput string
	// Actions are the app's actions on one instance, offered before the
	// dashboard's own. Their names must not be the dashboard's.
	Actions []Action
}

// Summary is an instance's state in a few words.
type Summary struct {
	Text string
	Tone Tone
}

// Tone colours a summary.
type Tone string

// The tones.
const (
	TonePlain   Tone = ""
	ToneWaiting Tone = "waiting"
	ToneGood    Tone = "good"
	ToneBad     Tone = "bad"
	ToneEnded   Tone = "ended"
	// toneCustom is the dashboard's own: an instance's custom status
	// shown as it is.
	toneCustom Tone = "custom"
)

// Page is what an app adds to one instance's page.
type Page struct {
	Summary *Summary
	// Panel is a section of the page beside the instance's overview, or
	// nil.
	Panel *Part
	// Open names the app's actions possible on the instance now: those
	// whose Open would say so.
	Open []string
}

// Part is a piece of a page that an app supplies: one of its templates
// and the data to execute it with.
type Part struct {
	Template string
	Data     any
}

// Action is something an app offers to do to one instance, behind a
// confirmation page as the dashboard's own actions are.
type Action struct {
	// Name is the last segment of its URL; Label is its button on the
	// instance's page.
	Name, Label string
	// Title heads its confirmation page, Explain says there what it does
	// and Verb is the page's button.
	Title, Explain, Verb string
	// Form names the template that writes the form's own fields; it is
	// given an ActionForm. The dashboard adds the confirmation box.
	Form string
	// Open says whether the action is possible on the instance now. data,
	// which it may give either way, goes to the form and to Do.
	Open func(in *mgmt.Instance) (data any, ok bool)
	// Do performs the confirmed action through h. A problem is for the
	// operator to fix: nothing was done, and the form is shown again with
	// it.
	Do func(ctx context.Context, h Hub, in *mgmt.Instance, data any, form url.Values) (problem string, err error)
	// Notice is the code the redirect to the instance's page carries once
	// it is done, and Done the banner shown for it.
	Notice, Done string
}

// ActionForm is what an action's form is rendered from.
type ActionForm struct {
	In   *mgmt.Instance
	Data any
	// Form is what was posted, to fill the form again after a mistake.
	Form url.Values
}

// noApp is the dashboard without an app: any orchestration, as the
// scheduler knows it.
type noApp struct{}

func (noApp) Info() AppInfo { return AppInfo{} }

func (noApp) Summary(context.Context, *mgmt.Instance, func(context.Context) (*mgmt.Instance, error)) (*Summary, error) {
	return nil, nil
}

func (noApp) Page(*mgmt.Instance) Page { return Page{} }

func (noApp) Note(*backend.HistoryEvent) string { return "" }

// loadApp asks the app for what it adds to every page and parses its
// templates, so that an app whose parts do not fit is refused at start-up.
func (s *Server) loadApp() error {
	s.appInfo = s.app.Info()
	s.appParts = template.New("app").Funcs(s.funcs())
	if _, err := s.appParts.Parse(s.appInfo.Templates); err != nil {
		return fmt.Errorf("dashboard: the app's templates: %w", err)
	}
	s.notices = maps.Clone(notices)
	s.appActions = map[string]Action{}
	for _, a := range s.appInfo.Actions {
		_, builtin := actions[a.Name]
		_, twice := s.appActions[a.Name]
		_, noticeTaken := s.notices[a.Notice]
		switch {
		case a.Name == "" || builtin || twice:
			return fmt.Errorf("dashboard: the app's action %q is unnamed or named as another", a.Name)
		case s.appParts.Lookup(a.Form) == nil:
			return fmt.Errorf("dashboard: the app's action %q: the app defines no template %q", a.Name, a.Form)
		case a.Open == nil || a.Do == nil:
			return fmt.Errorf("dashboard: the app's action %q cannot be opened or done", a.Name)
		case a.Notice == "" || noticeTaken:
			return fmt.Errorf("dashboard: the app's action %q: notice %q is empty or another's", a.Name, a.Notice)
		}
		s.appActions[a.Name] = a
		s.notices[a.Notice] = a.Done
	}
	return nil
}

// part renders a piece the app supplies. html/template escapes it as it
// escapes the page, in the body of an element, where the page inserts it.
func (s *Server) part(p *Part) (template.HTML, error) {
	var buf bytes.Buffer
	if err := s.appParts.ExecuteTemplate(&buf, p.Template, p.Data); err != nil {
		return "", err
	}
	return template.HTML(buf.String()), nil
}
