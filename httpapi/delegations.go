package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/approvals-go/approvals/approval"
)

// Delegation over HTTP: a person gives, lists and revokes delegations of
// their approvals, and a decision from someone who is not an approver is
// looked up among them. The rules are approval's (DelegationRequest,
// CheckDelegation, Standing.ActingFor and Check); this file reads the
// ledgers they need and answers.

// Paths of the delegation routes.
const (
	DelegationsPath = "/api/delegations"
	DelegationPath  = DelegationsPath + "/{id}"
)

// DelegationStore is where people's delegations are kept (see
// internal/delegations).
type DelegationStore interface {
	Ledger(ctx context.Context, person string) (approval.Ledger, error)
	// Send asks person's ledger for a change, which it applies a moment
	// later.
	Send(ctx context.Context, person string, ev approval.DelegationEvent) error
	// Source reads delegations for the rules within ctx.
	Source(ctx context.Context) approval.DelegationSource
}

// delegationsView is what GET /api/delegations answers: the delegations
// the person gave and received that have not ended.
type delegationsView struct {
	Person   string                `json:"person"`
	Given    []approval.Delegation `json:"given"`
	Received []approval.Delegation `json:"received"`
}

// caller is who asks on a delegation route without a body: the name in
// the query's person, or the signed-in principal, whom it may not
// contradict.
func (s *server) caller(r *http.Request) (person, *problem) {
	return s.verified(r, r.URL.Query().Get("person"), "person")
}

// delegationStore answers 501 when the API was built without a store (a
// test's fake scheduler).
func (s *server) delegationStore(w http.ResponseWriter, r *http.Request) (DelegationStore, bool) {
	if s.opts.Delegations == nil {
		writeProblem(w, r, problem{Status: http.StatusNotImplemented, Detail: "this API keeps no delegations"})
		return nil, false
	}
	return s.opts.Delegations, true
}

// callerStore is the store and the caller of a delegation route without
// a body; false once the problem is answered.
func (s *server) callerStore(w http.ResponseWriter, r *http.Request) (DelegationStore, person, bool) {
	store, ok := s.delegationStore(w, r)
	if !ok {
		return nil, person{}, false
	}
	who, p := s.caller(r)
	if p != nil {
		writeProblem(w, r, *p)
		return nil, person{}, false
	}
	return store, who, true
}

// delegate gives a delegation from the verified caller. Its answer says
// what became of it: 201 once the delegator's ledger holds it, 409 when
// the ledger refused it (another change raced this one), 202 while it is
// not known yet.
func (s *server) delegate(w http.ResponseWriter, r *http.Request) {
	store, ok := s.delegationStore(w, r)
	if !ok {
		return
	}
	var body approval.DelegationRequest
	p := readBody(w, r, &body)
	who, ok := s.sender(w, r, p, body.Delegator, "delegator")
	if !ok {
		return
	}
	d, code, p := s.give(w, r, store, who, body)
	if p != nil {
		writeProblem(w, r, *p)
		return
	}
	// Location names the delegation once it is kept. A 202 has none: the
	// Durable Functions async style it resembles tells clients (Logic
	// Apps among them) to poll a 202's Location, and this one answers
	// only DELETE.
	if code == http.StatusCreated {
		base, _ := s.base(r)
		w.Header().Set("Location", base+DelegationsPath+"/"+url.PathEscape(d.ID))
	}
	writeJSON(w, code, d)
}

