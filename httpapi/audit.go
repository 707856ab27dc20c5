package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/microsoft/durabletask-go/api"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/audit"
	"github.com/approvals-go/approvals/dts/mgmt"
)

// The audit routes: an approval's sealed trail, and the trails of the
// approvals that ended in a period, as JSON lines. Both are machine routes
// (a function key in Azure): an audit shows every decider's name and
// comments.
const (
	AuditPath       = ApprovalPath + "/audit"
	AuditExportPath = "/api/audit"
)

// MaxAuditPage bounds how many approvals one page of the export reads:
// each is one more call to the scheduler.
const MaxAuditPage = 100

// Ended is what the audit export needs from the scheduler besides
// Orchestrations: the IDs of the instances that finished in a period, in
// the order they finished (ListInstanceIds). Scheduler implements it.
type Ended interface {
	Ended(ctx context.Context, q mgmt.IDQuery) (mgmt.IDPage, error)
}

// Ended implements Ended.
func (s Scheduler) Ended(ctx context.Context, q mgmt.IDQuery) (mgmt.IDPage, error) {
	if s.Management == nil {
		return mgmt.IDPage{}, errors.New("list ended approvals: no management client")
	}
	page, err := s.Management.ListInstanceIDs(ctx, q)
	if err != nil {
		return mgmt.IDPage{}, fmt.Errorf("list ended approvals: %w", err)
	}
	return page, nil
}

// machineChannel is how a decision on a machine route reached the API and
// how its sender was known: signed in when App Service Authentication
// says who they are; otherwise only the function key the Functions host
// checked stands behind the name in the body, and without the host (no
// FunctionKeys) nothing does.
func (s *server) machineChannel(r *http.Request) (approval.Channel, approval.Auth) {
	channel := approval.ChannelAPI
	if wantsHTML(r) {
		channel = approval.ChannelPage
	}
	switch {
	case s.appService():
		return channel, approval.AuthSignIn
	case s.opts.FunctionKeys:
		return channel, approval.AuthFunctionKey
	}
	return channel, approval.AuthDevelopment
}

// pageAuth is how the review page knew who decided: sign-in first, which
// a signed link may accompany but cannot override, then the link, then
// only the name typed in.
func (s *server) pageAuth(form pageForm) approval.Auth {
	switch {
	case s.appService():
		return approval.AuthSignIn
	case form.token != "":
		return approval.AuthSignedLink
	}
	return approval.AuthDevelopment
}

// auditOff is the answer of the audit routes with no audit key.
var auditOff = problem{Status: http.StatusNotImplemented, Reason: "audit_not_configured",
	Detail: "audit trails are not served here: no audit key is configured (APPROVALS_AUDIT_KEY)"}

