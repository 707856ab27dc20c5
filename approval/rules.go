package approval

import (
	"errors"
	"fmt"
	"time"
)

// Reason names why an attempt to decide or withdraw was refused. The HTTP
// API answers each with one status, the pages with one sentence, and the
// orchestrator records it beside the refused event.
type Reason string

// The reasons, in the order Check asks.
const (
	ReasonInvalidName  Reason = "invalid_name"
	ReasonEnded        Reason = "ended"
	ReasonDeadline     Reason = "deadline_passed"
	ReasonUnsupported  Reason = "not_supported"
	ReasonUnsubmitted  Reason = "not_yet_submitted"
	ReasonNotRequester Reason = "not_the_requester"
	ReasonSelfDecision Reason = "self_decision"
	ReasonNotApprover  Reason = "not_an_approver"
	ReasonAlreadyVoted Reason = "already_decided"
	// ReasonMalformed is the orchestrator's alone: an event whose payload
	// is not a decision.
	ReasonMalformed Reason = "malformed"
)

// Refusal is an attempt the rules refuse, and why.
type Refusal struct {
	Reason Reason
	// Detail is a sentence about the rule, without the person's name.
	Detail string
}

func (r *Refusal) Error() string { return r.Detail }

// RefusalOf reports whether err is, or wraps, a Refusal.
func RefusalOf(err error) (*Refusal, bool) {
	var r *Refusal
	ok := errors.As(err, &r)
	return r, ok
}

// Attempt is one person's try to decide an approval, or to withdraw it.
type Attempt struct {
	Who      string
	Withdraw bool
	// At is when the attempt was accepted. Zero means in time: the
	// orchestrator received it before its deadline's timer fired.
	At time.Time
	// Action is the decision's action (empty for a decision); ActingFor,
	// Group, Groups, Stage and Round are the decision's, as Decision says.
	Action    string
	ActingFor string
	Group     string
	Groups    []string
	Stage     int
	Round     int
}

// Attempt is d as the rules see it, accepted at at (zero: in time).
func (d Decision) Attempt(at time.Time) Attempt {
	return Attempt{Who: d.processInput("").Approver, Withdraw: d.Action == ActionWithdraw, At: at, Action: d.Action,
		ActingFor: d.ActingFor, Group: d.Group, Groups: d.Groups, Stage: d.Stage, Round: d.Round}
}

// Standing is an approval as the decision rules see it: what the
// orchestrator knows while it waits, and what the read model shows of it.
type Standing struct {
	Requester string
	// Deciders are who may decide now, escalation included; none, and
	// no Groups, means anyone but the requester.
	Deciders []string
	// Groups are the groups whose members may decide, with their counts.
	Groups []GroupRule
	// Votes are the decisions recorded so far under a policy that counts
	// several; a person's first vote stands.
	Votes []Vote
	Ended bool
	// Deadline is when decisions stop being accepted; zero while unknown.
	Deadline time.Time
	// Withdrawable says the approval's workflow honours a withdrawal;
	// Submitted that it has published its status, without which what it
	// honours is not known yet.
	Withdrawable bool
	Submitted    bool
	// Counting says the request asks for several decisions to be counted;
	// Counted that its workflow published the request's policy, and so
	// counts them. One that does not (a worker keeping the sample's
	// contract) would take the first decision for the outcome.
	Counting, Counted bool
	// Stage and Round are the current stage and round of changes (zero
	// when the request has none); ChangesRequested says the request waits
	// for its requester to resubmit, and ChangesAllowed that its workflow
	// takes requests for changes.
	Stage, Round                     int
	ChangesRequested, ChangesAllowed bool
}

