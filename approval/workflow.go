package approval

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/microsoft/durabletask-go/task"
)

// Register adds the orchestrator and both activities to r under their wire
// names. Explicit names keep the contract independent of Go identifiers.
func Register(r *task.TaskRegistry, acts *Activities) error {
	if err := r.AddOrchestratorN(OrchestratorName, Orchestrate); err != nil {
		return fmt.Errorf("register %s: %w", OrchestratorName, err)
	}
	if err := r.AddActivityN(SubmitActivityName, acts.SubmitApprovalRequest); err != nil {
		return fmt.Errorf("register %s: %w", SubmitActivityName, err)
	}
	if err := r.AddActivityN(ProcessActivityName, acts.ProcessApproval); err != nil {
		return fmt.Errorf("register %s: %w", ProcessActivityName, err)
	}
	if err := r.AddActivityN(NotifyActivityName, acts.NotifyApprovers); err != nil {
		return fmt.Errorf("register %s: %w", NotifyActivityName, err)
	}
	if err := r.AddOrchestratorN(CallbackOrchestratorName, Callback); err != nil {
		return fmt.Errorf("register %s: %w", CallbackOrchestratorName, err)
	}
	if err := r.AddActivityN(CallbackActivityName, acts.DeliverCallback); err != nil {
		return fmt.Errorf("register %s: %w", CallbackActivityName, err)
	}
	return RegisterDelegations(r)
}

// Orchestrate is the human_interaction_orchestrator: submit the request, wait
// for decisions until the request is decided, withdrawn or times out,
// reminding and escalating on the way, then process the outcome and tell
// the caller.
//
// It is replayed from history, so it reads time only from the orchestration
// context and performs no I/O of its own. A request of the sample's shape
// (no policy, reminders or escalation) records exactly the history the
// first version did, so approvals started by it replay under this one.
func Orchestrate(ctx *task.OrchestrationContext) (any, error) {
	var req Request
	if err := ctx.GetInput(&req); err != nil {
		return nil, fmt.Errorf("read approval request: %w", err)
	}
	if req.RequestID == "" {
		req.RequestID = string(ctx.ID)
	}

	var sub Submission
	// The submit input is the request itself, asking the activity to leave
	// the notices to the orchestrator; an activity from before that sends
	// them itself and says nothing of it.
	if err := ctx.CallActivity(SubmitActivityName, task.WithActivityInput(SubmitInput{Request: req, DeferNotices: true})).Await(&sub); err != nil {
		return nil, fmt.Errorf("submit approval request: %w", err)
	}
	deferred := sub.NoticesDeferred
	sub.NoticesDeferred = false
	w := newWaiting(ctx, req, sub)
	if deferred {
		// Published in the same step as the notices are scheduled, so an
		// approver who follows one finds the request already waiting,
		// and a receiver that hangs holds up nobody's decision.
		if err := w.publish(); err != nil {
			return nil, err
		}
		w.notify(NoticeRequest, 0, w.tally.Deciders)
	}
	out, err := w.run()
	if err != nil {
		return nil, err
	}
	if req.CallbackURL != "" {
		// Not awaited: the approval's outcome is final now, whatever the
		// receiver does, and its retries may take a day.
		ctx.CallSubOrchestrator(CallbackOrchestratorName,
			task.WithSubOrchestratorInput(CallbackInput{URL: req.CallbackURL, Request: req, Outcome: out}),
			task.WithSubOrchestrationInstanceID(CallbackInstanceID(req.RequestID)))
	}
	return out, nil
}

