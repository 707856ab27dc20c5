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
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/audit"
	"github.com/approvals-go/approvals/config"
	"github.com/approvals-go/approvals/internal/compress"
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
	// Audit seals the audit trails the audit routes serve. Nil turns them
	// off (501).
	Audit *audit.Signer
	// FunctionKeys says the machine routes sit behind the Functions host's
	// function keys, so that a decision there is recorded as vouched for
	// by one (approval.AuthFunctionKey) rather than by nothing.
	FunctionKeys bool
	// CheckCallback refuses a start's callback_url that the worker would
	// refuse to call (see internal/safehttp). Nil allows https to public
	// addresses only.
	CheckCallback func(url string) error
	// Groups says who is in which approver group besides what a signed-in
	// principal's groups claim says (see groupsOf). Nil for no file.
	Groups *approval.Directory
	// Delegations keeps people's delegations; nil serves none, and
	// decisions are then never made for another.
	Delegations DelegationStore
	Logger      *slog.Logger
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
	r.Handle(bulkRoute, methods{http.MethodGet: s.get, http.MethodPost: s.decideBulk})
	r.Handle(ApprovalPath, methods{http.MethodGet: s.get})
	r.Handle(DecisionPath, methods{http.MethodPost: s.decide})
	r.Handle(WithdrawPath, methods{http.MethodPost: s.withdraw})
	r.Handle(ChangesPath, methods{http.MethodPost: s.requestChanges})
	r.Handle(ResubmitPath, methods{http.MethodPost: s.resubmit})
	r.Handle(AuditPath, methods{http.MethodGet: s.auditTrail})
	r.Handle(AuditExportPath, methods{http.MethodGet: s.auditExport})
	r.Handle(DelegationsPath, methods{http.MethodPost: s.delegate, http.MethodGet: s.delegations})
	r.Handle(DelegationPath, methods{http.MethodDelete: s.revoke})
	r.Handle(AwayPath, methods{http.MethodGet: s.people(s.away), http.MethodPost: s.people(s.awayPost)})
	r.Handle(ReviewPath, methods{http.MethodGet: s.people(s.inbox), http.MethodPost: s.people(s.inboxDecide)})
	r.Handle(ReviewPagePath, methods{http.MethodGet: s.people(s.review), http.MethodPost: s.people(s.reviewDecide)})
	r.Handle(AssetPath, methods{http.MethodGet: serveAsset})
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, problem{Status: http.StatusNotFound, Detail: "no route for " + r.URL.Path})
	})
	return compress.Handler(s.logRequests(s.refuseMisdirected(s.refuseCrossSite(commonHeaders(s.withInbox(r))))))
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

// withQuery adds one parameter to a URL that may already have a query.
func withQuery(link, name, value string) string {
	sep := "?"
	if strings.Contains(link, "?") {
		sep = "&"
	}
	return link + sep + url.Values{name: {value}}.Encode()
}

// schedulerFailed logs a failed call and returns the 503 that says to
// retry.
func (s *server) schedulerFailed(w http.ResponseWriter, r *http.Request, what string, err error) *problem {
	s.log.Error(what+" failed", "path", r.URL.Path, "err", err)
	w.Header().Set("Retry-After", "5")
	return &problem{Status: http.StatusServiceUnavailable,
		Detail: "the scheduler could not be reached or did not answer in time; retry the same request, which is safe to repeat"}
}

// listFailed is the problem with a listing the scheduler did not give: a
// continuation it does not accept (a gRPC InvalidArgument) is the
// client's to drop, as refused tells it; anything else is the scheduler
// failing at what.
func (s *server) listFailed(w http.ResponseWriter, r *http.Request, what string, err error, refused string) *problem {
	if status.Code(err) == codes.InvalidArgument {
		return badRequest("continuation", refused)
	}
	return s.schedulerFailed(w, r, what, err)
}
