// Package httpapi is the HTTP side of the custom handler behind the Azure
// Functions host: the API that machines call (start an approval, read it,
// list approvals, submit a decision) and the pages that people use (an
// approval's review page and their inbox).
//
// Routes keep the host's /api prefix because the host forwards requests with
// their full original path. Each route has one handler, which answers a
// browser (a client that prefers text/html) with a page and everyone else
// with JSON, so Logic Apps, scripts and the console client see the API as it
// always was. Pending approvals are answered in the Durable Functions async
// style (202, Location, Retry-After), which Logic Apps follow on their own.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/config"
	"github.com/approvals-go/approvals/internal/exposure"
	"github.com/approvals-go/approvals/internal/safehttp"
)

// Paths of the API and the pages, as function.json routes prefixed with
// the host's "api". The machine routes (under ApprovalsPath) take a
// function key in Azure; the people's routes (the pages under ReviewPath
// and their assets) are anonymous to the Functions host, for people whom
// App Service Authentication signs in.
const (
	ApprovalsPath  = approval.ApprovalsPath
	ApprovalPath   = ApprovalsPath + "/{id}"
	DecisionPath   = ApprovalPath + "/decision"
	WithdrawPath   = ApprovalPath + "/withdraw"
	ReviewPath     = approval.ReviewPath
	ReviewPagePath = ReviewPath + "/{id}"
	AssetsPath     = "/api/assets"
	AssetPath      = AssetsPath + "/{name}"
)

// Options configures the API.
type Options struct {
	// PublicBaseURL overrides the scheme and host of the links in responses.
	PublicBaseURL string
	// TrustForwarded lets X-Forwarded-Host and X-Forwarded-Proto choose the
	// links' host when PublicBaseURL is empty. Only a proxy that sets them
	// itself makes them trustworthy.
	TrustForwarded bool
	// Hosts are host names that clients reach the API under besides
	// PublicBaseURL's, such as the Function App's default name when
	// PublicBaseURL names a custom domain. A request for any other name
	// but localhost or an IP address is refused (see exposure.Hosts).
	Hosts []string
	// RetryAfter is what pending responses tell pollers to wait. Zero means
	// 5 seconds.
	RetryAfter time.Duration
	// CallTimeout bounds each call to the scheduler. Zero means 10 seconds.
	CallTimeout time.Duration
	// DecisionWait bounds how long a decision waits for the orchestration
	// to record its outcome before it is answered 202, outcome not yet
	// known. Zero means 5 seconds.
	DecisionWait time.Duration
	// Identity says who a decider is: config.IdentityBody ("" too) takes
	// the body's approver, for development; config.IdentityAppService the
	// principal that App Service Authentication signed in (a person, or an
	// application with AppRole calling with a token of its own), from
	// headers the platform sets and strips from what clients send. With
	// it, the people's routes serve only the signed-in.
	Identity string
	// Links checks the signed links approvers receive. Nil means links
	// are plain page links, and the review page then lets whoever opens it
	// decide under the name they type, unless Identity says otherwise.
	Links *approval.LinkSigner
	// CheckCallback refuses a start's callback_url that the worker would
	// refuse to call (see internal/safehttp). Nil allows https to public
	// addresses only.
	CheckCallback func(url string) error
	Logger        *slog.Logger
}

type server struct {
	orch  Orchestrations
	opts  Options
	hosts exposure.Hosts
	log   *slog.Logger
}

// appService reports whether deciders are the signed-in principals.
func (s *server) appService() bool { return s.opts.Identity == config.IdentityAppService }