// waiting is an approval between its submission and its outcome.
type waiting struct {
	ctx    *task.OrchestrationContext
	req    Request
	status Submission
	tally  Tally
	// start anchors the hops of long waits (see aim).
	start    time.Time
	deadline time.Time
	// nextReminder and escalation are zero when there are none (left).
	nextReminder time.Time
	escalation   time.Time
	// late is set once the deadline's timer has fired: events taken from
	// then on count only if they were accepted before the deadline.
	late bool
	// stage is the current stage (from 1) of a request with stages, and
	// round the current round of changes (from 1) of one that allows
	// them; both zero otherwise. changes says the request waits for its
	// requester to resubmit it.
	stage, round int
	changes      bool
	// replaced says a stage or a round has replaced the schedule the
	// approval started with, and leftovers are the instants of timers that
	// waits completed by an event left behind (see strays, which aim calls).
	replaced  bool
	leftovers []time.Time
}

func newWaiting(ctx *task.OrchestrationContext, req Request, sub Submission) *waiting {
	// WaitForSingleEvent sets its timer to the orchestration's current
	// time plus the timeout, read in this same step, so the deadline is the
	// very instant the first wait's timer fires: the API refuses decisions
	// from then on.
	w := &waiting{ctx: ctx, req: req, status: sub}
	w.status.Features = req.features()
	if req.ChangesAllowed() {
		w.round = 1
		w.status.Round = 1
	}
	if req.Staged() {
		w.stage = 1
		w.status.Stages = make([]StageProgress, len(req.Stages))
		for i, s := range req.Stages {
			w.status.Stages[i].Name = s.Name
		}
		w.startStage(ctx.CurrentTimeUtc)
		return w
	}
	w.begin(ctx.CurrentTimeUtc)
	return w
}

// begin starts the schedule, the tally and their published progress of
// the request as it decides now (the current stage's, for a request with
// stages) at start: when the approval started, a stage started, or its
// requester resubmitted it.
func (w *waiting) begin(start time.Time) {
	req := w.deciding()
	w.start, w.deadline = start, start.Add(req.Timeout())
	w.nextReminder, w.escalation = time.Time{}, time.Time{}
	w.status.ExpiresAt = FormatTime(w.deadline)
	w.tally = req.tally()
	if d := req.RemindInterval(); d > 0 && start.Add(d).Before(w.deadline) {
		w.nextReminder = start.Add(d)
	}
	if d := req.EscalationDelay(); d > 0 && start.Add(d).Before(w.deadline) {
		w.escalation = start.Add(d)
	}
	w.status.Policy, w.status.Required, w.status.Approvers, w.status.Decisions = "", 0, nil, nil
	w.status.EscalatesAt, w.status.NextReminderAt, w.status.EscalatedAt = "", "", ""
	if req.Policy != "" && req.Policy != PolicyAny || len(w.tally.Groups) > 0 || !w.nextReminder.IsZero() || !w.escalation.IsZero() || w.stage > 0 {
		w.status.Policy, w.status.Required = req.Policy, w.tally.Required
		w.status.Approvers = w.tally.Deciders
		w.status.EscalatesAt = formatOptional(w.escalation)
		w.status.NextReminderAt = formatOptional(w.nextReminder)
	}
	w.status.Stage = w.stage
}

func formatOptional(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return FormatTime(t)
}

// next is the first instant the approval must act on without a decision.
func (w *waiting) next() time.Time {
	next := w.deadline
	for _, t := range []time.Time{w.nextReminder, w.escalation} {
		if !t.IsZero() && t.Before(next) {
			next = t
		}
	}
	return next
}

// MaxTimer is the longest durable timer the orchestrator creates, as the
// official SDKs split timers ("to support backends that limit how long a
// timer can be"): a longer wait is a chain of hops.
const MaxTimer = 3 * 24 * time.Hour

// aim is the instant the next wait's timer fires: next, or the next hop
// when one comes first. Hops lie on a fixed grid from the start (start +
// k*MaxTimer), never closer to now, for the reason run gives: every
// instant a wait may aim at is fixed in advance, so a timer left behind by
// an earlier wait never fires before the current wait's. An approval
// whose deadline is within MaxTimer of its start never hops, so its
// history is what it always was.
func (w *waiting) aim(next time.Time) time.Time {
	now := w.ctx.CurrentTimeUtc
	hops := now.Sub(w.start)/MaxTimer + 1
	if hop := w.start.Add(hops * MaxTimer); hop.Before(next) {
		next = hop
	}
	return w.strays(next)
}

