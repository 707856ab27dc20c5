package approval

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// MaxRounds bounds the rounds of changes one request goes through: each
// round restarts a deadline and adds to the one history that is replayed
// at every step. Past it, its approvers approve or reject.
const MaxRounds = 20

// FeatureRequestChanges: an approver may send the request back for
// changes (ActionRequestChanges), and its requester resubmit it
// (ActionResubmit).
const FeatureRequestChanges Feature = "request_changes"

// NoticeChanges tells a requester that an approver asked for changes.
const NoticeChanges NoticeKind = "changes_requested"

// The refusals of rounds and stages, beside those in rules.go.
const (
	// ReasonChangesRequested: nothing is decided while the requester
	// makes the changes asked for.
	ReasonChangesRequested Reason = "changes_requested"
	// ReasonNotSentBack: a resubmission of a request nobody sent back.
	ReasonNotSentBack Reason = "no_changes_requested"
	// ReasonStale: meant for a stage or round the request has left.
	ReasonStale Reason = "stale"
	// ReasonRoundsExhausted: the request has been sent back MaxRounds
	// times already.
	ReasonRoundsExhausted Reason = "rounds_exhausted"
)

// ChangeRound is one time an approver sent the request back: who asked,
// what, and when; and what the requester resubmitted, and when.
type ChangeRound struct {
	// Round is the round that was sent back, Stage the stage it was at.
	Round       int    `json:"round"`
	Stage       int    `json:"stage,omitempty"`
	RequestedBy string `json:"requested_by"`
	Comments    string `json:"comments"`
	RequestedAt string `json:"requested_at"`
	// Item is the item as resubmitted, and Answer the requester's
	// comments on it; empty until resubmitted.
	Item          string `json:"item,omitempty"`
	Answer        string `json:"answer,omitempty"`
	ResubmittedAt string `json:"resubmitted_at,omitempty"`
	// How each reached the API, for the audit: the request for changes'
	// acting_for, channel and auth, and the resubmission's.
	ActingFor       string  `json:"acting_for,omitempty"`
	Channel         Channel `json:"channel,omitempty"`
	Auth            Auth    `json:"auth,omitempty"`
	ResubmitChannel Channel `json:"resubmit_channel,omitempty"`
	ResubmitAuth    Auth    `json:"resubmit_auth,omitempty"`
	// Decisions are the votes the round had when it was sent back, for a
	// request without stages, whose next round starts from none and
	// would otherwise forget them (a stage keeps every round's votes).
	Decisions []Vote `json:"decisions,omitempty"`
}

// ChangesAllowed reports whether an approver may send the request back
// for changes: when it asks for it, and always for a request with stages.
func (r Request) ChangesAllowed() bool { return r.AllowChanges || r.Staged() }

// features are what the request's workflow honours beyond the sample's
// contract.
func (r Request) features() []Feature {
	f := []Feature{FeatureWithdraw}
	if r.Staged() {
		f = append(f, FeatureStages)
	}
	if r.ChangesAllowed() {
		f = append(f, FeatureRequestChanges)
	}
	if r.countsGroups() {
		f = append(f, FeatureGroups)
	}
	return f
}

// countsGroups reports whether the request, or any of its stages, asks
// for approvals from groups.
func (r Request) countsGroups() bool {
	if len(r.GroupRules()) > 0 {
		return true
	}
	for i := range r.Stages {
		if len(r.stageRequest(i).GroupRules()) > 0 {
			return true
		}
	}
	return false
}

// deciding is the request as it decides now: itself, or its current
// stage.
func (w *waiting) deciding() Request {
	if w.stage == 0 {
		return w.req
	}
	return w.req.stageRequest(w.stage - 1)
}

