package dashboard

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/approvals-go/approvals/dts/mgmt"
	"github.com/approvals-go/approvals/scheduler"
)

// Every action is a GET that shows what it will do and a form, and a POST
// of that form with its confirmation box ticked that does it. Nothing is
// done on a GET, or on a POST without the box.

// writeTimeout bounds an action.
const writeTimeout = 30 * time.Second

// actionInfo describes an action on one instance.
type actionInfo struct {
	Title   string
	Verb    string
	Explain string
	Danger  bool
	// allowed says whether the instance's status permits it.
	allowed func(in *mgmt.Instance) bool
}

func running(in *mgmt.Instance) bool { return !mgmt.Final(in.RuntimeStatus) }

var actions = map[string]actionInfo{
	"raise": {Title: "Raise an event", Verb: "Raise event",
		Explain: "Sends a named event with a JSON payload. An orchestration that is not waiting for it keeps it until it does.",
		allowed: running},
	"terminate": {Title: "Terminate", Verb: "Terminate", Danger: true,
		Explain: "Ends the instance with status Terminated and the reason as its output. Its activities are not undone.",
		allowed: running},
	"suspend": {Title: "Suspend", Verb: "Suspend",
		Explain: "Pauses the instance. Events sent to it meanwhile are kept and processed when it is resumed.",
		allowed: func(in *mgmt.Instance) bool {
			return running(in) && in.RuntimeStatus != api.RUNTIME_STATUS_SUSPENDED
		}},
	"resume": {Title: "Resume", Verb: "Resume",
		Explain: "Continues a suspended instance, processing the events it kept.",
		allowed: func(in *mgmt.Instance) bool {
			return in.RuntimeStatus == api.RUNTIME_STATUS_SUSPENDED
		}},
	"restart": {Title: "Restart", Verb: "Restart",
		Explain: "Starts the orchestration again with its original name and input.",
		allowed: func(in *mgmt.Instance) bool { return mgmt.Final(in.RuntimeStatus) }},
	"rewind": {Title: "Rewind", Verb: "Rewind",
		Explain: "Runs the failed activities and sub-orchestrations of a failed instance again; what succeeded is kept. The worker's SDK must support rewinding (durabletask-go v0.6.0 does not: the instance fails again).",
		allowed: func(in *mgmt.Instance) bool { return in.RuntimeStatus == api.RUNTIME_STATUS_FAILED }},
	"purge": {Title: "Purge", Verb: "Purge", Danger: true,
		Explain: "Deletes the instance and its whole history for good.",
		allowed: func(in *mgmt.Instance) bool { return mgmt.Final(in.RuntimeStatus) }},
}

// confirmView is the confirmation page of one action.
type confirmView struct {
	Hub    string
	In     *mgmt.Instance
	Action string
	Info   actionInfo
	URL    string
	Back   string
	// Form holds what was sent, to fill the form again after a mistake.
	Form url.Values
	// app is the app's action, if it is one, and data what it opened with.
	app  *Action
	data any
}

// AppForm is the app's form for its action, or nil.
func (v *confirmView) AppForm() *Part {
	if v.app == nil {
		return nil
	}
	return &Part{Template: v.app.Form, Data: ActionForm{In: v.In, Data: v.data, Form: v.Form}}
}

func (s *Server) actionPage(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("action")
	info, builtin := actions[name]
	app, isApp := s.appActions[name]
	if !builtin && !isApp {
		s.notFound(w, "There is no action “"+name+"”.")
		return
	}
	h, in, ok := s.lookup(w, r)
	if !ok {
		return
	}
	back := instanceURL(h.Name(), string(in.InstanceID))
	v := confirmView{Hub: h.Name(), In: in, Action: name, URL: actionURL(h.Name(), string(in.InstanceID), name),
		Back: back, Form: url.Values{}}
	allowed := builtin && info.allowed(in)
	if isApp {
		info = actionInfo{Title: app.Title, Verb: app.Verb, Explain: app.Explain}
		v.app = &app
		v.data, allowed = app.Open(in)
	}
	v.Info = info
	page := view{Title: info.Title + " · " + string(in.InstanceID), Hub: h.Name(), Page: &v}
	if !allowed {
		page.Error = "“" + info.Title + "” is not possible while the instance is " + mgmt.StatusName(in.RuntimeStatus) + "."
		s.render(w, http.StatusConflict, "confirm", page)
		return
	}
	if !s.posted(w, r, "confirm", page) {
		return
	}
	v.Form = r.PostForm
	if r.PostForm.Get("confirm") != "yes" {
		page.Error = "Tick the box to confirm; nothing was done."
		s.render(w, http.StatusUnprocessableEntity, "confirm", page)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), writeTimeout)
	defer cancel()
	var target api.InstanceID
	var code, problem string
	var err error
	if isApp {
		target, code = in.InstanceID, app.Notice
		problem, err = app.Do(ctx, h, in, v.data, r.PostForm)
	} else {
		target, code, problem, err = s.perform(ctx, h, in, name, r.PostForm)
	}
	switch {
	case problem != "":
		page.Error = problem + " Nothing was done."
		s.render(w, http.StatusUnprocessableEntity, "confirm", page)
		return
	case errors.Is(err, api.ErrInstanceNotFound):
		s.notFound(w, "The instance is gone: it was purged meanwhile.")
		return
	case status.Code(err) == codes.FailedPrecondition:
		page.Error = status.Convert(err).Message()
		s.render(w, http.StatusConflict, "confirm", page)
		return
	case err != nil:
		s.fail(w, strings.ToLower(info.Title)+" "+string(in.InstanceID), err)
		return
	}
	s.log.Info("dashboard: "+name, "taskhub", h.Name(), "instance_id", in.InstanceID, "result", target)
	dest := hubURL(h.Name()) + "?notice=" + code
	if target != "" {
		dest = instanceURL(h.Name(), string(target)) + "?notice=" + code
	}
	http.Redirect(w, r, dest, http.StatusSeeOther)
}

