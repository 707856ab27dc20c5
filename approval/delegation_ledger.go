package approval

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/microsoft/durabletask-go/api"
	"github.com/microsoft/durabletask-go/task"
)

// A person's delegations are kept by an orchestration of their own, one
// per delegator, rather than in a table of ours: the scheduler is the one
// store every backend (the embedded scheduler, durabletask-go's SQLite
// backend, the Durable Task Scheduler in Azure) has, and the handler and
// the worker both already reach it. The orchestration publishes the
// delegations as its custom status, which anyone with the instance ID
// reads, and takes one change per execution, continuing as new after
// each so its history stays a few events long however often it changes.
// It is an instance apart from every approval, so no approval's history
// changes.

// Ledger is one person's delegations: the orchestration's input and its
// published status.
type Ledger struct {
	Delegator string `json:"delegator"`
	// Delegations are the ones this person gave: the record the rules
	// read when someone decides for them.
	Delegations []Delegation `json:"delegations"`
	// Received are the ones others gave this person, a copy their
	// handler sends after the delegator's own ledger took the change:
	// what lets a person list what they received, and a new delegation
	// see the chain behind its delegator, without a query across
	// instances, which not every backend serves.
	Received []Delegation `json:"received,omitempty"`
	// Refused are the last changes the orchestration refused, newest
	// last: the handler checks a change before sending it, so one is
	// refused only when another change raced it.
	Refused []RefusedDelegation `json:"refused,omitempty"`
}

// RefusedDelegation is a change a ledger refused, and why.
type RefusedDelegation struct {
	ID     string `json:"id"`
	Detail string `json:"detail"`
}

// The changes a DelegationEvent asks for: set and revoke on the
// delegator's ledger, receive and forget on the delegate's copy.
const (
	DelegationSet     = "set"
	DelegationRevoke  = "revoke"
	DelegationReceive = "receive"
	DelegationForget  = "forget"
)

// DelegationEvent is the payload of the delegation event: a delegation to
// add (set, receive), or the ID of one to remove (revoke, forget).
type DelegationEvent struct {
	Action     string      `json:"action"`
	Delegation *Delegation `json:"delegation,omitempty"`
	ID         string      `json:"id,omitempty"`
}

// maxLedgerRefusals bounds the refusals a ledger keeps.
const maxLedgerRefusals = 10

// Find returns the delegation id, if the ledger holds it.
func (l Ledger) Find(id string) (Delegation, bool) {
	for _, d := range l.Delegations {
		if d.ID == id {
			return d, true
		}
	}
	return Delegation{}, false
}

// RefusalOf returns why the ledger refused the change id, if it did.
func (l Ledger) RefusalOf(id string) (string, bool) {
	for _, r := range l.Refused {
		if r.ID == id {
			return r.Detail, true
		}
	}
	return "", false
}

// apply makes one change at now, re-checking what the ledger alone can:
// the delegation is its delegator's and valid on its own, and the
// delegator stays within MaxDelegations. Cycles and chains span other
// people's ledgers, which the handler reads and this cannot.
func (l *Ledger) apply(ev DelegationEvent, now time.Time) error {
	switch ev.Action {
	case DelegationRevoke:
		l.Delegations = without(l.Delegations, ev.ID)
		return nil
	case DelegationForget:
		l.Received = without(l.Received, ev.ID)
		return nil
	case DelegationReceive:
		d := ev.Delegation
		if d == nil || d.ID == "" || !SamePerson(d.To, l.Delegator) {
			return fmt.Errorf("a receive names no delegation to this person")
		}
		if l.HasReceived(d.ID) {
			return nil
		}
		l.Received = append(l.Received, *d)
		return nil
	case DelegationSet:
		d := ev.Delegation
		if d == nil || d.ID == "" {
			return fmt.Errorf("a set names no delegation")
		}
		if _, ok := l.Find(d.ID); ok {
			return nil // a retry of a change already made
		}
		if !SamePerson(d.Delegator, l.Delegator) {
			return fmt.Errorf("the delegation is not this person's")
		}
		req := DelegationRequest{To: d.To, From: FormatTime(d.From), Until: FormatTime(d.Until), Note: d.Note}
		checked, err := req.Delegation(d.ID, d.Delegator, now)
		if err != nil {
			return err
		}
		checked.CreatedAt = d.CreatedAt
		if err := CheckDelegation(DelegationList(l.Delegations), checked); err != nil {
			return err
		}
		l.Delegations = append(l.Delegations, checked)
		return nil
	}
	return fmt.Errorf("the action %q is none of %q, %q, %q and %q", shorten(ev.Action), DelegationSet, DelegationRevoke, DelegationReceive, DelegationForget)
}