// requestChanges sends the request back to its requester, who is told.
// The stage's deadline still runs: a request left unchanged times out.
func (w *waiting) requestChanges(in ProcessInput) {
	w.changes = true
	w.status.ChangesRequested = true
	round := ChangeRound{Round: w.round, Stage: w.stage, RequestedBy: in.Approver, Comments: in.Comments,
		RequestedAt: FormatTime(w.ctx.CurrentTimeUtc), ActingFor: in.ActingFor, Channel: in.Channel, Auth: in.Auth}
	if w.stage == 0 {
		round.Decisions = w.tally.Votes
	}
	w.status.Rounds = append(w.status.Rounds, round)
	w.notify(NoticeChanges, w.round, []string{w.req.Requester})
}

// resubmit takes the requester's edited request: the round is recorded,
// the next one starts with no votes, and the stage's deadline, reminders
// and escalation start again from now. Its deciders are told again.
func (w *waiting) resubmit(d Decision, in ProcessInput) {
	item := w.req.Item
	if d.Item != "" {
		item = d.Item
	}
	r := &w.status.Rounds[len(w.status.Rounds)-1]
	r.Item, r.Answer, r.ResubmittedAt = item, in.Comments, FormatTime(w.ctx.CurrentTimeUtc)
	r.ResubmitChannel, r.ResubmitAuth = d.Channel, d.Auth
	if item != w.req.Item {
		w.req.Item, w.status.Item = item, item
	}
	w.changes, w.status.ChangesRequested = false, false
	w.round++
	w.status.Round = w.round
	w.replaced = true
	if w.stage > 0 {
		w.startStage(w.ctx.CurrentTimeUtc)
	} else {
		w.begin(w.ctx.CurrentTimeUtc)
	}
	w.notify(NoticeRequest, w.round, w.tally.Deciders)
}

// left records that a wait aimed at at was completed by an event: its
// timer still fires at at. (When the event was already buffered the wait
// set no timer; a wait aimed there later is then one wake-up more.)
func (w *waiting) left(at time.Time) {
	if !slices.ContainsFunc(w.leftovers, at.Equal) {
		w.leftovers = append(w.leftovers, at)
	}
}

// passed forgets the leftovers that have fired by at, when a wait's own
// timer fired there.
func (w *waiting) passed(at time.Time) {
	w.leftovers = slices.DeleteFunc(w.leftovers, func(t time.Time) bool { return !t.After(at) })
}

// strays aims a wait no later than the first timer left behind by an
// earlier wait, once the schedule has been replaced. A leftover that
// fires while a wait is pending makes durabletask forget that wait (it
// drops the wait of its event name), so events would be buffered until
// the wait's own timer, possibly days later. Aiming at the leftover, the
// wait's timer fires with it, and the loop waits again for what it
// aimed at (run's "stray"), taking what was buffered first. A schedule
// never replaced has every leftover on its own schedule, so its waits aim
// as they always did.
func (w *waiting) strays(aim time.Time) time.Time {
	if !w.replaced {
		return aim
	}
	for _, t := range w.leftovers {
		if t.Before(aim) {
			aim = t
		}
	}
	return aim
}

// checkResubmit is Check for a resubmission: the requester's alone, of a
// request sent back in the round the requester saw.
func (s Standing) checkResubmit(a Attempt) error {
	switch {
	case !s.ChangesAllowed && !s.Submitted:
		return &Refusal{Reason: ReasonUnsubmitted, Detail: "the approval has not been submitted yet; retry in a moment"}
	case !s.ChangesAllowed:
		return &Refusal{Reason: ReasonUnsupported, Detail: "this approval's workflow does not take changes, so there is nothing to resubmit"}
	case !SamePerson(a.Who, s.Requester):
		return &Refusal{Reason: ReasonNotRequester, Detail: "only its requester may resubmit a request"}
	case !s.ChangesRequested:
		return &Refusal{Reason: ReasonNotSentBack, Detail: "no changes are requested, so there is nothing to resubmit"}
	case a.Round != 0 && a.Round != s.Round:
		return &Refusal{Reason: ReasonStale, Detail: fmt.Sprintf("this resubmits round %d, and the request is at round %d", a.Round, s.Round)}
	}
	return nil
}

