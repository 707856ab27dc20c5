package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/microsoft/durabletask-go/api"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/dts/mgmt"
)

// Inbox paging. A page holds at most MaxPageSize approvals. The approver
// filter needs each request's input, which the scheduler cannot filter on,
// so the handler reads scheduler pages (newest first, with inputs) and
// keeps the matching approvals until the page is full. The first
// scheduler page is the size of the answer's, and each further one twice
// the last, so that a filter most approvals match reads little more than
// it shows and a rare one gets through the instances in few calls. One
// answer reads at most maxScan instances (each costs some 40 µs on the
// embedded scheduler), and then answers the approvals found so far with a
// next link: a rare match among very many approvals costs several quick
// answers rather than one slow one.
const (
	DefaultPageSize = 50
	MaxPageSize     = 200
	maxScan         = 500
)

var listParams = []string{"approver", "code", "continuation", "page_size", "status"}

// inboxQuery is what a list asks for.
type inboxQuery struct {
	// statuses keeps approvals in any of them; none keeps all.
	statuses []approval.Status
	// approver keeps the approvals that person may decide: named among
	// the approvers (escalation included), or, when a request names none,
	// anyone but its requester; of those pending, the ones they have not
	// decided yet, and those sent back to them for changes.
	approver string
	// groups are the approver groups approver holds.
	groups []string
	// delegators are the chains by which approver may decide for
	// others now (see delegatedTo).
	delegators [][]approval.Delegation
	size       int
	cursor     listCursor
}

func (q inboxQuery) match(st approval.State) bool {
	if len(q.statuses) > 0 && !slices.Contains(q.statuses, st.Status) {
		return false
	}
	switch {
	case q.approver == "":
		return true
	case st.Pending():
		// What waits for them: not what they decided already.
		return st.Check(approval.Attempt{Who: q.approver, Groups: q.groups}) == nil || q.actingFor(st) != "" ||
			st.Check(approval.Attempt{Who: q.approver, Action: approval.ActionResubmit}) == nil
	}
	return st.Entitled(q.approver, q.groups...) == nil
}

// filterKey identifies the filters, so that a continuation token is only
// used with the query that issued it.
func (q inboxQuery) filterKey() string {
	who, _ := approval.CanonicalName(q.approver)
	sum := sha256.Sum256(fmt.Appendf(nil, "%q %q", q.statuses, who))
	return hex.EncodeToString(sum[:8])
}

// runtimeStatuses are the scheduler statuses to ask for.
func (q inboxQuery) runtimeStatuses() []api.OrchestrationStatus {
	var out []api.OrchestrationStatus
	for _, s := range q.statuses {
		for _, rs := range s.RuntimeStatuses() {
			if !slices.Contains(out, rs) {
				out = append(out, rs)
			}
		}
	}
	return out
}

// listCursor is where a list continues: in the scheduler page that the
// scheduler token Token (none: the first) and Size select, after the
// approval After, which was the Skip'th instance in it. It is found by ID
// first, since instances created or removed since may have shifted it.
type listCursor struct {
	Token  string `json:"t,omitempty"`
	Size   int    `json:"s"`
	After  string `json:"a,omitempty"`
	Skip   int    `json:"n,omitempty"`
	Filter string `json:"f"`
}

func (c listCursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(token string) (listCursor, bool) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return listCursor{}, false
	}
	var c listCursor
	if json.Unmarshal(b, &c) != nil || c.Size < 1 || c.Size > MaxPageSize || c.Skip < 0 || c.Skip > MaxPageSize || c.Filter == "" {
		return listCursor{}, false
	}
	return c, true
}