// HasReceived reports whether the ledger holds a copy of the delegation
// id, given to this person.
func (l Ledger) HasReceived(id string) bool {
	for _, d := range l.Received {
		if d.ID == id {
			return true
		}
	}
	return false
}

// without is ds without the delegation id, which may be absent (removed
// already, or ended).
func without(ds []Delegation, id string) []Delegation {
	for i, d := range ds {
		if d.ID == id {
			return append(ds[:i:i], ds[i+1:]...)
		}
	}
	return ds
}

// Live is the ledger as of now: without the delegations that have ended,
// which a ledger drops only when it next changes.
func (l Ledger) Live(now time.Time) Ledger {
	l.prune(now)
	return l
}

// prune drops the delegations that have ended by now.
func (l *Ledger) prune(now time.Time) {
	l.Delegations, l.Received = current(l.Delegations, now), current(l.Received, now)
}

func current(ds []Delegation, now time.Time) []Delegation {
	var kept []Delegation
	for _, d := range ds {
		if d.Until.After(now) {
			kept = append(kept, d)
		}
	}
	return kept
}

// Delegations is the orchestration that keeps one person's delegations:
// it publishes them, waits for one change, applies it and continues as
// new with the result, keeping any change that arrived meanwhile.
func Delegations(ctx *task.OrchestrationContext) (any, error) {
	var l Ledger
	if err := ctx.GetInput(&l); err != nil {
		return nil, fmt.Errorf("read delegations: %w", err)
	}
	l.prune(ctx.CurrentTimeUtc)
	if err := l.publish(ctx); err != nil {
		return nil, err
	}
	var raw json.RawMessage
	if err := ctx.WaitForSingleEvent(DelegationEventName, -1).Await(&raw); err != nil {
		return nil, fmt.Errorf("wait for a delegation change: %w", err)
	}
	var ev DelegationEvent
	err := json.Unmarshal(raw, &ev)
	if err == nil {
		err = l.apply(ev, ctx.CurrentTimeUtc)
	}
	if err != nil {
		id := ev.ID
		if ev.Delegation != nil {
			id = ev.Delegation.ID
		}
		l.Refused = append(l.Refused, RefusedDelegation{ID: shorten(id), Detail: err.Error()})
		if n := len(l.Refused); n > maxLedgerRefusals {
			l.Refused = append([]RefusedDelegation(nil), l.Refused[n-maxLedgerRefusals:]...)
		}
	}
	if err := l.publish(ctx); err != nil {
		return nil, err
	}
	ctx.ContinueAsNew(l, task.WithKeepUnprocessedEvents())
	return nil, nil
}

func (l Ledger) publish(ctx *task.OrchestrationContext) error {
	status, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("encode delegations: %w", err)
	}
	ctx.SetCustomStatus(string(status))
	return nil
}

// LedgerOf reads the delegations an instance keeps: false when it is not
// a delegations orchestration.
func LedgerOf(md *api.OrchestrationMetadata) (Ledger, bool) {
	if md == nil || md.Name != DelegationsOrchestratorName {
		return Ledger{}, false
	}
	var l Ledger
	if json.Unmarshal([]byte(md.SerializedCustomStatus), &l) == nil && l.Delegator != "" {
		return l, true
	}
	// Not run yet: its input is all it holds.
	if json.Unmarshal([]byte(md.SerializedInput), &l) == nil {
		return l, true
	}
	return Ledger{}, false
}

// RegisterDelegations adds the delegations orchestration to r.
func RegisterDelegations(r *task.TaskRegistry) error {
	if err := r.AddOrchestratorN(DelegationsOrchestratorName, Delegations); err != nil {
		return fmt.Errorf("register %s: %w", DelegationsOrchestratorName, err)
	}
	return nil
}