// run waits for decisions until the outcome is known.
//
// WaitForSingleEvent's timer is never cancelled: a wait that an event
// completes leaves its timer behind, and when that timer fires durabletask
// forgets whatever wait is then pending. Every wait therefore aims at the
// next instant of a fixed schedule (a reminder, the escalation, the
// deadline), so leftover timers fire together with the current wait's own,
// and any event that arrived while a wait was forgotten is buffered and
// taken before the instant is acted on. A stage or a round of changes
// replaces that schedule; from then on a wait aims no later than the first
// leftover timer too (see strays), and fired there, waits again.
func (w *waiting) run() (Outcome, error) {
	for {
		if err := w.publish(); err != nil {
			return Outcome{}, err
		}
		next := w.next()
		aim := w.aim(next)
		var raw json.RawMessage
		var err error
		if wait := aim.Sub(w.ctx.CurrentTimeUtc); wait > 0 {
			err = w.ctx.WaitForSingleEvent(DecisionEventName, wait).Await(&raw)
		} else {
			// The instant has passed while this execution ran late (the
			// worker was away). Events delivered before it are later in
			// this batch, so wait on a timer at that very instant, then
			// take what was buffered meanwhile.
			if err := w.ctx.CreateTimer(wait).Await(nil); err != nil {
				return Outcome{}, fmt.Errorf("wait for %s: %w", FormatTime(next), err)
			}
			err = task.ErrTaskCanceled
		}
		if !errors.Is(err, task.ErrTaskCanceled) {
			w.left(aim)
			if out, done, err := w.take(raw, err); done || err != nil {
				return out, err
			}
			continue
		}
		w.passed(aim)
		if aim.Before(next) {
			continue // a hop or a stray on the way to next; the loop takes anything buffered
		}
		if out, done, err := w.drain(); done || err != nil {
			return out, err
		}
		switch {
		case !next.Before(w.deadline):
			return w.close()
		case next.Equal(w.escalation):
			w.escalate()
		default:
			w.remind()
		}
	}
}

// close ends an approval whose deadline's timer has fired. A backend may
// deliver the timer ahead of decisions it accepted before the deadline
// (durabletask-go's own SQLite backend delivers in the order things were
// written, and the timer was written first), in this batch or the next.
// So the orchestrator yields one step, letting them arrive, and takes
// every one accepted before the deadline before it concludes Timeout.
func (w *waiting) close() (Outcome, error) {
	w.late = true
	if err := w.publish(); err != nil {
		return Outcome{}, err
	}
	if err := w.ctx.CreateTimer(0).Await(nil); err != nil {
		return Outcome{}, fmt.Errorf("wait for decisions delivered after the deadline's timer: %w", err)
	}
	if out, done, err := w.drain(); done || err != nil {
		return out, err
	}
	w.endStage(StatusTimeout)
	return Outcome{RequestID: w.req.RequestID, Status: StatusTimeout,
		TimedOutAt: FormatTime(w.ctx.CurrentTimeUtc), Decisions: w.allVotes(), Trail: w.status.trail()}, nil
}

// drain takes the events that arrived while no wait was pending.
func (w *waiting) drain() (Outcome, bool, error) {
	for {
		var raw json.RawMessage
		err := w.ctx.WaitForSingleEvent(DecisionEventName, 0).Await(&raw)
		if errors.Is(err, task.ErrTaskCanceled) {
			return Outcome{}, false, nil // nothing buffered
		}
		if out, done, err := w.take(raw, err); done || err != nil {
			return out, done, err
		}
	}
}