// give checks body as a delegation from who and sends it to who's
// ledger: 201 once the ledger holds it, 202 while that is not known, or
// the problem that refused it.
func (s *server) give(w http.ResponseWriter, r *http.Request, store DelegationStore, who person, body approval.DelegationRequest) (approval.Delegation, int, *problem) {
	d, err := body.Delegation(uuid.NewString(), who.name, time.Now())
	if err != nil {
		return d, 0, fieldProblem(err)
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.CallTimeout)
	defer cancel()
	if err := approval.CheckDelegation(store.Source(ctx), d); err != nil {
		if _, isField := approval.AsFieldError(err); isField {
			p := fieldProblem(err)
			p.Status = http.StatusConflict
			return d, 0, p
		}
		return d, 0, s.schedulerFailed(w, r, "read delegations", err)
	}
	if err := store.Send(ctx, d.Delegator, approval.DelegationEvent{Action: approval.DelegationSet, Delegation: &d}); err != nil {
		return d, 0, s.schedulerFailed(w, r, "send delegation", err)
	}
	l, settled := s.awaitLedger(r, store, d.Delegator, func(l approval.Ledger) bool {
		_, held := l.Find(d.ID)
		_, refused := l.RefusalOf(d.ID)
		return held || refused
	})
	if detail, refused := l.RefusalOf(d.ID); refused {
		return d, 0, &problem{Status: http.StatusConflict, Field: "to", Detail: "the delegation was refused: " + detail}
	}
	if !settled {
		return d, http.StatusAccepted, nil
	}
	// The delegate's copy follows the record, awaited so that the
	// delegate's list shows it once this is answered; if it is lost,
	// the delegation still holds, and only that list misses it.
	if err := store.Send(ctx, d.To, approval.DelegationEvent{Action: approval.DelegationReceive, Delegation: &d}); err != nil {
		s.log.Warn("the delegate's copy of a delegation was not sent", "id", d.ID, "err", err)
	} else if _, copied := s.awaitLedger(r, store, d.To, func(l approval.Ledger) bool { return l.HasReceived(d.ID) }); !copied {
		s.log.Warn("the delegate's copy of a delegation was not seen in time", "id", d.ID)
	}
	s.log.Info("delegation given", "id", d.ID, "delegator", d.Delegator, "to", d.To)
	return d, http.StatusCreated, nil
}

// awaitLedger reads person's ledger until done says it holds what was
// sent, for a bounded time, and reports whether it did.
func (s *server) awaitLedger(r *http.Request, store DelegationStore, person string, done func(approval.Ledger) bool) (approval.Ledger, bool) {
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.DecisionWait)
	defer cancel()
	var l approval.Ledger
	for delay := 5 * time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		if got, err := store.Ledger(ctx, person); err == nil {
			l = got
			if done(l) {
				return l, true
			}
		}
		select {
		case <-ctx.Done():
			return l, false
		case <-time.After(delay):
		}
	}
}

// delegations lists the caller's delegations, given and received, that
// have not ended.
func (s *server) delegations(w http.ResponseWriter, r *http.Request) {
	store, who, ok := s.callerStore(w, r)
	if !ok {
		return
	}
	live, p := s.liveLedger(w, r, store, who, time.Now())
	if p != nil {
		writeProblem(w, r, *p)
		return
	}
	writeJSON(w, http.StatusOK, delegationsView{Person: who.name, Given: listed(live.Delegations), Received: listed(live.Received)})
}

// liveLedger reads who's ledger within the call timeout, as of now: the
// delegations they gave and received that have not ended.
func (s *server) liveLedger(w http.ResponseWriter, r *http.Request, store DelegationStore, who person, now time.Time) (approval.Ledger, *problem) {
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.CallTimeout)
	defer cancel()
	l, err := store.Ledger(ctx, who.name)
	if err != nil {
		return l, s.schedulerFailed(w, r, "read delegations", err)
	}
	return l.Live(now), nil
}

// listed answers no delegations as an empty list, not null.
func listed(ds []approval.Delegation) []approval.Delegation {
	if ds == nil {
		return []approval.Delegation{}
	}
	return ds
}

// revoke ends one of the caller's delegations at once: only its delegator
// may. It answers 200 with the delegation once its ledger no longer holds
// it, 202 while that is not known yet.
func (s *server) revoke(w http.ResponseWriter, r *http.Request) {
	store, who, ok := s.callerStore(w, r)
	if !ok {
		return
	}
	d, code, p := s.takeBack(w, r, store, who, mux.Vars(r)["id"])
	if p != nil {
		writeProblem(w, r, *p)
		return
	}
	writeJSON(w, code, d)
}