// perform does one confirmed action. It returns the instance to show next
// (none after a purge) and the notice to show there, or a problem with the
// form for the operator to fix.
func (s *Server) perform(ctx context.Context, h Hub, in *mgmt.Instance, name string, f url.Values) (target api.InstanceID, code, problem string, err error) {
	id := in.InstanceID
	reason := strings.TrimSpace(f.Get("reason"))
	switch name {
	case "raise":
		event := strings.TrimSpace(f.Get("event"))
		payload := strings.TrimSpace(f.Get("payload"))
		if event == "" {
			return "", "", "Name the event.", nil
		}
		if !validJSON(payload) {
			return "", "", "The payload is not valid JSON.", nil
		}
		return id, "raised", "", h.Raise(ctx, id, event, payload)
	case "terminate":
		if reason == "" {
			return "", "", "Give a reason; it becomes the instance's output.", nil
		}
		return id, "terminated", "", h.Terminate(ctx, id, reason)
	case "suspend":
		return id, "suspended", "", h.Suspend(ctx, id, reason)
	case "resume":
		return id, "resumed", "", h.Resume(ctx, id, reason)
	case "restart":
		newID, err := h.Restart(ctx, id, f.Get("new_id") == "yes")
		return newID, "restarted", "", err
	case "rewind":
		err := h.Rewind(ctx, id, reason)
		if errors.Is(err, mgmt.ErrNotFailed) {
			return "", "", "The instance is no longer failed.", nil
		}
		return id, "rewound", "", err
	case "purge":
		n, err := h.Purge(ctx, []api.InstanceID{id})
		if err == nil && n == 0 {
			return "", "", "The instance is no longer finished, so it was kept.", nil
		}
		return "", "purged", "", err
	}
	return "", "", "", errors.New("unknown action " + name)
}

// posted reports whether r posts a readable form to a form page. Otherwise
// it has rendered the page itself: as it stands for a GET, and with an
// error for a form it cannot read.
func (s *Server) posted(w http.ResponseWriter, r *http.Request, name string, page view) bool {
	if r.Method != http.MethodPost {
		s.render(w, http.StatusOK, name, page)
		return false
	}
	if err := r.ParseForm(); err != nil {
		page.Error = "The form could not be read."
		s.render(w, http.StatusBadRequest, name, page)
		return false
	}
	return true
}

// startView is the start form.
type startView struct {
	Hub  string
	URL  string
	Form url.Values
}

func (s *Server) startPage(w http.ResponseWriter, r *http.Request) {
	h, ok := s.pathHub(w, r)
	if !ok {
		return
	}
	v := &startView{Hub: h.Name(), URL: hubURL(h.Name()) + "start", Form: url.Values{}}
	page := view{Title: "Start an orchestration", Hub: h.Name(), Page: v}
	if r.Method != http.MethodPost {
		v.Form.Set("name", s.appInfo.StartName)
		v.Form.Set("input", s.appInfo.StartInput)
	}
	if !s.posted(w, r, "start", page) {
		return
	}
	v.Form = r.PostForm
	name := strings.TrimSpace(v.Form.Get("name"))
	id := strings.TrimSpace(v.Form.Get("id"))
	input := strings.TrimSpace(v.Form.Get("input"))
	switch {
	case v.Form.Get("confirm") != "yes":
		page.Error = "Tick the box to confirm; nothing was started."
	case name == "":
		page.Error = "Name the orchestrator."
	case !validJSON(input):
		page.Error = "The input is not valid JSON."
	}
	if page.Error != "" {
		s.render(w, http.StatusUnprocessableEntity, "start", page)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), writeTimeout)
	defer cancel()
	started, err := h.Start(ctx, name, api.InstanceID(id), input)
	switch {
	case errors.Is(err, api.ErrDuplicateInstance) || status.Code(err) == codes.AlreadyExists:
		page.Error = "An instance with ID “" + id + "” already exists."
		s.render(w, http.StatusConflict, "start", page)
		return
	case err != nil:
		s.fail(w, "start the orchestration", err)
		return
	}
	s.log.Info("dashboard: start", "taskhub", h.Name(), "instance_id", started, "name", name)
	http.Redirect(w, r, instanceURL(h.Name(), string(started))+"?notice=started", http.StatusSeeOther)
}

