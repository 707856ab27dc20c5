package approval

import (
	"fmt"
	"strings"
	"time"
)

// MaxStages bounds the stages of one request: each adds a deadline's
// worth of timers and notices to its one history.
const MaxStages = 10

// FeatureStages: the workflow runs a request's stages in order.
const FeatureStages Feature = "stages"

// StageProgress is where one stage of a request with stages stands: who
// decides it and how, what they decided (every round's votes, each with
// its round), and when it started and ended.
type StageProgress struct {
	Name string `json:"name,omitempty"`
	// Status is empty until the stage starts, Pending while it waits, and
	// then how it ended: Approved, Rejected, Timeout or Withdrawn.
	Status    Status   `json:"status,omitempty"`
	Approvers []string `json:"approvers,omitempty"`
	Policy    Policy   `json:"policy,omitempty"`
	Required  int      `json:"required,omitempty"`
	Decisions []Vote   `json:"decisions,omitempty"`
	StartedAt string   `json:"started_at,omitempty"`
	ExpiresAt string   `json:"expires_at,omitempty"`
	EndedAt   string   `json:"ended_at,omitempty"`
}

// Staged reports whether the request runs as stages.
func (r Request) Staged() bool { return len(r.Stages) > 0 }

// stageRequest is the request as stage i (from 0) decides it: the stage's
// fields in place of the request's own, so that every rule written for a
// request's approvers, policy, deadline, reminders and escalation means
// the same for a stage.
func (r Request) stageRequest(i int) Request {
	s := r.Stages[i]
	return Request{RequestID: r.RequestID, Requester: r.Requester, Item: r.Item, Approvers: s.Approvers, Policy: s.Policy,
		Required: s.Required, TimeoutHours: s.TimeoutHours, RemindEvery: s.RemindEvery, EscalateAfter: s.EscalateAfter,
		EscalateTo: s.EscalateTo, Groups: s.Groups}
}

// tally is the Tally a request (or one stage, through stageRequest)
// starts with: the one place a policy becomes a count.
func (r Request) tally() Tally {
	t := Tally{Policy: r.Policy, Required: r.Required, Deciders: r.Deciders(), Reserve: len(r.escalationOnly()), Groups: r.GroupRules()}
	if r.Policy == PolicyAll {
		t.Required = len(t.Deciders)
	}
	return t
}

// topLevelDeciding names the fields that say who decides and by when,
// which a request with stages gives in each stage instead.
func (r Request) topLevelDeciding() []string {
	var set []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"approver", strings.TrimSpace(r.Approver) != ""}, {"approvers", len(r.Approvers) > 0}, {"policy", r.Policy != ""},
		{"required", r.Required != 0}, {"timeout_hours", r.TimeoutHours != nil}, {"remind_every", r.RemindEvery != ""},
		{"escalate_after", r.EscalateAfter != ""}, {"escalate_to", len(r.EscalateTo) > 0}, {"groups", len(r.Groups) > 0},
	} {
		if f.set {
			set = append(set, f.name)
		}
	}
	return set
}

// validateStages checks each stage by the very rules a request without
// stages is checked by (validateDeciding), naming the field as
// stages[i].field.
func (r Request) validateStages() error {
	if !r.Staged() {
		return nil
	}
	if len(r.Stages) > MaxStages {
		return &FieldError{Field: "stages", Reason: fmt.Sprintf("may be at most %d", MaxStages)}
	}
	if set := r.topLevelDeciding(); len(set) > 0 {
		return &FieldError{Field: set[0], Reason: fmt.Sprintf("belongs in each stage of a request with stages, not at the top level (found there: %s)",
			strings.Join(set, ", "))}
	}
	for i, s := range r.Stages {
		field := func(name string) string { return fmt.Sprintf("stages[%d].%s", i, name) }
		if len(s.Name) > MaxNameBytes {
			return &FieldError{Field: field("name"), Reason: fmt.Sprintf("may be at most %d bytes", MaxNameBytes)}
		}
		if err := r.stageRequest(i).validateDeciding(); err != nil {
			if fe, ok := AsFieldError(err); ok {
				return &FieldError{Field: field(fe.Field), Reason: fe.Reason, Message: fe.Message}
			}
			return err
		}
	}
	return nil
}