// takeBack revokes who's delegation id: 200 once the ledger no longer
// holds it, 202 while that is not known, or the problem that refused it.
func (s *server) takeBack(w http.ResponseWriter, r *http.Request, store DelegationStore, who person, id string) (approval.Delegation, int, *problem) {
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.CallTimeout)
	defer cancel()
	l, err := store.Ledger(ctx, who.name)
	if err != nil {
		return approval.Delegation{}, 0, s.schedulerFailed(w, r, "read delegations", err)
	}
	d, held := l.Find(id)
	if !held {
		if l.HasReceived(id) {
			return d, 0, &problem{Status: http.StatusForbidden, Detail: "only the delegator may revoke a delegation"}
		}
		return d, 0, &problem{Status: http.StatusNotFound, Detail: fmt.Sprintf("%s has no delegation %q that has not ended", who.name, shown(id))}
	}
	if err := store.Send(ctx, d.Delegator, approval.DelegationEvent{Action: approval.DelegationRevoke, ID: id}); err != nil {
		return d, 0, s.schedulerFailed(w, r, "revoke delegation", err)
	}
	if _, settled := s.awaitLedger(r, store, d.Delegator, func(l approval.Ledger) bool { _, held := l.Find(id); return !held }); !settled {
		return d, http.StatusAccepted, nil
	}
	if err := store.Send(ctx, d.To, approval.DelegationEvent{Action: approval.DelegationForget, ID: id}); err != nil {
		s.log.Warn("the delegate's copy of a revoked delegation was not removed", "id", id, "err", err)
	} else if _, gone := s.awaitLedger(r, store, d.To, func(l approval.Ledger) bool { return !l.HasReceived(id) }); !gone {
		s.log.Warn("the delegate's copy of a revoked delegation was not seen removed in time", "id", id)
	}
	s.log.Info("delegation revoked", "id", id, "delegator", d.Delegator, "to", d.To)
	return d, http.StatusOK, nil
}

// actingFor makes d, a decision or a request for changes, one for the
// decider who delegated to its approver, when the approver is not a
// decider of st themselves and a delegation holding now (directly or
// through a chain) says so; the first such decider, in the order the
// request names them. A decision that needs none, or finds none, is d as
// it was, for Check to judge. A delegate who voted already is found by
// their vote, so that a retry is answered as the vote it repeats.
func (s *server) actingFor(w http.ResponseWriter, r *http.Request, st approval.State, d approval.Decision, now time.Time) (approval.Decision, *problem) {
	if s.opts.Delegations == nil || d.Action != "" && d.Action != approval.ActionRequestChanges || d.ActingFor != "" || d.Approver == nil {
		return d, nil
	}
	if v, voted := (approval.Tally{Votes: st.Progress.Decisions}).VoteOf(*d.Approver); voted && v.ActingFor != "" && approval.SamePerson(v.Approver, *d.Approver) {
		d.ActingFor = v.ActingFor
		return d, nil
	}
	acting, err := s.delegation(r, st, *d.Approver, d.Groups, now)
	if err != nil {
		return d, s.schedulerFailed(w, r, "read delegations", err)
	}
	if acting != nil {
		d.ActingFor = acting.For
	}
	return d, nil
}

// delegation is whom who, holding groups, may decide st for at now, by
// delegation: nil when who decides as themselves (a member of one of its
// groups included), or is refused for another reason than not being an
// approver, or when nobody delegated to them.
func (s *server) delegation(r *http.Request, st approval.State, who string, groups []string, now time.Time) (*approval.Acting, error) {
	if s.opts.Delegations == nil {
		return nil, nil
	}
	refusal, refused := approval.RefusalOf(st.Entitled(who, groups...))
	if !refused || refusal.Reason != approval.ReasonNotApprover {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.CallTimeout)
	defer cancel()
	acts, err := st.Standing().ActingFor(s.opts.Delegations.Source(ctx), who, now)
	if err != nil || len(acts) == 0 {
		return nil, err
	}
	return &acts[0], nil
}

// delegatedTo reads whom q's approver may decide for now, by delegation,
// so that their inbox lists those approvals too.
func (s *server) delegatedTo(ctx context.Context, q *inboxQuery) error {
	if s.opts.Delegations == nil || q.approver == "" {
		return nil
	}
	chains, err := approval.Delegators(s.opts.Delegations.Source(ctx), q.approver, time.Now())
	q.delegators = chains
	return err
}

// actingFor is whom q's approver may decide st for, by one of their
// delegations: "" for none (the rule is State.DecidesFor's).
func (q inboxQuery) actingFor(st approval.State) string {
	return st.DecidesFor(q.approver, q.groups, q.delegators)
}