// bulkView confirms an action on many instances.
type bulkView struct {
	Hub    string
	Action string
	Title  string
	URL    string
	IDs    []string
	// More says the filter matched more than one bulk action takes.
	More   bool
	Back   string
	Reason string
}

// bulkURL is the list to return to: the filtered list it came from, when
// that is a list of this hub.
func bulkBack(hub, back string) string {
	if strings.HasPrefix(back, hubURL(hub)) && !strings.Contains(back, "//") {
		return back
	}
	return hubURL(hub)
}

func (s *Server) bulkPage(w http.ResponseWriter, r *http.Request) {
	h, ok := s.pathHub(w, r)
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "The form could not be read.", http.StatusBadRequest)
		return
	}
	action := r.Form.Get("action")
	titles := map[string]string{"terminate": "Terminate instances", "purge": "Purge instances"}
	v := &bulkView{Hub: h.Name(), Action: action, Title: titles[action], URL: hubURL(h.Name()) + "bulk",
		Back: bulkBack(h.Name(), r.Form.Get("back")), Reason: r.Form.Get("reason")}
	page := view{Title: v.Title, Hub: h.Name(), Page: v}
	if v.Title == "" {
		page.Error = "Choose terminate or purge."
		s.render(w, http.StatusBadRequest, "bulk", page)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), writeTimeout)
	defer cancel()
	if r.Method != http.MethodPost {
		ids, more, err := s.bulkTargets(ctx, h, r.Form)
		if err != nil {
			s.fail(w, "list instances", err)
			return
		}
		v.IDs, v.More = ids, more
		if len(ids) == 0 {
			page.Error = "No instance was selected."
		}
		s.render(w, http.StatusOK, "bulk", page)
		return
	}
	// The POST acts on exactly the IDs its confirmation page listed.
	v.IDs = r.PostForm["id"]
	if len(v.IDs) > mgmt.MaxBatch {
		v.IDs = v.IDs[:mgmt.MaxBatch]
	}
	switch {
	case len(v.IDs) == 0:
		page.Error = "No instance was selected; nothing was done."
	case r.PostForm.Get("confirm") != "yes":
		page.Error = "Tick the box to confirm; nothing was done."
	case action == "terminate" && strings.TrimSpace(v.Reason) == "":
		page.Error = "Give a reason; it becomes each instance's output. Nothing was done."
	}
	if page.Error != "" {
		s.render(w, http.StatusUnprocessableEntity, "bulk", page)
		return
	}
	ids := make([]api.InstanceID, len(v.IDs))
	for i, id := range v.IDs {
		ids[i] = api.InstanceID(id)
	}
	var done int
	var err error
	if action == "purge" {
		done, err = h.Purge(ctx, ids)
	} else {
		done, err = terminateAll(ctx, h, ids, strings.TrimSpace(v.Reason))
	}
	if err != nil {
		s.fail(w, action+" instances", err)
		return
	}
	s.log.Info("dashboard: bulk "+action, "taskhub", h.Name(), "selected", len(ids), "done", done)
	back, _ := url.Parse(v.Back)
	q := back.Query()
	q.Set("notice", "bulk-"+action+"d")
	q.Set("n", strconv.Itoa(done))
	q.Set("of", strconv.Itoa(len(ids)))
	q.Del("page")
	back.RawQuery = q.Encode()
	http.Redirect(w, r, back.String(), http.StatusSeeOther)
}

// bulkTargets are the instances a bulk action's confirmation lists: those
// ticked, or with scope=filter every instance the list's filter selects,
// up to one batch.
func (s *Server) bulkTargets(ctx context.Context, h Hub, f url.Values) ([]string, bool, error) {
	if f.Get("scope") != "filter" {
		ids := slices.Compact(slices.Sorted(slices.Values(f["id"])))
		if len(ids) > mgmt.MaxBatch {
			return ids[:mgmt.MaxBatch], true, nil
		}
		return ids, false, nil
	}
	_, filter, _ := parseListForm(f)
	list, err := h.List(ctx, filter, scheduler.Sort{Column: scheduler.SortCreated}, 0, mgmt.MaxBatch+1)
	if err != nil {
		return nil, false, err
	}
	var ids []string
	for _, in := range list {
		ids = append(ids, string(in.InstanceID))
	}
	if len(ids) > mgmt.MaxBatch {
		return ids[:mgmt.MaxBatch], true, nil
	}
	return ids, false, nil
}

// terminateAll terminates those of ids that are still running and
// returns how many.
func terminateAll(ctx context.Context, h Hub, ids []api.InstanceID, reason string) (int, error) {
	n := 0
	for _, id := range ids {
		in, err := h.Instance(ctx, id)
		if errors.Is(err, api.ErrInstanceNotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		if mgmt.Final(in.RuntimeStatus) {
			continue
		}
		if err := h.Terminate(ctx, id, reason); err != nil && !errors.Is(err, api.ErrInstanceNotFound) {
			return n, err
		}
		n++
	}
	return n, nil
}
