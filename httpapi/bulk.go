package httpapi

import (
	"errors"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/approvals-go/approvals/approval"
)

// Bulk decisions: several decisions by one person in one call, on the
// machine route (JSON) and from the inbox page's form. Each item is
// decided exactly as if it had been sent alone to the decision route, by
// judge: the same rules, the same delivery, the same wait for the
// outcome, and the same answer, per item. A retried call is as safe as a
// retried decision: the same decision by the same person answers 200
// again once it is the outcome. The idempotency keys add no memory of
// their own (the handler keeps none, and may run as many instances):
// they name each item in the answer, and a call that repeats one is
// refused, so a client always knows which answer is whose.

// BulkDecisionPath takes several decisions in one call. It lies under
// ApprovalPath's pattern, so its route is registered first and matches
// only POST; a GET of an approval whose id is "decisions" is still that
// approval.
const BulkDecisionPath = ApprovalsPath + "/decisions"

// bulkRoute is BulkDecisionPath as the router matches it, naming the id
// for GET.
const bulkRoute = ApprovalsPath + "/{id:decisions}"

// bulkInFlight bounds the items of one call decided at once. Each holds
// a scheduler call or a wait for an outcome; a call's items beyond it
// wait their turn, so that one call cannot take every connection the
// handler has to the scheduler.
const bulkInFlight = 8

// bulkItem is one decision of a bulk call.
type bulkItem struct {
	id, key string
	body    approval.DecisionRequest
}

// bulkResult is what became of an item.
type bulkResult struct {
	item bulkItem
	res  decided
	// retryAfter is the Retry-After judge asked for, if any.
	retryAfter string
}

// itemWriter stands for the response while judge decides an item: judge
// sets headers only (Retry-After), and the items of a call run at once,
// so each gets its own.
type itemWriter http.Header

func (w itemWriter) Header() http.Header { return http.Header(w) }

func (itemWriter) Write([]byte) (int, error) {
	return 0, errors.New("an item's answer is written with its call's")
}

func (itemWriter) WriteHeader(int) {}

// decideAll decides every item of body as who, whose sending auth
// vouched for, at most bulkInFlight at once, and returns what became of
// each, in the items' order. The items share one wait for outcomes,
// DecisionWait from the call's start, rather than one each: with no
// worker running, a hundred items would otherwise hold the call for over
// a minute. An item delivered after that is answered 202 at once, which
// is as true as after a wait: delivered, outcome not known.
func (s *server) decideAll(r *http.Request, who person, auth approval.Auth, body approval.BulkDecisionRequest) []bulkResult {
	deadline := time.Now().Add(s.opts.DecisionWait)
	out := make([]bulkResult, len(body.Items))
	slots := make(chan struct{}, bulkInFlight)
	var wg sync.WaitGroup
	for i, item := range body.Items {
		it := bulkItem{id: item.ID, key: item.IdempotencyKey, body: item.DecisionRequest(body.Approver)}
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() {
				<-slots
				wg.Done()
			}()
			out[i] = s.decideItem(r, who, auth, it, deadline)
		}()
	}
	wg.Wait()
	return out
}

// decideItem is one item through the decision route's path, waiting for
// its outcome until deadline at most.
func (s *server) decideItem(r *http.Request, who person, auth approval.Auth, it bulkItem, deadline time.Time) bulkResult {
	if p := validRequest(it.body); p != nil {
		return bulkResult{item: it, res: failed(p)}
	}
	d := s.withGroups(it.body.Decision(who.name, who.oid), who)
	d.Channel, d.Auth = approval.ChannelBulk, auth
	w := itemWriter{}
	within := *s
	within.opts.DecisionWait = max(time.Until(deadline), time.Millisecond)
	res := within.judge(w, r, it.id, d)
	return bulkResult{item: it, res: res, retryAfter: w.Header().Get("Retry-After")}
}

// bulkAnswer is an item's answer: the status and body the decision route
// would have answered it with, and its idempotency key.
type bulkAnswer struct {
	ID             string `json:"id"`
	IdempotencyKey string `json:"idempotency_key"`
	Status         int    `json:"status"`
	Body           any    `json:"body"`
}

// decideBulk answers POST /api/approvals/decisions: 200 with an answer
// per item when the call is well-formed and its sender known, else the
// problem with the call, and then nothing is decided.
func (s *server) decideBulk(w http.ResponseWriter, r *http.Request) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
		w.Header().Set("Accept-Post", "application/json")
		writeProblem(w, r, problem{Status: http.StatusUnsupportedMediaType,
			Detail: "several decisions are sent as JSON: {\"approver\", \"items\": [{\"id\", \"approved\", \"comments\", \"idempotency_key\"}]}"})
		return
	}
	var body approval.BulkDecisionRequest
	p := readValid(w, r, &body)
	who, ok := s.sender(w, r, p, body.Approver, "approver")
	if !ok {
		return
	}
	_, auth := s.machineChannel(r)
	results := s.decideAll(r, who, auth, body)
	answers := make([]bulkAnswer, len(results))
	for i, res := range results {
		answers[i] = s.bulkAnswer(r, res)
	}
	if after := retryAfter(results); after != "" {
		w.Header().Set("Retry-After", after)
	}
	s.log.Info("bulk decision", "approver", who.name, "items", len(body.Items), "answers", tally(results))
	writeJSON(w, http.StatusOK, struct {
		Approver string       `json:"approver"`
		Results  []bulkAnswer `json:"results"`
	}{who.name, answers})
}