// New returns the handler serving the API.
func New(orch Orchestrations, opts Options) http.Handler {
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = 5 * time.Second
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 10 * time.Second
	}
	if opts.DecisionWait <= 0 {
		opts.DecisionWait = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.CheckCallback == nil {
		opts.CheckCallback = safehttp.New(safehttp.Options{}).CheckURL
	}
	opts.PublicBaseURL = strings.TrimRight(opts.PublicBaseURL, "/")
	public := ""
	if u, err := url.Parse(opts.PublicBaseURL); err == nil {
		public = u.Host
	}
	s := &server{orch: orch, opts: opts, hosts: exposure.NewHosts(append([]string{public}, opts.Hosts...)...), log: opts.Logger}

	// SkipClean: mux would answer a non-canonical path (with "./" or "//")
	// with a 301, which clients repeat as a GET, silently dropping a
	// decision. Such a path matches no route and is a 404 instead.
	// UseEncodedPath: routes match the path as sent, so an id holding an
	// encoded "/" (x%2Fdecision) is an id, refused as such, not a route.
	r := mux.NewRouter().SkipClean(true).UseEncodedPath()
	r.Handle("/", methods{http.MethodGet: s.ready})
	r.Handle(ApprovalsPath, methods{http.MethodPost: s.start, http.MethodGet: s.list})
	r.Handle(ApprovalPath, methods{http.MethodGet: s.get})
	r.Handle(DecisionPath, methods{http.MethodPost: s.decide})
	r.Handle(WithdrawPath, methods{http.MethodPost: s.withdraw})
	r.Handle(ReviewPath, methods{http.MethodGet: s.people(s.inbox)})
	r.Handle(ReviewPagePath, methods{http.MethodGet: s.people(s.review), http.MethodPost: s.people(s.reviewDecide)})
	r.Handle(AssetPath, methods{http.MethodGet: serveAsset})
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, problem{Status: http.StatusNotFound, Detail: "no route for " + r.URL.Path})
	})
	return s.logRequests(s.refuseMisdirected(s.refuseCrossSite(commonHeaders(r))))
}

// commonHeaders are set on every answer. Each route may answer JSON or a
// page depending on Accept, so caches must key on it.
func commonHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

// methods dispatches on the request method and answers 405 with Allow.
type methods map[string]http.HandlerFunc

func (m methods) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h, ok := m[r.Method]; ok {
		h(w, r)
		return
	}
	if h, ok := m[http.MethodGet]; ok && r.Method == http.MethodHead {
		h(w, r)
		return
	}
	allowed := sortedKeys(m)
	if _, ok := m[http.MethodGet]; ok {
		allowed = append(allowed, http.MethodHead)
	}
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	writeProblem(w, r, problem{Status: http.StatusMethodNotAllowed,
		Detail: fmt.Sprintf("%s is not allowed here; use %s", r.Method, strings.Join(allowed, " or "))})
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		began := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(rec, r)
		if r.URL.Path == "/" {
			return // the host's readiness probe
		}
		// The query is left out: it may hold a function key.
		s.log.Info("request", "method", r.Method, "path", r.URL.Path, "status", rec.code,
			"duration_ms", float64(time.Since(began).Microseconds())/1000)
	})
}