// take re-checks one event by the rules every other layer asks, and
// applies it only if they allow it: the orchestrator is the last line, so
// an event raised by any client, in any shape, from anyone, neither fails
// nor decides the approval unless it is a decision its sender may make.
// What it refuses it records in the published status.
func (w *waiting) take(raw json.RawMessage, awaitErr error) (Outcome, bool, error) {
	d, err := decodeDecision(raw, awaitErr)
	if err != nil {
		w.refuse("", &Refusal{Reason: ReasonMalformed, Detail: err.Error()})
		return Outcome{}, false, nil
	}
	in := d.processInput(w.req.RequestID)
	attempt := d.Attempt(time.Time{})
	if w.late {
		// Delivered after the deadline's timer: in time only if the
		// handler accepted it before the deadline, which it records.
		accepted, err := time.Parse(time.RFC3339Nano, d.ResponseTime)
		if err != nil {
			accepted = w.ctx.CurrentTimeUtc
		}
		attempt.At = accepted
	}
	if err := w.standing().Check(attempt); err != nil {
		r, _ := RefusalOf(err)
		w.refuse(in.Approver, r)
		return Outcome{}, false, nil
	}
	return w.apply(d, in)
}

// decodeDecision reads an event's payload as a Decision, refusing what
// is not one rather than letting it fail the orchestration.
func decodeDecision(raw json.RawMessage, awaitErr error) (Decision, error) {
	var d Decision
	if awaitErr != nil {
		return d, fmt.Errorf("the %s event's payload is not JSON", DecisionEventName)
	}
	if len(raw) == 0 {
		return d, nil // no payload: the sample's defaults
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return d, fmt.Errorf("the %s event's %s is not a %s", DecisionEventName, te.Field, te.Type)
		}
		return d, fmt.Errorf("the %s event's payload is not a decision object", DecisionEventName)
	}
	switch d.Action {
	case "", ActionWithdraw, ActionRequestChanges, ActionResubmit:
	default:
		return d, fmt.Errorf("the %s event's action %q is none of empty, %q, %q and %q", DecisionEventName, shorten(d.Action),
			ActionWithdraw, ActionRequestChanges, ActionResubmit)
	}
	return d, d.checkShape()
}

// standing is the approval as the decision rules see it.
func (w *waiting) standing() Standing {
	return Standing{Requester: w.req.Requester, Deciders: w.tally.Deciders, Groups: w.tally.Groups, Votes: w.tally.Votes, Deadline: w.deadline,
		Withdrawable: true, Submitted: true, Stage: w.stage, Round: w.round, ChangesRequested: w.changes, ChangesAllowed: w.req.ChangesAllowed()}
}

// maxRefusals bounds the refused events a status shows: a sender who
// keeps trying cannot grow it without bound.
const maxRefusals = 20

// refuse records an event the rules refused. Nothing else changes.
func (w *waiting) refuse(who string, r *Refusal) {
	w.status.RefusedTotal++
	w.status.Refused = append(w.status.Refused, RefusedEvent{Approver: shorten(who), Reason: r.Reason, Detail: r.Detail,
		At: FormatTime(w.ctx.CurrentTimeUtc)})
	if n := len(w.status.Refused); n > maxRefusals {
		w.status.Refused = append([]RefusedEvent(nil), w.status.Refused[n-maxRefusals:]...)
	}
}

// shorten keeps what a status repeats from a sender to a readable size.
func shorten(s string) string {
	if len(s) <= MaxNameBytes {
		return s
	}
	for i := MaxNameBytes; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "…"
		}
	}
	return ""
}