// parseInbox reads a list's query string. me is who "approver=me" means,
// "" when no one is signed in.
func parseInbox(values url.Values, me string, meProblem *problem) (inboxQuery, *problem) {
	q := inboxQuery{size: DefaultPageSize}
	for name, vs := range values {
		if !slices.Contains(listParams, name) {
			return q, badRequest(shown(name), fmt.Sprintf("unknown filter %q; filters are approver, continuation, page_size and status", shown(name)))
		}
		if name != "status" && len(vs) > 1 {
			return q, badRequest(name, name+" is given more than once")
		}
	}
	for _, v := range values["status"] {
		for part := range strings.SplitSeq(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			st, ok := approval.ParseStatus(part)
			if !ok {
				return q, badRequest("status", fmt.Sprintf("status %q is not one of %s", shown(part), statusNames()))
			}
			if !slices.Contains(q.statuses, st) {
				q.statuses = append(q.statuses, st)
			}
		}
	}
	slices.Sort(q.statuses)
	if v := values.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			return q, badRequest("page_size", fmt.Sprintf("page_size must be a whole number from 1 to %d", MaxPageSize))
		}
		q.size = n
	}
	if v := strings.TrimSpace(values.Get("approver")); strings.EqualFold(v, "me") {
		if meProblem != nil {
			return q, meProblem
		}
		q.approver = me
	} else {
		if _, err := approval.CanonicalName(v); v != "" && err != nil {
			return q, badRequest("approver", "approver "+err.Error())
		}
		q.approver = v
	}
	q.cursor = listCursor{Size: q.size, Filter: q.filterKey()}
	if v := values.Get("continuation"); v != "" {
		c, ok := decodeCursor(v)
		if !ok {
			return q, badRequest("continuation", "continuation is not a token this API issued; use the next link of the previous page as it is")
		}
		if c.Filter != q.cursor.Filter {
			return q, badRequest("continuation", "continuation belongs to a list with other filters; keep the filters of the page that gave it")
		}
		q.cursor = c
	}
	return q, nil
}