// Check is the one answer to "may this person do this now?": the HTTP
// API, the pages, the dashboard and the orchestrator all ask it, and
// nothing else decides who may decide. It returns nil or a *Refusal.
func (s Standing) Check(a Attempt) error {
	if _, err := CanonicalName(a.Who); err != nil {
		return &Refusal{Reason: ReasonInvalidName, Detail: "the name " + err.Error()}
	}
	if s.Ended {
		return &Refusal{Reason: ReasonEnded, Detail: "the approval is no longer pending"}
	}
	if !a.At.IsZero() && !s.Deadline.IsZero() && !a.At.Before(s.Deadline) {
		return &Refusal{Reason: ReasonDeadline,
			Detail: fmt.Sprintf("the deadline passed at %s; nothing is accepted after it", FormatTime(s.Deadline))}
	}
	if a.Withdraw {
		if !s.Withdrawable && !s.Submitted {
			return &Refusal{Reason: ReasonUnsubmitted, Detail: "the approval has not been submitted yet, so whether its workflow supports withdrawal is not known; nothing was sent, retry in a moment"}
		}
		if !s.Withdrawable {
			return &Refusal{Reason: ReasonUnsupported, Detail: "this approval's workflow does not say it supports withdrawal (a worker keeping the sample's contract would take it for a rejection), so nothing was sent"}
		}
		if !SamePerson(a.Who, s.Requester) {
			return &Refusal{Reason: ReasonNotRequester, Detail: "only its requester may withdraw a request"}
		}
		return nil
	}
	if a.Action == ActionResubmit {
		return s.checkResubmit(a)
	}
	if err := s.checkPhase(a); err != nil {
		return err
	}
	if s.Counting && !s.Counted {
		if !s.Submitted {
			return &Refusal{Reason: ReasonUnsubmitted, Detail: "the approval has not been submitted yet, so whether its workflow counts several decisions is not known; nothing was sent, retry in a moment"}
		}
		return &Refusal{Reason: ReasonUnsupported, Detail: "this approval asks for several decisions and its workflow does not say it counts them (a worker keeping the sample's contract would take the first for the outcome), so nothing was sent"}
	}
	if a.ActingFor != "" {
		return s.checkActing(a)
	}
	if err := s.Entitled(a.Who, a.Groups...); err != nil {
		return err
	}
	if _, voted := (Tally{Votes: s.Votes}).VoteOf(a.Who); voted {
		return &Refusal{Reason: ReasonAlreadyVoted, Detail: "a person decides once, and this one has decided already"}
	}
	_, err := s.CountsFor(a)
	return err
}

// Entitled reports whether who is among the people who may decide,
// whatever the time and the votes: never the requester (segregation of
// duties, even when named as an approver or a member of a group), and,
// when approvers or groups are named, only one of the approvers or a
// member of one of the groups (groups are those who holds).
func (s Standing) Entitled(who string, groups ...string) error {
	if _, err := CanonicalName(who); err != nil {
		return &Refusal{Reason: ReasonInvalidName, Detail: "the name " + err.Error()}
	}
	if SamePerson(who, s.Requester) {
		return &Refusal{Reason: ReasonSelfDecision, Detail: "the requester may not decide their own request"}
	}
	if len(s.Groups) > 0 {
		if !containsPerson(s.Deciders, who) && !memberOf(s.Groups, groups) {
			return &Refusal{Reason: ReasonNotApprover, Detail: "only the approvers named in the request and members of its groups may decide it"}
		}
		return nil
	}
	if len(s.Deciders) > 0 && !containsPerson(s.Deciders, who) {
		return &Refusal{Reason: ReasonNotApprover, Detail: "only the approvers named in the request may decide it"}
	}
	return nil
}

// Standing is the approval as the decision rules see it.
func (s State) Standing() Standing {
	groups := s.GroupRules()
	return Standing{Requester: s.Request.Requester, Deciders: s.Deciders(), Groups: groups, Votes: s.Progress.Decisions,
		Ended: !s.Pending(), Deadline: s.ExpiresAt, Withdrawable: s.Supports(FeatureWithdraw), Submitted: s.Submitted(),
		// A request with stages counts the decisions of each stage in turn,
		// which only a workflow publishing the stages feature does.
		Counting: s.Request.Counting() || s.Request.Staged(),
		Counted: s.Request.Counting() && s.Progress.Policy == s.Request.Policy && (len(groups) == 0 || s.Supports(FeatureGroups)) ||
			s.Request.Staged() && s.Supports(FeatureStages),
		Stage: s.Progress.Stage, Round: s.Progress.Round, ChangesRequested: s.Progress.ChangesRequested,
		ChangesAllowed: s.Supports(FeatureRequestChanges)}
}

// Check is Standing.Check on the approval as it stands.
func (s State) Check(a Attempt) error { return s.Standing().Check(a) }

// Entitled is Standing.Entitled on the approval as it stands.
func (s State) Entitled(who string, groups ...string) error {
	return s.Standing().Entitled(who, groups...)
}
