package dashboard

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/backend"

	"github.com/approvals-go/approvals/dts/mgmt"
)

// The instance page: one orchestration, its timeline and the actions it
// offers.

// actionLink is an action the instance page offers.
type actionLink struct {
	Name, Label string
	URL         string
	Danger      bool
}

type instanceView struct {
	Hub          string
	In           *mgmt.Instance
	Final        bool
	Input        string
	Output       string
	CustomStatus string
	Failure      *backend.TaskFailureDetails
	Summary      *Summary
	// Panel is the app's section of the page.
	Panel       *Part
	Actions     []actionLink
	Tags        []fact
	Steps       []step
	Events      int
	First, Last int
	EarlierURL  string
	LaterURL    string
	StartURL    string
	EndURL      string
}

func (s *Server) instancePage(w http.ResponseWriter, r *http.Request) {
	h, in, ok := s.lookup(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	v := instanceView{Hub: h.Name(), In: in, Final: mgmt.Final(in.RuntimeStatus), Failure: in.FailureDetails,
		Input: prettyJSON(in.SerializedInput), Output: prettyJSON(in.SerializedOutput), CustomStatus: prettyJSON(in.SerializedCustomStatus)}
	page := s.app.Page(in)
	v.Summary, v.Panel = page.Summary, page.Panel
	for _, k := range sortedKeys(in.Tags) {
		v.Tags = append(v.Tags, fact{k, in.Tags[k]})
	}
	v.Actions = s.actionsFor(h.Name(), in, page.Open)

	// The history is read a window at a time, apart from the instance, so
	// that an instance with a very long one still opens quickly.
	offset, _ := strconv.Atoi(r.URL.Query().Get("events"))
	offset = max(offset, 0)
	events, total, err := h.History(ctx, in.InstanceID, offset, historyWindow)
	if err != nil {
		s.fail(w, "read history", err)
		return
	}
	// A later window's times count from the run it begins in, and the
	// time since the run before: look for them in the window before.
	var run, prevRun time.Time
	if offset > 0 {
		from := max(offset-historyWindow, 0)
		before, _, err := h.History(ctx, in.InstanceID, from, offset-from)
		if err != nil {
			s.fail(w, "read history", err)
			return
		}
		run, prevRun = lastRuns(before)
	}
	v.Events = total
	v.Steps = timeline(events, offset, run, prevRun, in.RuntimeStatus, offset+len(events) >= total, s.app.Note)
	if len(events) > 0 {
		v.First, v.Last = offset+1, offset+len(events)
	}
	base := instanceURL(h.Name(), string(in.InstanceID))
	if offset > 0 {
		v.EarlierURL = base + "?events=" + strconv.Itoa(max(offset-historyWindow, 0)) + "#timeline"
		v.StartURL = base + "#timeline"
	}
	if offset+len(events) < total {
		v.LaterURL = base + "?events=" + strconv.Itoa(offset+historyWindow) + "#timeline"
		v.EndURL = base + "?events=" + strconv.Itoa(max(total-historyWindow, 0)) + "#timeline"
	}
	s.render(w, http.StatusOK, "instance", view{Title: string(in.InstanceID), Hub: h.Name(), Refresh: !v.Final,
		Notice: s.notice(r.URL.Query()), Page: v})
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// actionsFor lists what can be done to an instance in its status: the
// app's actions open on it (named in open) first.
func (s *Server) actionsFor(hub string, in *mgmt.Instance, open []string) []actionLink {
	id := string(in.InstanceID)
	var out []actionLink
	add := func(name, label string, danger bool) {
		out = append(out, actionLink{name, label, actionURL(hub, id, name), danger})
	}
	for _, a := range s.appInfo.Actions {
		if slices.Contains(open, a.Name) {
			add(a.Name, a.Label, false)
		}
	}
	switch {
	case mgmt.Final(in.RuntimeStatus):
		if in.RuntimeStatus == api.RUNTIME_STATUS_FAILED {
			add("rewind", "Rewind", false)
		}
		add("restart", "Restart", false)
		add("purge", "Purge", true)
	default:
		add("raise", "Raise event", false)
		if in.RuntimeStatus == api.RUNTIME_STATUS_SUSPENDED {
			add("resume", "Resume", false)
		} else {
			add("suspend", "Suspend", false)
		}
		add("terminate", "Terminate", true)
	}
	return out
}