// bulkAnswer is res as the decision route would have answered it.
func (s *server) bulkAnswer(r *http.Request, res bulkResult) bulkAnswer {
	a := bulkAnswer{ID: res.item.id, IdempotencyKey: res.item.key, Status: res.res.code}
	switch res.res.code {
	case http.StatusOK:
		a.Body = s.view(r, *res.res.st)
	case http.StatusAccepted:
		a.Body = s.acceptedView(r, res.res)
	default:
		p := *res.res.problem
		p.Type, p.Title = "about:blank", http.StatusText(p.Status)
		p.Instance = strings.Replace(DecisionPath, "{id}", res.item.id, 1)
		a.Body = p
	}
	return a
}

// retryAfter is the longest wait any item was told, "" for none.
func retryAfter(results []bulkResult) string {
	longest := 0
	for _, res := range results {
		if n, err := strconv.Atoi(res.retryAfter); err == nil && n > longest {
			longest = n
		}
	}
	if longest == 0 {
		return ""
	}
	return strconv.Itoa(longest)
}

// tally counts the items by answer, for the log: "200:3 409:1".
func tally(results []bulkResult) string {
	counts := map[int]int{}
	for _, res := range results {
		counts[res.res.code]++
	}
	codes := slices.Sorted(maps.Keys(counts))
	parts := make([]string, len(codes))
	for i, code := range codes {
		parts[i] = strconv.Itoa(code) + ":" + strconv.Itoa(counts[code])
	}
	return strings.Join(parts, " ")
}

// inboxBulkForm is the inbox's form: the requests ticked, one verdict and
// one comment for them all, and in development the name deciding.
type inboxBulkForm struct {
	IDs      []string `json:"id"`
	Approved *bool    `json:"approved"`
	Approver string   `json:"approver"`
	Comments string   `json:"comments"`
}

// bulkRow is what became of one request decided from the inbox, in a
// sentence.
type bulkRow struct {
	Item, Link string
	// Done says the decision took effect or was delivered; Mark says
	// which in a word.
	Done       bool
	Mark, Text string
}

// inboxDecide takes the inbox's form: each request ticked is decided as
// if from its own page, and the inbox then shows what became of each
// above what still waits. A post again (a reload) decides nothing new:
// each decision already taken answers as it did.
func (s *server) inboxDecide(w http.ResponseWriter, r *http.Request) {
	var form inboxBulkForm
	p := readBody(w, r, &form)
	var who person
	if p == nil {
		who, p = s.inboxDecider(r, form.Approver)
	}
	switch {
	case p != nil:
	case form.Approved == nil:
		p = badRequest("approved", "approved is required: choose Approve or Reject")
	case len(form.IDs) == 0:
		p = badRequest("id", "no request is selected: tick the requests to decide, then choose Approve or Reject")
	}
	body := approval.BulkDecisionRequest{Approver: form.Approver}
	for _, id := range form.IDs {
		// Each request is ticked once, so its id is its key.
		body.Items = append(body.Items, approval.BulkItem{ID: id, Approved: form.Approved, Comments: form.Comments, IdempotencyKey: id})
	}
	if p == nil {
		p = validRequest(body)
	}
	if p != nil {
		writeProblem(w, r, *p)
		return
	}
	// The inbox is a people's route, which no function key guards: only
	// sign-in, or nothing, stands behind its sender, as on a review page
	// opened without a signed link.
	results := s.decideAll(r, who, s.pageAuth(pageForm{}), body)
	s.log.Info("bulk decision from the inbox", "approver", who.name, "items", len(body.Items), "answers", tally(results))
	rows := make([]bulkRow, len(results))
	for i, res := range results {
		rows[i] = bulkRowOf(who, res)
	}
	q, p := parseInbox(url.Values{"status": {string(approval.StatusPending)}, "approver": {who.name}}, who.name, nil)
	if p != nil {
		writeProblem(w, r, *p)
		return
	}
	s.answerList(w, r, q, inboxModel{Route: ReviewPath, AskName: !s.appService(), Results: rows})
}

// inboxDecider is who decides from the inbox: as for its list, the
// signed-in person, or in development the name given; with signed links
// and no sign-in there is no inbox to decide from.
func (s *server) inboxDecider(r *http.Request, named string) (person, *problem) {
	if s.opts.Links != nil && !s.appService() {
		p := noInbox
		return person{}, &p
	}
	return s.verified(r, named, "approver")
}

// bulkRowOf says what became of an item, in the review page's words.
func bulkRowOf(who person, res bulkResult) bulkRow {
	row := bulkRow{Item: res.item.id, Link: approval.ReviewURL("", res.item.id)}
	st := res.res.st
	if st != nil {
		row.Item = st.Request.Item
	}
	row.Mark = "Not recorded"
	switch p := res.res.problem; {
	case res.res.code == http.StatusOK && st.Pending():
		row.Done, row.Mark, row.Text = true, "Recorded", "Your decision is recorded; the request waits for the others' decisions."
	case res.res.code == http.StatusOK:
		row.Done, row.Mark, row.Text = true, "Done", string(st.Status)+"."
	case res.res.code == http.StatusAccepted:
		row.Done, row.Mark, row.Text = true, "Delivered", "Your decision was delivered; its outcome is not recorded yet."
	case refusalStatus[approval.Reason(p.Reason)] != 0:
		row.Text = refusalText(who.name, approval.Reason(p.Reason))
	default:
		row.Text = p.Detail
	}
	return row
}

// Decided is how many of the bulk results took effect.
func (m inboxModel) Decided() int {
	n := 0
	for _, row := range m.Results {
		if row.Done {
			n++
		}
	}
	return n
}
