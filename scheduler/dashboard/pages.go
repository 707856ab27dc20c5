package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/microsoft/durabletask-go/api"

	"github.com/approvals-go/approvals/dts/mgmt"
	"github.com/approvals-go/approvals/scheduler"
)

// Page sizes: the instance list's default and largest, and the timeline's
// window.
const (
	defaultListSize = 50
	maxListSize     = 200
	historyWindow   = 200
	// readTimeout bounds every read a page makes.
	readTimeout = 10 * time.Second
)

func (s *Server) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", s.hubsPage)
	mux.HandleFunc("GET /static/{file}", s.serveAsset)
	mux.HandleFunc("GET /signin", s.signIn)
	mux.HandleFunc("POST /signin", s.signIn)
	mux.HandleFunc("POST /signout", s.signOut)
	mux.HandleFunc("GET /hubs/{hub}/{$}", s.hubPage(s.listPage))
	mux.HandleFunc("GET /hubs/{hub}/start", s.startPage)
	mux.HandleFunc("POST /hubs/{hub}/start", s.startPage)
	mux.HandleFunc("GET /hubs/{hub}/bulk", s.bulkPage)
	mux.HandleFunc("POST /hubs/{hub}/bulk", s.bulkPage)
	mux.HandleFunc("GET /hubs/{hub}/entities", s.hubPage(s.entitiesPage))
	mux.HandleFunc("GET /hubs/{hub}/entities/{id}", s.hubPage(s.entityPage))
	mux.HandleFunc("GET /hubs/{hub}/instances/{id}", s.instancePage)
	mux.HandleFunc("GET /hubs/{hub}/instances/{id}/{action}", s.actionPage)
	mux.HandleFunc("POST /hubs/{hub}/instances/{id}/{action}", s.actionPage)
}

// hubCard is one task hub on the front page.
type hubCard struct {
	Name   string
	Total  int
	Counts []statusCount
}

type statusCount struct {
	Status api.OrchestrationStatus
	Count  int
	URL    string
}

func (s *Server) hubsPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	var cards []hubCard
	for _, h := range s.hubs {
		counts, err := h.Counts(ctx, scheduler.Filter{})
		if err != nil {
			s.fail(w, "count instances of task hub "+h.Name(), err)
			return
		}
		c := hubCard{Name: h.Name()}
		for _, st := range statuses {
			c.Total += counts[st]
			if counts[st] > 0 || !isRare(st) {
				c.Counts = append(c.Counts, statusCount{st, counts[st], hubURL(h.Name()) + "?status=" + statusSlug(st)})
			}
		}
		cards = append(cards, c)
	}
	s.render(w, http.StatusOK, "hubs", view{Title: "Task hubs", Refresh: true, Page: cards})
}

// isRare statuses are shown only when some instance is in them.
func isRare(st api.OrchestrationStatus) bool {
	return st == api.RUNTIME_STATUS_CANCELED || st == api.RUNTIME_STATUS_CONTINUED_AS_NEW
}

// listForm is the instance list's filter as it travels in the URL.
type listForm struct {
	Statuses []api.OrchestrationStatus
	Prefix   string
	From, To string
	Page     int
	Size     int
}

// timeLayouts are what a datetime-local control sends, with and without
// seconds, and RFC 3339 for hand-written URLs. Times without a zone are
// UTC, as the dashboard shows them.
var timeLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339Nano}

func parseTime(s string) (time.Time, error) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New("not a time")
}

// parseListForm reads the filter; problems are reported and the field
// ignored, so a mistyped URL still shows a list.
func parseListForm(q url.Values) (listForm, scheduler.Filter, []string) {
	var f listForm
	var filter scheduler.Filter
	var problems []string
	for _, v := range q["status"] {
		for _, part := range strings.Split(v, ",") {
			if part == "" {
				continue
			}
			st, ok := parseStatus(part)
			if !ok {
				problems = append(problems, "unknown status "+strconv.Quote(part))
				continue
			}
			if !slices.Contains(f.Statuses, st) {
				f.Statuses = append(f.Statuses, st)
			}
		}
	}
	filter.Statuses = f.Statuses
	f.Prefix = strings.TrimSpace(q.Get("prefix"))
	filter.IDPrefix = f.Prefix
	for _, b := range []struct {
		name string
		raw  *string
		t    *time.Time
	}{{"from", &f.From, &filter.CreatedFrom}, {"to", &f.To, &filter.CreatedTo}} {
		*b.raw = strings.TrimSpace(q.Get(b.name))
		if *b.raw == "" {
			continue
		}
		t, err := parseTime(*b.raw)
		if err != nil {
			problems = append(problems, "“created "+b.name+"” is not a date and time")
			*b.raw = ""
			continue
		}
		*b.t = t
	}
	f.Page, f.Size = 1, defaultListSize
	if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 1 {
		f.Page = n
	}
	if n, err := strconv.Atoi(q.Get("size")); err == nil && n > 0 {
		f.Size = min(n, maxListSize)
	}
	return f, filter, problems
}