// startStage begins stage w.stage at now: its own tally, deadline,
// reminders and escalation, published in the status.
func (w *waiting) startStage(now time.Time) {
	p := &w.status.Stages[w.stage-1]
	w.begin(now)
	p.Status, p.StartedAt, p.ExpiresAt = StatusPending, FormatTime(now), w.status.ExpiresAt
	p.Approvers, p.Policy, p.Required = w.tally.Deciders, w.tally.Policy, w.tally.Required
}

// endStage records how the current stage ended.
func (w *waiting) endStage(status Status) {
	if w.stage == 0 {
		return
	}
	p := &w.status.Stages[w.stage-1]
	p.Status, p.EndedAt = status, FormatTime(w.ctx.CurrentTimeUtc)
}

// stageVote records v in the current stage's progress, beside the votes
// of its earlier rounds.
func (w *waiting) stageVote(v Vote) {
	if w.stage == 0 {
		return
	}
	p := &w.status.Stages[w.stage-1]
	p.Decisions = append(p.Decisions, v)
}

// stageDecided moves on from a stage whose votes decided it: to the next
// stage when it approved and one follows, reporting done false; or to the
// outcome.
func (w *waiting) stageDecided(approved bool, in ProcessInput) (Outcome, bool, error) {
	status := StatusRejected
	if approved {
		status = StatusApproved
	}
	w.endStage(status)
	if approved && w.stage > 0 && w.stage < len(w.req.Stages) {
		w.stage++
		w.replaced = true
		w.startStage(w.ctx.CurrentTimeUtc)
		w.notify(NoticeRequest, 0, w.tally.Deciders)
		return Outcome{}, false, nil
	}
	in.IsApproved = approved
	in.Decisions = w.allVotes()
	out, err := w.process(in)
	return out, true, err
}

// allVotes are the votes that make the outcome: the current tally's, or
// for a request with stages every stage's.
func (w *waiting) allVotes() []Vote {
	if w.stage == 0 {
		return w.tally.Votes
	}
	var all []Vote
	for _, p := range w.status.Stages {
		all = append(all, p.Decisions...)
	}
	return all
}

// VoteRecorded reports whether d is recorded as a vote: in the current
// tally or, for a request with stages, in the stage it was meant for (it
// may have moved on since).
func (s State) VoteRecorded(d Decision) (held, voted bool) {
	votes := s.Progress.Decisions
	if d.Stage > 0 && d.Stage <= len(s.Progress.Stages) && d.Stage != s.Progress.Stage {
		votes = s.Progress.Stages[d.Stage-1].Decisions
	}
	t := Tally{Votes: votesFor(votes, d)}
	_, voted = t.VoteOf(d.processInput("").Approver)
	return t.Holds(d), voted
}

// votesFor are the votes of the stage and round d was meant for, when it
// says; of each stage's last round when it names none, since a request
// for changes voids the votes of the rounds before.
func votesFor(votes []Vote, d Decision) []Vote {
	last := map[int]int{}
	for _, v := range votes {
		last[v.Stage] = max(last[v.Stage], v.Round)
	}
	var out []Vote
	for _, v := range votes {
		round := d.Round
		if round == 0 {
			round = last[v.Stage]
		}
		if (d.Stage == 0 || v.Stage == 0 || v.Stage == d.Stage) && (v.Round == 0 || v.Round == round) {
			out = append(out, v)
		}
	}
	return out
}

// HeldInPassedStage reports whether d is the vote recorded in a stage the
// request has moved on from (the one d names, or any when it names
// none): a retry after a lost answer, which the current stage's rules
// would refuse.
func (s State) HeldInPassedStage(d Decision) bool {
	for i := 0; i < s.Progress.Stage-1 && i < len(s.Progress.Stages); i++ {
		if d.Stage != 0 && d.Stage != i+1 {
			continue
		}
		if (Tally{Votes: votesFor(s.Progress.Stages[i].Decisions, d)}).Holds(d) {
			return true
		}
	}
	return false
}