func (s *server) ready(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

var startFields = map[string]kind{
	"request_id":     kindString,
	"requester":      kindString,
	"item":           kindString,
	"approver":       kindString,
	"approvers":      kindStrings,
	"timeout_hours":  kindNumber,
	"timeout":        kindString,
	"policy":         kindString,
	"required":       kindNumber,
	"remind_every":   kindString,
	"escalate_after": kindString,
	"escalate_to":    kindStrings,
	"callback_url":   kindString,
}

// approvalView is the body of every successful response.
type approvalView struct {
	ID            string            `json:"id"`
	Status        approval.Status   `json:"status"`
	RequestID     string            `json:"request_id,omitempty"`
	Requester     string            `json:"requester,omitempty"`
	Item          string            `json:"item,omitempty"`
	Approver      string            `json:"approver,omitempty"`
	Approvers     []string          `json:"approvers,omitempty"`
	TimeoutHours  *float64          `json:"timeout_hours,omitempty"`
	CreatedAt     string            `json:"created_at,omitempty"`
	LastUpdatedAt string            `json:"last_updated_at,omitempty"`
	SubmittedAt   string            `json:"submitted_at,omitempty"`
	ExpiresAt     string            `json:"expires_at,omitempty"`
	ApprovalURL   string            `json:"approval_url,omitempty"`
	Result        *approval.Outcome `json:"result,omitempty"`
	Error         string            `json:"error,omitempty"`
	StatusURI     string            `json:"status_uri"`
	DecisionURI   string            `json:"decision_uri,omitempty"`
	// The progress of a request with a policy, reminders or escalation.
	// The callback URL is never shown: it often carries its own secret.
	Policy         approval.Policy `json:"policy,omitempty"`
	Required       int             `json:"required,omitempty"`
	Deciders       []string        `json:"deciders,omitempty"`
	Decisions      []approval.Vote `json:"decisions,omitempty"`
	RemindEvery    string          `json:"remind_every,omitempty"`
	RemindersSent  int             `json:"reminders_sent,omitempty"`
	NextReminderAt string          `json:"next_reminder_at,omitempty"`
	EscalateAfter  string          `json:"escalate_after,omitempty"`
	EscalateTo     []string        `json:"escalate_to,omitempty"`
	EscalatesAt    string          `json:"escalates_at,omitempty"`
	EscalatedAt    string          `json:"escalated_at,omitempty"`
	Callback       bool            `json:"callback,omitempty"`
	WithdrawURI    string          `json:"withdraw_uri,omitempty"`
	// Features are what the approval's workflow supports beyond the
	// sample's contract; ExpiresAtDerived says expires_at is worked out,
	// not published by the workflow.
	Features         []approval.Feature `json:"features,omitempty"`
	ExpiresAtDerived bool               `json:"expires_at_derived,omitempty"`
	// Refused are the latest events the orchestrator did not count (who,
	// when, why), RefusedTotal all of them.
	Refused      []approval.RefusedEvent `json:"refused,omitempty"`
	RefusedTotal int                     `json:"refused_total,omitempty"`
}

func (s *server) start(w http.ResponseWriter, r *http.Request) {
	f, p := readFields(w, r, startFields)
	if p != nil {
		writeProblem(w, r, *p)
		return
	}
	req, p := requestFrom(f)
	if p == nil && req.CallbackURL != "" {
		if err := s.opts.CheckCallback(req.CallbackURL); err != nil {
			p = &problem{Status: http.StatusBadRequest, Field: "callback_url", Detail: "callback_url " + err.Error()}
		}
	}
	if p != nil {
		writeProblem(w, r, *p)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.CallTimeout)
	defer cancel()
	err := s.orch.Start(ctx, req)
	if errors.Is(err, ErrExists) {
		s.restart(w, r, req)
		return
	}
	if errors.Is(err, ErrBusy) {
		writeProblem(w, r, s.busy(w, r, err))
		return
	}
	if err != nil {
		writeProblem(w, r, *s.schedulerFailed(w, r, "start approval", err))
		return
	}
	s.log.Info("approval started", "id", req.RequestID, "requester", req.Requester, "item", req.Item)
	v := s.view(r, approval.State{ID: req.RequestID, Status: approval.StatusPending, Request: req})
	s.pending(w, v.StatusURI)
	writeJSON(w, http.StatusAccepted, v)
}

// restart answers a start whose id exists. The same request again (a
// retry after a lost answer) is not a conflict: it gets the approval as it
// stands now, like a GET. Other details under that id are.
func (s *server) restart(w http.ResponseWriter, r *http.Request, req approval.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.CallTimeout)
	defer cancel()
	md, err := s.orch.Get(ctx, req.RequestID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		writeProblem(w, r, *s.schedulerFailed(w, r, "read existing approval", err))
		return
	}
	st, isApproval := approval.StateOf(md)
	if err != nil || !isApproval || !st.Request.Same(req) {
		writeProblem(w, r, problem{Status: http.StatusConflict, ID: req.RequestID, Field: "request_id",
			Detail: fmt.Sprintf("an approval with id %q already exists with other details", req.RequestID)})
		return
	}
	s.writeView(w, s.view(r, st))
}