// values is the filter as URL parameters, without defaults.
func (f listForm) values() url.Values {
	q := url.Values{}
	for _, st := range f.Statuses {
		q.Add("status", statusSlug(st))
	}
	if f.Prefix != "" {
		q.Set("prefix", f.Prefix)
	}
	if f.From != "" {
		q.Set("from", f.From)
	}
	if f.To != "" {
		q.Set("to", f.To)
	}
	if f.Size != defaultListSize {
		q.Set("size", strconv.Itoa(f.Size))
	}
	if f.Page > 1 {
		q.Set("page", strconv.Itoa(f.Page))
	}
	return q
}

func (f listForm) url(hub string) string {
	if q := f.values().Encode(); q != "" {
		return hubURL(hub) + "?" + q
	}
	return hubURL(hub)
}

// row is one instance in the list.
type row struct {
	ID      string
	URL     string
	Name    string
	Status  api.OrchestrationStatus
	Created time.Time
	Updated time.Time
	Summary *Summary
}

type statusOption struct {
	Status  api.OrchestrationStatus
	Checked bool
}

type tab struct {
	Label  string
	Count  int
	URL    string
	Active bool
}

type listView struct {
	Hub string
	// Summaries heads the column of summaries and custom statuses.
	Summaries string
	Form      listForm
	Options   []statusOption
	Tabs      []tab
	Rows      []row
	Total     int
	First     int
	Last      int
	PrevURL   string
	NextURL   string
	FirstURL  string
	Back      string
	// Hidden carries the filter into the bulk form, so that "all
	// matching" means this filter.
	Hidden []hidden
}

type hidden struct{ Name, Value string }

func (s *Server) listPage(ctx context.Context, w http.ResponseWriter, r *http.Request, h Hub) {
	form, filter, problems := parseListForm(r.URL.Query())
	counts, err := h.Counts(ctx, filter)
	if err != nil {
		s.fail(w, "count instances", err)
		return
	}
	v := listView{Hub: h.Name(), Form: form, Summaries: "Custom status"}
	if s.appInfo.Summaries != "" {
		v.Summaries = s.appInfo.Summaries + " / custom status"
	}
	for st, n := range counts {
		if len(form.Statuses) == 0 || slices.Contains(form.Statuses, st) {
			v.Total += n
		}
	}
	offset := (form.Page - 1) * form.Size
	instances, err := h.List(ctx, filter, scheduler.Sort{Column: scheduler.SortCreated}, offset, form.Size)
	if err != nil {
		s.fail(w, "list instances", err)
		return
	}
	for _, in := range instances {
		v.Rows = append(v.Rows, row{ID: string(in.InstanceID), URL: instanceURL(h.Name(), string(in.InstanceID)),
			Name: in.Name, Status: in.RuntimeStatus, Created: in.CreatedAt, Updated: in.LastUpdatedAt,
			Summary: s.summary(ctx, h, in)})
	}
	all := 0
	for _, n := range counts {
		all += n
	}
	allForm := form
	allForm.Statuses, allForm.Page = nil, 1
	v.Tabs = append(v.Tabs, tab{Label: "All", Count: all, URL: allForm.url(h.Name()), Active: len(form.Statuses) == 0})
	for _, st := range statuses {
		if counts[st] == 0 && isRare(st) {
			continue
		}
		one := form
		one.Statuses, one.Page = []api.OrchestrationStatus{st}, 1
		v.Tabs = append(v.Tabs, tab{Label: mgmt.StatusName(st), Count: counts[st], URL: one.url(h.Name()),
			Active: len(form.Statuses) == 1 && form.Statuses[0] == st})
	}
	for _, st := range statuses {
		v.Options = append(v.Options, statusOption{st, slices.Contains(form.Statuses, st)})
	}
	if len(v.Rows) > 0 {
		v.First, v.Last = offset+1, offset+len(v.Rows)
	}
	if form.Page > 1 {
		prev := form
		prev.Page--
		v.PrevURL = prev.url(h.Name())
		first := form
		first.Page = 1
		v.FirstURL = first.url(h.Name())
	}
	if offset+len(v.Rows) < v.Total {
		next := form
		next.Page++
		v.NextURL = next.url(h.Name())
	}
	v.Back = form.url(h.Name())
	for name, vals := range form.values() {
		if name == "page" {
			continue
		}
		for _, val := range vals {
			v.Hidden = append(v.Hidden, hidden{name, val})
		}
	}
	slices.SortFunc(v.Hidden, func(a, b hidden) int { return strings.Compare(a.Name+a.Value, b.Name+b.Value) })
	vw := view{Title: h.Name(), Hub: h.Name(), Refresh: true, Page: v, Notice: s.notice(r.URL.Query())}
	if len(problems) > 0 {
		vw.Error = "Ignored: " + strings.Join(problems, "; ") + "."
	}
	s.render(w, http.StatusOK, "list", vw)
}

