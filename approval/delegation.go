package approval

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"
)

// Delegation: a person hands their approvals to another for a while, and
// the other decides them as themselves, acting for the first. The rules of
// a delegation (who may be named, for how long, no cycles, short chains)
// and of deciding through one (Standing.Check with Attempt.ActingFor) live
// here; the HTTP API only reads the delegations and asks.

// Bounds of delegation.
const (
	// MaxDelegationSpan is the longest range one delegation covers: an
	// absence, not a standing transfer of someone's authority.
	MaxDelegationSpan = 366 * 24 * time.Hour
	// MaxDelegations is how many delegations one person may have given
	// that have not ended yet.
	MaxDelegations = 10
	// MaxDelegationHops bounds a chain: alice to bob to carol to dave is
	// three hops, and carol or dave may decide for alice; a fourth hop is
	// refused when it is made.
	MaxDelegationHops = 3
	// MaxNoteBytes bounds a delegation's note.
	MaxNoteBytes = 1000
)

// Delegation is one person's approvals handed to another for a range of
// time, from From (inclusive) until Until (exclusive).
type Delegation struct {
	ID        string    `json:"id"`
	Delegator string    `json:"delegator"`
	To        string    `json:"to"`
	From      time.Time `json:"from"`
	Until     time.Time `json:"until"`
	Note      string    `json:"note,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// ActiveAt reports whether the delegation holds at instant at.
func (d Delegation) ActiveAt(at time.Time) bool {
	return !at.Before(d.From) && at.Before(d.Until)
}

// overlaps reports whether d and o hold at some common instant.
func (d Delegation) overlaps(o Delegation) bool {
	return d.From.Before(o.Until) && o.From.Before(d.Until)
}

// DelegationRequest is a delegation as a person sends it. Who the
// delegator is, is the HTTP API's to verify, as it verifies a decision's
// approver: Delegator is only the name the body gives.
type DelegationRequest struct {
	Delegator string `json:"delegator"`
	To        string `json:"to"`
	From      string `json:"from"`
	Until     string `json:"until"`
	Note      string `json:"note"`
}

// Delegation checks the request on its own (the names, the range, the
// note) and makes it the delegation id from who, made at now. Whether it
// fits among the delegations already given is CheckDelegation's to say.
func (r DelegationRequest) Delegation(id, who string, now time.Time) (Delegation, error) {
	d := Delegation{ID: id, Delegator: who, To: r.To, Note: r.Note, CreatedAt: now.UTC()}
	if _, err := CanonicalName(r.To); err != nil {
		return d, &FieldError{Field: "to", Reason: err.Error()}
	}
	if SamePerson(r.To, who) {
		return d, &FieldError{Field: "to", Reason: "must name someone other than the delegator"}
	}
	var err error
	if d.From, err = time.Parse(time.RFC3339, r.From); err != nil {
		return d, &FieldError{Field: "from", Reason: "must be an RFC 3339 time such as 2026-07-01T00:00:00Z"}
	}
	if d.Until, err = time.Parse(time.RFC3339, r.Until); err != nil {
		return d, &FieldError{Field: "until", Reason: "must be an RFC 3339 time such as 2026-07-15T00:00:00Z"}
	}
	d.From, d.Until = d.From.UTC(), d.Until.UTC()
	switch {
	case !d.Until.After(d.From):
		return d, &FieldError{Field: "until", Reason: "must be after from"}
	case d.Until.Sub(d.From) > MaxDelegationSpan:
		return d, &FieldError{Field: "until", Reason: fmt.Sprintf("must be at most %d days after from", MaxDelegationSpan/(24*time.Hour))}
	case !d.Until.After(now):
		return d, &FieldError{Field: "until", Reason: "must be in the future: this delegation would never hold"}
	case d.From.Sub(now) > MaxDelegationSpan:
		// Planned leave is known months ahead, not centuries: a range far
		// off would hold one of the person's MaxDelegations for nothing.
		return d, &FieldError{Field: "from", Reason: fmt.Sprintf("must be at most %d days from now", MaxDelegationSpan/(24*time.Hour))}
	case len(r.Note) > MaxNoteBytes:
		return d, &FieldError{Field: "note", Reason: fmt.Sprintf("must be at most %d bytes", MaxNoteBytes)}
	}
	return d, nil
}

// DelegationSource is where the rules read delegations: the ones a person
// gave, and the ones they received. The HTTP API reads them from each
// person's ledger; a DelegationList holds them in memory.
type DelegationSource interface {
	Given(person string) ([]Delegation, error)
	Received(person string) ([]Delegation, error)
}

// DelegationList is a DelegationSource over delegations in memory.
type DelegationList []Delegation

// Given implements DelegationSource.
func (l DelegationList) Given(person string) ([]Delegation, error) {
	return l.filter(func(d Delegation) bool { return SamePerson(d.Delegator, person) }), nil
}

// Received implements DelegationSource.
func (l DelegationList) Received(person string) ([]Delegation, error) {
	return l.filter(func(d Delegation) bool { return SamePerson(d.To, person) }), nil
}

// filter is the delegations keep keeps, in l's order; nil when none.
func (l DelegationList) filter(keep func(Delegation) bool) []Delegation {
	var out []Delegation
	for _, d := range l {
		if keep(d) {
			out = append(out, d)
		}
	}
	return out
}

// CheckDelegation reports whether d may join the delegations src holds:
// its delegator has fewer than MaxDelegations that have not ended, and no
// cycle (alice to bob while bob to alice) and no chain longer than
// MaxDelegationHops forms among the delegations whose range overlaps d's.
// Overlap is judged pairwise, so a chain whose links never hold at one
// instant may be refused: refusing too much here only asks the delegator
// to pick other dates.
func CheckDelegation(src DelegationSource, d Delegation) error {
	given, err := src.Given(d.Delegator)
	if err != nil {
		return err
	}
	n := 0
	for _, o := range given {
		if o.ID != d.ID && o.Until.After(d.CreatedAt) {
			n++
		}
	}
	if n >= MaxDelegations {
		return &FieldError{Field: "to", Message: fmt.Sprintf("a person may have at most %d delegations that have not ended; revoke one first", MaxDelegations)}
	}
	ahead, cycle, err := reach(src.Given, d, d.To, d.Delegator, true, nil)
	if err != nil {
		return err
	}
	if cycle {
		return &FieldError{Field: "to", Reason: "already delegates, directly or through others, back to the delegator in this period: delegations may not form a cycle"}
	}
	behind, _, err := reach(src.Received, d, d.Delegator, "", false, nil)
	if err != nil {
		return err
	}
	if hops := behind + 1 + ahead; hops > MaxDelegationHops {
		return &FieldError{Field: "to", Message: fmt.Sprintf("this delegation would make a chain of %d hops in this period; chains are limited to %d", hops, MaxDelegationHops)}
	}
	return nil
}

// reach follows the delegations overlapping d from person, onwards to
// their delegates (forward) or back to their delegators, and returns the
// longest chain's hops and whether it meets target. It stops one hop past
// the bound, which is as far as CheckDelegation needs to see.
func reach(read func(string) ([]Delegation, error), d Delegation, person, target string, forward bool, seen []string) (int, bool, error) {
	if target != "" && SamePerson(person, target) {
		return 0, true, nil
	}
	if containsPerson(seen, person) || len(seen) > MaxDelegationHops {
		return 0, false, nil
	}
	seen = append(seen, person)
	links, err := read(person)
	if err != nil {
		return 0, false, err
	}
	best := 0
	for _, o := range links {
		if o.ID == d.ID || !o.overlaps(d) {
			continue
		}
		next := o.Delegator
		if forward {
			next = o.To
		}
		hops, met, err := reach(read, d, next, target, forward, seen)
		if err != nil || met {
			return 0, met, err
		}
		best = max(best, hops+1)
	}
	return best, false, nil
}

// Acting is a decider someone may decide for, by delegation, and the
// chain of delegations that leads from the decider to them.
type Acting struct {
	For   string
	Chain []Delegation
}

// Until is when the chain stops holding: its first link to end.
func (a Acting) Until() time.Time {
	var until time.Time
	for _, d := range a.Chain {
		if until.IsZero() || d.Until.Before(until) {
			until = d.Until
		}
	}
	return until
}

// ActingFor lists the deciders of s who have not voted and whose approvals
// reach who at instant at through the delegations src holds, in the order
// of the deciders, each with its shortest chain. Whether who may then
// decide for one is Check's to say.
func (s Standing) ActingFor(src DelegationSource, who string, at time.Time) ([]Acting, error) {
	tally := Tally{Votes: s.Votes}
	var out []Acting
	for _, decider := range s.Deciders {
		if _, voted := tally.VoteOf(decider); voted || SamePerson(decider, who) {
			continue
		}
		chains, err := Delegates(src, decider, at, s.Requester)
		if err != nil {
			return nil, err
		}
		for _, chain := range chains {
			if SamePerson(chain[len(chain)-1].To, who) {
				out = append(out, Acting{For: decider, Chain: chain})
				break
			}
		}
	}
	return out, nil
}

// DecidesFor is whom who, holding groups, may decide s for now by one of
// chains, the chains by which people delegated to who (as Delegators
// reads them): the first delegator whose chain does not pass through the
// requester and for whom Check lets who act; "" for none.
func (s State) DecidesFor(who string, groups []string, chains [][]Delegation) string {
	if !s.Pending() {
		return ""
	}
	for _, chain := range chains {
		delegator := chain[0].Delegator
		if Through(chain, s.Request.Requester) {
			continue
		}
		if s.Check(Attempt{Who: who, ActingFor: delegator, Groups: groups}) == nil {
			return delegator
		}
	}
	return ""
}

// Delegates are the people from's approvals reach at instant at, each by
// the shortest chain of at most MaxDelegationHops delegations that hold
// then, nearest first. A chain never passes through avoid (the
// requester, who would otherwise choose who decides their own request).
func Delegates(src DelegationSource, from string, at time.Time, avoid string) ([][]Delegation, error) {
	return chains(src, from, at, avoid, false)
}

// chains walks the delegations that hold at instant at from person start,
// breadth first so that each person is reached by a shortest chain, for
// at most MaxDelegationHops: onwards to delegates (Delegates), or back to
// delegators (Delegators, back). Every chain runs from its delegator to
// its delegate; none is continued past avoid.
func chains(src DelegationSource, start string, at time.Time, avoid string, back bool) ([][]Delegation, error) {
	read := src.Given
	if back {
		read = src.Received
	}
	var out [][]Delegation
	paths := [][]Delegation{nil}
	reached := []string{start}
	for hop := 0; hop < MaxDelegationHops && len(paths) > 0; hop++ {
		var next [][]Delegation
		for _, path := range paths {
			here := start
			switch {
			case len(path) == 0:
			case back:
				here = path[0].Delegator
			default:
				here = path[len(path)-1].To
			}
			links, err := read(here)
			if err != nil {
				return nil, err
			}
			for _, d := range links {
				there := d.To
				if back {
					there = d.Delegator
				}
				if !d.ActiveAt(at) || containsPerson(reached, there) {
					continue
				}
				reached = append(reached, there)
				var p []Delegation
				if back {
					p = append([]Delegation{d}, path...)
				} else {
					p = append(slices.Clip(path), d)
				}
				out = append(out, p)
				if avoid == "" || !SamePerson(there, avoid) {
					next = append(next, p)
				}
			}
		}
		paths = next
	}
	return out, nil
}

// ReasonNotDelegated refuses a decision for another that delegation
// cannot make: acting for oneself, on an approval that names nobody, or
// by someone who is a decider in their own right.
const ReasonNotDelegated Reason = "not_delegated"

// checkActing is Check for a decision made for another (a.ActingFor).
//
// Whether the delegation exists and holds is the HTTP API's to verify, as
// it verifies the approver's name: the orchestrator cannot read another
// instance's state, so it trusts that the sender checked the delegation,
// as it trusts that the sender checked who the approver is. What it can
// check it does, by these same rules: the requester never decides, even
// for someone who delegated to them; the person acted for is a decider
// who has not voted; and a person casts one vote on an approval, so a
// decider decides as themselves and never also for another (under policy
// all, four eyes stay four people), and a delegate decides for one person
// once.
func (s Standing) checkActing(a Attempt) error {
	if SamePerson(a.Who, s.Requester) {
		return &Refusal{Reason: ReasonSelfDecision, Detail: "the requester may not decide their own request, not even for someone who delegated to them"}
	}
	if _, err := CanonicalName(a.ActingFor); err != nil {
		return &Refusal{Reason: ReasonInvalidName, Detail: "the name acted for " + err.Error()}
	}
	switch {
	case SamePerson(a.ActingFor, a.Who):
		return &Refusal{Reason: ReasonNotDelegated, Detail: "a person does not act for themselves"}
	case len(s.Deciders) == 0:
		return &Refusal{Reason: ReasonNotDelegated, Detail: "this approval names no approvers, so anyone but the requester decides as themselves; nobody decides for another"}
	case containsPerson(s.Deciders, a.Who):
		return &Refusal{Reason: ReasonNotDelegated, Detail: "an approver decides as themselves, and casts one vote: not also one for someone who delegated to them"}
	case memberOf(s.Groups, a.Groups):
		// Counted for the group, the vote would take the place of the
		// person acted for and leave their approval missing for good.
		return &Refusal{Reason: ReasonNotDelegated, Detail: "a member of the request's groups decides as themselves, and casts one vote: not also one for someone who delegated to them"}
	}
	if err := s.Entitled(a.ActingFor); err != nil {
		r, _ := RefusalOf(err)
		return &Refusal{Reason: r.Reason, Detail: "acting for someone: " + r.Detail}
	}
	tally := Tally{Votes: s.Votes}
	if _, voted := tally.VoteOf(a.Who); voted {
		return &Refusal{Reason: ReasonAlreadyVoted, Detail: "a person decides once, and this one has decided already"}
	}
	if _, voted := tally.VoteOf(a.ActingFor); voted {
		return &Refusal{Reason: ReasonAlreadyVoted, Detail: "the person acted for has decided already, themselves or through a delegate"}
	}
	return nil
}

// The delegations of one person are kept by an orchestration of their
// own (see Delegations), whose instance ID is derived from the person's
// canonical name.
const (
	DelegationsOrchestratorName = "delegations"
	DelegationEventName         = "delegation"
	// DelegationsIDPrefix begins every delegations instance ID; an
	// approval's ID may not (ValidateID), so no approval can take a
	// person's place.
	DelegationsIDPrefix = "delegations:"
)

// DelegationsInstanceID is the ID of the orchestration that keeps
// person's delegations: a hash of their canonical name, since a name
// may hold characters an instance ID may not and be longer than one.
func DelegationsInstanceID(person string) (string, error) {
	canon, err := CanonicalName(person)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(canon))
	return DelegationsIDPrefix + hex.EncodeToString(sum[:20]), nil
}

// Delegators are the people whose approvals reach to at instant at, each
// by the shortest chain of at most MaxDelegationHops delegations that
// hold then (read from the copies delegates keep), nearest first: whom to
// may decide for. Each chain runs from the delegator to to.
func Delegators(src DelegationSource, to string, at time.Time) ([][]Delegation, error) {
	return chains(src, to, at, "", true)
}

// Through reports whether a chain passes through person on its way: as a
// delegate who delegated onward, not at either end.
func Through(chain []Delegation, person string) bool {
	for _, d := range chain[:len(chain)-1] {
		if SamePerson(d.To, person) {
			return true
		}
	}
	return false
}