// requestFrom validates the start fields and applies the defaults.
func requestFrom(f fields) (approval.Request, *problem) {
	req := approval.Request{}
	req.RequestID, _ = f.str("request_id")
	req.Requester, _ = f.str("requester")
	req.Item, _ = f.str("item")
	req.Approver, _ = f.str("approver")
	req.Approvers, _ = f.strs("approvers")
	policy, _ := f.str("policy")
	req.Policy = approval.Policy(strings.ToLower(policy))
	req.RemindEvery, _ = f.str("remind_every")
	req.EscalateAfter, _ = f.str("escalate_after")
	req.EscalateTo, _ = f.strs("escalate_to")
	req.CallbackURL, _ = f.str("callback_url")
	if n, ok := f.num("required"); ok {
		if n != math.Trunc(n) || n < 1 || n > approval.MaxApprovers {
			return req, &problem{Status: http.StatusBadRequest, Field: "required", Detail: "required must be a whole number of approvers"}
		}
		req.Required = int(n)
	}
	if req.RequestID == "" {
		req.RequestID = uuid.NewString()
	} else if err := approval.ValidateID(req.RequestID); err != nil {
		return req, startProblem(err, false)
	}
	hours, hasHours := f.num("timeout_hours")
	timeout, hasTimeout := f.str("timeout")
	switch {
	case hasHours && hasTimeout:
		return req, &problem{Status: http.StatusBadRequest, Field: "timeout",
			Detail: "give timeout_hours or timeout, not both"}
	case hasHours:
		req.TimeoutHours = &hours
	case hasTimeout:
		d, err := time.ParseDuration(timeout)
		if err != nil {
			return req, &problem{Status: http.StatusBadRequest, Field: "timeout",
				Detail: fmt.Sprintf("timeout %q is not a duration such as 90s, 30m or 48h", timeout)}
		}
		if err := approval.ValidateTimeout(d); err != nil {
			return req, startProblem(err, true)
		}
		h := d.Hours()
		req.TimeoutHours = &h
	}
	if err := req.Validate(); err != nil {
		return req, startProblem(err, hasTimeout)
	}
	return req, nil
}

// startProblem is the 400 for a start the domain refused, naming the
// field at fault. Its limits on timeout_hours are told against timeout
// when the start gave that instead.
func startProblem(err error, hasTimeout bool) *problem {
	p := &problem{Status: http.StatusBadRequest, Detail: err.Error()}
	if fe, ok := approval.AsFieldError(err); ok {
		p.Field = fe.Field
		if p.Field == "timeout_hours" && hasTimeout {
			p.Field, p.Detail = "timeout", "timeout "+fe.Reason
		}
	}
	return p
}

// get answers an approval: its page to a browser, which decides through
// the decision route with the same function key, and the JSON view to
// everyone else.
func (s *server) get(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	st, ok := s.lookup(w, r, id)
	if !ok {
		return
	}
	if wantsHTML(r) {
		links := s.links(r, id)
		s.approvalPage(w, r, http.StatusOK, st, s.machineForm(r, links.decision))
		return
	}
	s.writeView(w, s.view(r, st))
}