// apply takes one event the rules allow: a withdrawal ends the request, a
// request for changes or a resubmission ends or starts a round, a
// decision is recorded and may decide its stage or the request.
func (w *waiting) apply(d Decision, in ProcessInput) (Outcome, bool, error) {
	switch d.Action {
	case ActionWithdraw:
		w.endStage(StatusWithdrawn)
		in.IsApproved, in.Withdrawn, in.Decisions = false, true, w.allVotes()
		out, err := w.process(in)
		return out, true, err
	case ActionRequestChanges:
		w.requestChanges(in)
		return Outcome{}, false, nil
	case ActionResubmit:
		w.resubmit(d, in)
		return Outcome{}, false, nil
	}
	if w.stage == 0 && !w.tally.Counts() {
		// The sample's rule: the first decision is the outcome.
		out, err := w.process(in)
		return out, true, err
	}
	// The group the vote counts for is the rules', never the sender's
	// spelling; take has checked that there is one.
	v := d.vote(FormatTime(w.ctx.CurrentTimeUtc))
	v.Group, _ = w.standing().CountsFor(d.Attempt(time.Time{}))
	v.Stage, v.Round = w.stage, w.round
	w.tally.Add(v)
	w.stageVote(v)
	w.status.Decisions = w.tally.Votes
	decided, approved := w.tally.Result()
	if !decided {
		return Outcome{}, false, nil
	}
	// The outcome names the person whose decision settled it.
	return w.stageDecided(approved, in)
}

func (w *waiting) process(in ProcessInput) (Outcome, error) {
	in.Trail = w.status.trail()
	var out Outcome
	if err := w.ctx.CallActivity(ProcessActivityName, task.WithActivityInput(in)).Await(&out); err != nil {
		return Outcome{}, fmt.Errorf("process approval: %w", err)
	}
	return out, nil
}

// remind re-notifies the approvers who have not decided. The notification
// is not awaited: a failing notifier never holds up a decision.
func (w *waiting) remind() {
	if !w.changes {
		// Nobody can decide while the requester makes changes.
		w.status.RemindersSent++
		w.notify(NoticeReminder, w.status.RemindersSent, w.tally.Pending())
	}
	w.nextReminder = w.nextReminder.Add(w.deciding().RemindInterval())
	if !w.nextReminder.Before(w.deadline) {
		w.nextReminder = time.Time{}
	}
	w.status.NextReminderAt = formatOptional(w.nextReminder)
}

// escalate brings the escalation's people in as deciders and tells them.
func (w *waiting) escalate() {
	added := w.deciding().escalationOnly()
	w.tally.Deciders = append(append([]string(nil), w.tally.Deciders...), added...)
	w.tally.Reserve = 0
	w.status.Approvers = w.tally.Deciders
	w.status.EscalatedAt, w.status.EscalatesAt = FormatTime(w.escalation), ""
	w.escalation = time.Time{}
	if w.stage > 0 {
		w.status.Stages[w.stage-1].Approvers = w.tally.Deciders
	}
	if !w.changes {
		// Nobody can decide while the requester makes changes; a
		// resubmission tells the stage's people again.
		w.notify(NoticeEscalation, 1, added)
	}
}

// notify schedules notices to people; a request's first notice also goes
// out when nobody is named, as one notice with the page's link.
func (w *waiting) notify(kind NoticeKind, occasion int, to []string) {
	in := NotifyInput{Request: w.req, Kind: kind, Approvers: to, ExpiresAt: w.status.ExpiresAt, Occasion: occasion, Stage: w.stage}
	if kind == NoticeRequest || kind == NoticeReminder {
		in.Groups, in.Voted = w.tally.groupsNeeding()
	}
	// A reminder with nobody named left to tell still reaches the members
	// of groups that need approvals. No approval waiting from before
	// groups has any, so none of their histories changes.
	if len(to) == 0 && len(in.Groups) == 0 && kind != NoticeRequest {
		return
	}
	w.ctx.CallActivity(NotifyActivityName, task.WithActivityInput(in))
}

// publish sets the custom status: what the API and the pages show while
// the approval waits.
func (w *waiting) publish() error {
	status, err := json.Marshal(w.status)
	if err != nil {
		return fmt.Errorf("encode custom status: %w", err)
	}
	w.ctx.SetCustomStatus(string(status))
	return nil
}