// summary is an instance in the list in a few words: the app's summary
// or, when it has none, the custom status.
func (s *Server) summary(ctx context.Context, h Hub, in *mgmt.Instance) *Summary {
	sum, err := s.app.Summary(ctx, in, func(ctx context.Context) (*mgmt.Instance, error) { return h.Instance(ctx, in.InstanceID) })
	switch {
	case err != nil:
		return nil
	case sum != nil:
		return sum
	case in.SerializedCustomStatus != "":
		return &Summary{Text: truncate(in.SerializedCustomStatus, 80), Tone: toneCustom}
	}
	return nil
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// lookup finds the hub and instance a URL names, answering 404 itself.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request) (Hub, *mgmt.Instance, bool) {
	h, ok := s.pathHub(w, r)
	if !ok {
		return nil, nil, false
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	in, err := h.Instance(ctx, api.InstanceID(r.PathValue("id")))
	if errors.Is(err, api.ErrInstanceNotFound) {
		s.notFound(w, "Task hub “"+h.Name()+"” has no instance “"+r.PathValue("id")+"”. It may have been purged.")
		return nil, nil, false
	}
	if err != nil {
		s.fail(w, "read instance", err)
		return nil, nil, false
	}
	return h, in, true
}

// hubPage serves a page that reads from the hub its URL names: it answers
// 404 itself for an unknown hub and bounds the page's reads by readTimeout.
func (s *Server) hubPage(page func(ctx context.Context, w http.ResponseWriter, r *http.Request, h Hub)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h, ok := s.pathHub(w, r)
		if !ok {
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
		defer cancel()
		page(ctx, w, r, h)
	}
}

// pathHub finds the hub the URL names, answering 404 itself.
func (s *Server) pathHub(w http.ResponseWriter, r *http.Request) (Hub, bool) {
	h, ok := s.hub(r.PathValue("hub"))
	if !ok {
		s.notFound(w, "There is no task hub named “"+r.PathValue("hub")+"”.")
	}
	return h, ok
}

func (s *Server) notFound(w http.ResponseWriter, msg string) {
	s.render(w, http.StatusNotFound, "message", view{Title: "Not found", Error: msg})
}

func (s *Server) fail(w http.ResponseWriter, what string, err error) {
	s.log.Error("dashboard: "+what, "err", err)
	s.render(w, http.StatusInternalServerError, "message", view{Title: "Error", Error: "Could not " + what + ". The scheduler's log says why."})
}

// notices are the banners an action's redirect asks for, by code, so that
// no text from the URL is ever shown.
var notices = map[string]string{
	"started":    "Orchestration scheduled. A worker picks it up as soon as one is connected.",
	"raised":     "Event sent. The orchestration sees it the next time it runs.",
	"terminated": "Termination requested. The instance ends as soon as the scheduler processes it.",
	"suspended":  "Suspend requested. Events sent meanwhile are kept until it is resumed.",
	"resumed":    "Resume requested.",
	"restarted":  "Restarted with its original input.",
	"rewound":    "Rewind requested: the failed tasks run again once a worker replays the instance.",
	"purged":     "Instance purged.",
}

// notice reads the banner an action asked for; bulk actions add counts.
func (s *Server) notice(q url.Values) string {
	code := q.Get("notice")
	if text, ok := s.notices[code]; ok {
		return text
	}
	n, errN := strconv.Atoi(q.Get("n"))
	of, errOf := strconv.Atoi(q.Get("of"))
	if errN != nil || errOf != nil {
		return ""
	}
	switch code {
	case "bulk-terminated":
		return "Termination requested for " + commas(n) + " of " + commas(of) + " selected instances; the others had already finished."
	case "bulk-purged":
		return "Purged " + commas(n) + " of " + commas(of) + " selected instances; instances still running are never purged."
	}
	return ""
}

// validJSON reports whether s is one JSON value (empty is allowed: no
// payload).
func validJSON(s string) bool { return s == "" || json.Valid([]byte(s)) }