// writeView answers with an approval: 202 with polling headers while it is
// pending, 200 once its outcome is known.
func (s *server) writeView(w http.ResponseWriter, v approvalView) {
	if v.Status == approval.StatusPending {
		s.pending(w, v.StatusURI)
		writeJSON(w, http.StatusAccepted, v)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// lookup reads an approval, answering 404 or 503 itself when it cannot.
func (s *server) lookup(w http.ResponseWriter, r *http.Request, id string) (approval.State, bool) {
	st, p := s.read(w, r, id)
	if p != nil {
		writeProblem(w, r, *p)
		return approval.State{}, false
	}
	return st, true
}

// read reads an approval, or says why it cannot: 404 or 503.
func (s *server) read(w http.ResponseWriter, r *http.Request, id string) (approval.State, *problem) {
	if approval.ValidateID(id) != nil {
		return approval.State{}, notFound(id)
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.CallTimeout)
	defer cancel()
	md, err := s.orch.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return approval.State{}, notFound(id)
	}
	if err != nil {
		return approval.State{}, s.schedulerFailed(w, r, "read approval", err)
	}
	st, ok := approval.StateOf(md)
	if !ok {
		return approval.State{}, notFound(id)
	}
	return st, nil
}

func notFound(id string) *problem {
	return &problem{Status: http.StatusNotFound, ID: id, Detail: fmt.Sprintf("no approval has id %q", id)}
}

// view renders an approval as the API's JSON.
func (s *server) view(r *http.Request, st approval.State) approvalView {
	links := s.links(r, st.ID)
	req := st.Request
	v := approvalView{ID: st.ID, Status: st.Status, StatusURI: links.status,
		RequestID: req.RequestID, Requester: req.Requester, Item: req.Item, Approver: req.Approver,
		Approvers: req.Approvers, TimeoutHours: req.TimeoutHours, ApprovalURL: st.ApprovalURL, Result: st.Result, Error: st.Error,
		CreatedAt: formatTime(st.CreatedAt), LastUpdatedAt: formatTime(st.LastUpdatedAt),
		SubmittedAt: formatTime(st.SubmittedAt), ExpiresAt: formatTime(st.ExpiresAt)}
	if st.Pending() {
		v.DecisionURI = links.decision
		if st.Supports(approval.FeatureWithdraw) {
			v.WithdrawURI = links.withdraw
		}
	}
	v.Features, v.ExpiresAtDerived = st.Progress.Features, st.DeadlineDerived
	v.Policy, v.Required = req.Policy, req.Required
	if v.Policy == approval.PolicyAll {
		v.Required = len(req.Deciders())
	}
	v.RemindEvery, v.EscalateAfter, v.EscalateTo, v.Callback = req.RemindEvery, req.EscalateAfter, req.EscalateTo, req.CallbackURL != ""
	p := st.Progress
	v.Decisions, v.RemindersSent, v.NextReminderAt, v.EscalatesAt, v.EscalatedAt = p.Decisions, p.RemindersSent, p.NextReminderAt, p.EscalatesAt, p.EscalatedAt
	v.Refused, v.RefusedTotal = p.Refused, p.RefusedTotal
	if st.Result != nil && len(st.Result.Decisions) > 0 {
		v.Decisions = st.Result.Decisions
	}
	if len(p.Approvers) > 0 {
		v.Deciders = p.Approvers
	}
	return v
}

// formatTime renders a known time; a zero one is left out.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return approval.FormatTime(t)
}

// withQuery adds one parameter to a URL that may already have a query.
func withQuery(link, name, value string) string {
	sep := "?"
	if strings.Contains(link, "?") {
		sep = "&"
	}
	return link + sep + url.Values{name: {value}}.Encode()
}

// pending sets the headers of the Durable Functions async pattern.
func (s *server) pending(w http.ResponseWriter, statusURI string) {
	w.Header().Set("Location", statusURI)
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(s.opts.RetryAfter.Seconds()))))
}

// schedulerFailed logs a failed call and returns the 503 that says to
// retry.
func (s *server) schedulerFailed(w http.ResponseWriter, r *http.Request, what string, err error) *problem {
	s.log.Error(what+" failed", "path", r.URL.Path, "err", err)
	w.Header().Set("Retry-After", "5")
	return &problem{Status: http.StatusServiceUnavailable,
		Detail: "the scheduler could not be reached or did not answer in time; retry the same request, which is safe to repeat"}
}