func statusNames() string {
	names := make([]string, len(approval.Statuses))
	for i, s := range approval.Statuses {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// find reads the approvals q asks for, newest first, and where the list
// continues, nil at its end.
func (s *server) find(ctx context.Context, q inboxQuery) ([]approval.State, *listCursor, error) {
	var found []approval.State
	c := q.cursor
	scanned := 0
	for {
		page, err := s.orch.Query(ctx, mgmt.Query{Statuses: q.runtimeStatuses(), PageSize: c.Size,
			ContinuationToken: c.Token, FetchPayloads: true})
		if err != nil {
			return nil, nil, err
		}
		start := min(c.Skip, len(page.Instances))
		if c.After != "" {
			for i, in := range page.Instances {
				if string(in.InstanceID) == c.After {
					start = i + 1
					break
				}
			}
		}
		for i := start; i < len(page.Instances); i++ {
			in := page.Instances[i]
			scanned++
			if st, ok := approval.StateOf(&in.OrchestrationMetadata); ok && q.match(st) {
				found = append(found, st)
			}
			if len(found) < q.size && scanned < maxScan {
				continue
			}
			if i+1 < len(page.Instances) {
				return found, &listCursor{Token: c.Token, Size: c.Size, After: string(in.InstanceID), Skip: i + 1, Filter: c.Filter}, nil
			}
			if page.ContinuationToken == "" {
				return found, nil, nil
			}
			return found, &listCursor{Token: page.ContinuationToken, Size: min(2*c.Size, MaxPageSize), Filter: c.Filter}, nil
		}
		if page.ContinuationToken == "" {
			return found, nil, nil
		}
		c = listCursor{Token: page.ContinuationToken, Size: min(2*c.Size, MaxPageSize), Filter: c.Filter}
	}
}

// list answers GET /api/approvals: approvals by status and approver, as
// JSON, or as a page to a browser.
func (s *server) list(w http.ResponseWriter, r *http.Request) {
	me, meProblem := s.me(r)
	q, p := parseInbox(r.URL.Query(), me, meProblem)
	if p != nil {
		writeProblem(w, r, *p)
		return
	}
	s.answerList(w, r, q, inboxModel{Route: ApprovalsPath, AskName: true})
}

// inbox answers GET /api/review: the approvals waiting for the person
// looking, as a page. Signed in, that is whoever App Service
// Authentication says; in development (body identity, no link key) the
// page asks for a name; with a link key and no sign-in it cannot know.
func (s *server) inbox(w http.ResponseWriter, r *http.Request) {
	values := r.URL.Query()
	if _, ok := values["status"]; !ok {
		values.Set("status", string(approval.StatusPending))
	}
	// select=all ticks every row of the bulk form: "select all" as a
	// link, which needs no script.
	model := inboxModel{Route: ReviewPath, SelectAll: values.Get("select") == "all"}
	values.Del("select")
	var me string
	var meProblem *problem
	switch {
	case s.appService():
		who, p := s.principal(r)
		if p != nil {
			writeProblem(w, r, *p)
			return
		}
		me = who.name
		if v := values.Get("approver"); v != "" && !strings.EqualFold(v, "me") && !approval.SamePerson(v, me) {
			writeProblem(w, r, problem{Status: http.StatusForbidden, Field: "approver", Reason: "not_your_inbox",
				Detail: "this inbox shows your own approvals; other people's are listed on " + ApprovalsPath})
			return
		}
		values.Set("approver", me)
	case s.opts.Links != nil:
		writeProblem(w, r, noInbox)
		return
	default:
		model.AskName = true
		// No one is signed in, so there is no "me".
		_, meProblem = s.me(r)
	}
	q, p := parseInbox(values, me, meProblem)
	if p != nil {
		writeProblem(w, r, *p)
		return
	}
	s.answerList(w, r, q, model)
}

// noInbox refuses the inbox with signed links and no sign-in.
var noInbox = problem{Status: http.StatusForbidden, Reason: "sign_in_required",
	Detail: "there is no inbox here, because this site cannot tell who you are without sign-in; open each request from the link you were sent"}

// me is who "approver=me" means: the signed-in principal.
func (s *server) me(r *http.Request) (string, *problem) {
	if !s.appService() {
		return "", badRequest("approver", "approver=me needs a verified identity (APPROVALS_IDENTITY=appservice); name the approver instead")
	}
	who, p := s.principal(r)
	return who.name, p
}

func (s *server) answerList(w http.ResponseWriter, r *http.Request, q inboxQuery, model inboxModel) {
	q.groups = s.viewerGroups(r, q.approver)
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.CallTimeout)
	defer cancel()
	if err := s.delegatedTo(ctx, &q); err != nil {
		writeProblem(w, r, *s.schedulerFailed(w, r, "read delegations", err))
		return
	}
	found, next, err := s.find(ctx, q)
	if err != nil {
		writeProblem(w, r, *s.listFailed(w, r, "list approvals", err, "continuation is no longer valid; start the list again"))
		return
	}
	base, keepKey := s.base(r)
	var nextURL string
	if next != nil {
		v := url.Values{}
		for _, st := range q.statuses {
			v.Add("status", string(st))
		}
		if q.approver != "" {
			v.Set("approver", q.approver)
		}
		if q.size != DefaultPageSize {
			v.Set("page_size", strconv.Itoa(q.size))
		}
		if code := r.URL.Query().Get("code"); code != "" && keepKey {
			v.Set("code", code)
		}
		v.Set("continuation", next.encode())
		nextURL = base + model.Route + "?" + v.Encode()
	}
	if !wantsHTML(r) {
		views := make([]approvalView, len(found))
		for i, st := range found {
			views[i] = s.view(r, st)
		}
		writeJSON(w, http.StatusOK, struct {
			Approvals []approvalView `json:"approvals"`
			Next      string         `json:"next,omitempty"`
		}{views, nextURL})
		return
	}
	model.Next, model.Approver, model.Statuses = nextURL, q.approver, approval.Statuses
	if len(q.statuses) == 1 {
		model.Status = q.statuses[0]
	}
	for _, st := range found {
		model.Rows = append(model.Rows, inboxRow{St: st, Link: approval.ReviewURL("", st.ID), ActingFor: q.actingFor(st)})
	}
	if model.Route == ReviewPath && model.Status == approval.StatusPending && q.approver != "" {
		model.Bulk = true
		v := url.Values{"status": {string(approval.StatusPending)}, "approver": {q.approver}}
		model.ClearURL = ReviewPath + "?" + v.Encode()
		v.Set("select", "all")
		model.SelectURL = ReviewPath + "?" + v.Encode()
	}
	s.render(w, r, http.StatusOK, "inbox", frame{SignedIn: s.pageIdentity(r), Inbox: inboxOf(r), Now: time.Now(), Page: model})
}

// inboxModel is the inbox page's content.
type inboxModel struct {
	// Route is where the filter form submits.
	Route string
	// AskName shows the approver filter as a field.
	AskName  bool
	Approver string
	// Status is the one status shown, "" for several or all.
	Status   approval.Status
	Statuses []approval.Status
	Rows     []inboxRow
	Next     string
	// Bulk lets the viewer tick rows and decide them in one action: the
	// approvals waiting for them, on the review inbox. The form decides
	// as Approver.
	Bulk bool
	// SelectAll ticks every row; SelectURL and ClearURL show the page
	// with every row ticked or none.
	SelectAll           bool
	SelectURL, ClearURL string
	// Results are what became of the decisions just taken in bulk.
	Results []bulkRow
}

type inboxRow struct {
	St approval.State
	// Link is the approval's review page.
	Link string
	// ActingFor is whom the viewer decides it for, by delegation.
	ActingFor string
}