// checkPhase is Check for a decision or a request for changes, before
// who decides is asked: the stage and round must be the current ones,
// and no changes pending.
func (s Standing) checkPhase(a Attempt) error {
	if a.Action == ActionRequestChanges && !s.ChangesAllowed {
		if !s.Submitted {
			return &Refusal{Reason: ReasonUnsubmitted, Detail: "the approval has not been submitted yet, so whether its workflow takes requests for changes is not known; nothing was sent, retry in a moment"}
		}
		return &Refusal{Reason: ReasonUnsupported, Detail: "this approval does not allow requests for changes (start it with allow_changes or stages), so nothing was sent"}
	}
	switch {
	case s.ChangesRequested:
		return &Refusal{Reason: ReasonChangesRequested, Detail: "changes were requested; nothing is decided until the requester resubmits"}
	case a.Stage != 0 && s.Stage != 0 && a.Stage != s.Stage:
		return &Refusal{Reason: ReasonStale, Detail: fmt.Sprintf("this was meant for stage %d, and the request is at stage %d", a.Stage, s.Stage)}
	case a.Round != 0 && s.Round != 0 && a.Round != s.Round:
		return &Refusal{Reason: ReasonStale, Detail: fmt.Sprintf("this was meant for round %d, and the request was resubmitted since: round %d", a.Round, s.Round)}
	case a.Action == ActionRequestChanges && s.Round > MaxRounds:
		return &Refusal{Reason: ReasonRoundsExhausted, Detail: fmt.Sprintf("the request has been sent back %d times, the most allowed; approve or reject it", MaxRounds)}
	}
	return nil
}

// ChangesRequest is an approver sending the request back to its
// requester, saying what to change. Stage and Round, when given, are
// what the approver saw: the request must still be there.
type ChangesRequest struct {
	Approver string `json:"approver"`
	Comments string `json:"comments"`
	Stage    int    `json:"stage"`
	Round    int    `json:"round"`
}

// Validate reports what makes a request for changes unusable: it must
// say what to change.
func (c ChangesRequest) Validate() error {
	if strings.TrimSpace(c.Comments) == "" {
		return &FieldError{Field: "comments", Reason: "is required: say what should change"}
	}
	return nil
}

// Decision is the event that sends the request back, from the person who
// (with the principal's object id oid, when signed in).
func (c ChangesRequest) Decision(who, oid string) Decision {
	return Decision{Action: ActionRequestChanges, Approver: &who, ApproverOID: oid, Comments: c.Comments, Stage: c.Stage, Round: c.Round}
}

// ResubmitRequest is a requester sending their request again after
// changes were asked for: the item as edited (empty keeps it), and their
// answer.
type ResubmitRequest struct {
	Requester string `json:"requester"`
	Item      string `json:"item"`
	Comments  string `json:"comments"`
	Round     int    `json:"round"`
}

// Validate reports what makes a resubmission unusable: an item, when
// given, must say something.
func (r ResubmitRequest) Validate() error {
	if r.Item != "" && strings.TrimSpace(r.Item) == "" {
		return &FieldError{Field: "item", Reason: "must not be blank; leave it out to keep the item as it is"}
	}
	return nil
}

// Decision is the event that resubmits the request, from the person who
// (with the principal's object id oid, when signed in).
func (r ResubmitRequest) Decision(who, oid string) Decision {
	return Decision{Action: ActionResubmit, Approver: &who, ApproverOID: oid, Item: r.Item, Comments: r.Comments, Round: r.Round}
}

// RoundRecorded reports whether the request for changes or the
// resubmission d is recorded in the rounds the approval shows.
func (s State) RoundRecorded(d Decision) bool {
	who := d.processInput("").Approver
	for _, r := range s.Progress.Rounds {
		if d.Round != 0 && r.Round != d.Round {
			continue
		}
		switch d.Action {
		case ActionRequestChanges:
			if SamePerson(r.RequestedBy, who) && r.Comments == d.Comments {
				return true
			}
		case ActionResubmit:
			if r.ResubmittedAt != "" && (d.Item == "" || r.Item == d.Item) && r.Answer == d.Comments {
				return true
			}
		}
	}
	return false
}