// auditTrail answers GET /api/approvals/{id}/audit: the approval's sealed
// trail, one line as `audit verify` reads it, once it has ended; 409 while
// it is pending, since a seal covers the whole story or none.
func (s *server) auditTrail(w http.ResponseWriter, r *http.Request) {
	if s.opts.Audit == nil {
		writeProblem(w, r, auditOff)
		return
	}
	st, ok := s.lookup(w, r, mux.Vars(r)["id"])
	if !ok {
		return
	}
	trail, err := s.opts.Audit.Trail(st)
	if errors.Is(err, audit.ErrPending) {
		links := s.links(r, st.ID)
		writeProblem(w, r, problem{Status: http.StatusConflict, ID: st.ID, ApprovalStatus: string(st.Status), Reason: "pending",
			Detail: fmt.Sprintf("approval %q is still pending: its audit trail is sealed when it ends; its status is at %s", st.ID, links.status)})
		return
	}
	// One line, not indented as the other answers are, so that the answer
	// is itself a file `audit verify` reads.
	line, err := json.Marshal(trail)
	if err != nil {
		writeProblem(w, r, problem{Status: http.StatusInternalServerError, Detail: "encode the audit trail: " + err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(append(line, '\n'))
}

// auditQuery is what one page of the export asks for.
type auditQuery struct {
	from, to     time.Time
	limit        int
	continuation string
}

func parseAuditQuery(values url.Values, now time.Time) (auditQuery, *problem) {
	q := auditQuery{to: now, limit: MaxAuditPage, continuation: values.Get("continuation")}
	from := values.Get("from")
	if from == "" {
		return q, badRequest("from", "from is required: the start of the period (RFC 3339, inclusive) in which the approvals ended")
	}
	var err error
	if q.from, err = time.Parse(time.RFC3339Nano, from); err != nil {
		return q, badRequest("from", "from must be a time in RFC 3339, such as 2026-12-01T00:00:00Z")
	}
	if to := values.Get("to"); to != "" {
		if q.to, err = time.Parse(time.RFC3339Nano, to); err != nil {
			return q, badRequest("to", "to must be a time in RFC 3339, such as 2026-12-02T00:00:00Z")
		}
	}
	if !q.from.Before(q.to) {
		return q, badRequest("to", "to must come after from: the period is [from, to)")
	}
	if l := values.Get("limit"); l != "" {
		if q.limit, err = strconv.Atoi(l); err != nil || q.limit < 1 || q.limit > MaxAuditPage {
			return q, badRequest("limit", fmt.Sprintf("limit must be a whole number from 1 to %d", MaxAuditPage))
		}
	}
	return q, nil
}

// auditExport answers GET /api/audit?from=&to=: the sealed trails of the
// approvals that ended in [from, to), one a line in the order they ended,
// as `audit verify` reads them. A page reads at most limit instances; a
// Link header (rel="next") continues while there may be more. to
// defaults to now, which a later page keeps, so that the pages of one
// export cover one period.
func (s *server) auditExport(w http.ResponseWriter, r *http.Request) {
	if s.opts.Audit == nil {
		writeProblem(w, r, auditOff)
		return
	}
	lister, ok := s.orch.(Ended)
	if !ok {
		writeProblem(w, r, problem{Status: http.StatusNotImplemented, Detail: "this scheduler client cannot list ended approvals"})
		return
	}
	q, p := parseAuditQuery(r.URL.Query(), time.Now())
	if p != nil {
		writeProblem(w, r, *p)
		return
	}
	page, err := s.listEnded(r.Context(), lister, mgmt.IDQuery{Statuses: []api.OrchestrationStatus{api.RUNTIME_STATUS_COMPLETED,
		api.RUNTIME_STATUS_FAILED, api.RUNTIME_STATUS_TERMINATED}, CompletedFrom: q.from, CompletedTo: q.to,
		PageSize: q.limit, LastInstanceKey: q.continuation})
	if err != nil {
		writeProblem(w, r, *s.listFailed(w, r, "list ended approvals", err, "continuation is not one this export returned: start again from the first page"))
		return
	}
	var body bytes.Buffer
	for _, id := range page.IDs {
		md, err := s.readOne(r.Context(), string(id))
		if errors.Is(err, ErrNotFound) {
			continue // purged since it was listed
		}
		if err != nil {
			writeProblem(w, r, *s.schedulerFailed(w, r, "read approval", err))
			return
		}
		st, ok := approval.StateOf(md)
		if !ok {
			continue // a callback's orchestration, not an approval
		}
		trail, err := s.opts.Audit.Trail(st)
		if err != nil {
			continue // not ended after all: exported once it has
		}
		line, err := json.Marshal(trail)
		if err != nil {
			writeProblem(w, r, problem{Status: http.StatusInternalServerError, Detail: "encode an audit trail: " + err.Error()})
			return
		}
		body.Write(append(line, '\n'))
	}
	if page.LastInstanceKey != "" {
		// A function key given as ?code= goes with the next link, as with
		// an approval's links (see links), and on the same terms.
		base, keepKey := s.base(r)
		next := url.Values{"from": {approval.FormatTime(q.from)}, "to": {approval.FormatTime(q.to)},
			"limit": {strconv.Itoa(q.limit)}, "continuation": {page.LastInstanceKey}}
		if code := r.URL.Query().Get("code"); code != "" && keepKey {
			next.Set("code", code)
		}
		w.Header().Set("Link", fmt.Sprintf("<%s%s?%s>; rel=\"next\"", base, AuditExportPath, next.Encode()))
	}
	w.Header().Set("Content-Type", "application/jsonl; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(body.Bytes())
}

// listEnded and readOne are one call each to the scheduler, each with its own
// bound, so that a page of many approvals is not cut short by one.
func (s *server) listEnded(ctx context.Context, lister Ended, q mgmt.IDQuery) (mgmt.IDPage, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.CallTimeout)
	defer cancel()
	return lister.Ended(ctx, q)
}

func (s *server) readOne(ctx context.Context, id string) (*api.OrchestrationMetadata, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.CallTimeout)
	defer cancel()
	return s.orch.Get(ctx, id)
}
