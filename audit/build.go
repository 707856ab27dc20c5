package audit

import (
	"errors"
	"slices"
	"time"

	"github.com/approvals-go/approvals/approval"
)

// ErrPending is asked of an approval still waiting: its trail is sealed
// when it ends, and not before, so that a seal always covers a whole story.
var ErrPending = errors.New("the approval is still pending: its audit trail is sealed when it ends")

// Actions an entry records, as a person reads them.
const (
	ActionApprove  = "approve"
	ActionReject   = "reject"
	ActionWithdraw = approval.ActionWithdraw
)

// Of is the audit of an approval, built only from what the scheduler
// recorded for it (its input, the votes it published, its outcome or how
// it ended), unchained: the request, each decision and round of changes
// in the order they happened (as the orchestrator recorded them when two
// share an instant), and, once it has ended, how. It reads no clock, so
// the same approval gives the same entries every time.
func Of(st approval.State) []Entry {
	req := st.Request
	entries := []Entry{{Approval: st.ID, At: approval.FormatTime(st.CreatedAt), Event: EventRequested,
		Actor: req.Requester, Identity: approval.IdentityOf(req.Requester), Status: string(approval.StatusPending), Item: req.Item}}
	votes, rounds := st.Votes(), st.Progress.Rounds
	if st.Result != nil && len(st.Result.Rounds) > 0 {
		rounds = st.Result.Rounds
	}
	var happened []Entry
	for _, v := range votes {
		happened = append(happened, decided(st.ID, v))
	}
	for _, r := range rounds {
		// A round of a request without stages keeps the votes it had
		// when sent back; the outcome holds only the last round's.
		for _, v := range r.Decisions {
			happened = append(happened, decided(st.ID, v))
		}
		happened = append(happened, Entry{Approval: st.ID, At: r.RequestedAt, Event: EventChangesRequested, Actor: r.RequestedBy,
			Identity: approval.IdentityOf(r.RequestedBy), ActingFor: r.ActingFor, Stage: r.Stage, Round: r.Round, Channel: string(r.Channel),
			Auth: string(r.Auth), Comments: r.Comments})
		if r.ResubmittedAt != "" {
			happened = append(happened, Entry{Approval: st.ID, At: r.ResubmittedAt, Event: EventResubmitted, Actor: req.Requester,
				Identity: approval.IdentityOf(req.Requester), Stage: r.Stage, Round: r.Round, Channel: string(r.ResubmitChannel),
				Auth: string(r.ResubmitAuth), Comments: r.Answer, Item: r.Item})
		}
	}
	// RFC 3339 text with fractions of a second does not sort as the
	// instants it names ("…:00.5Z" before "…:00Z"), so compare instants.
	slices.SortStableFunc(happened, func(a, b Entry) int { return instant(a.At).Compare(instant(b.At)) })
	entries = append(entries, happened...)
	if out := st.Result; out != nil {
		// One decision decides an approval without a policy, and
		// records no vote: the outcome is its only record. A withdrawal
		// is never a vote.
		if out.Status == approval.StatusWithdrawn || len(out.Decisions) == 0 && out.Approver != "" {
			action := verdict(out.Status == approval.StatusApproved)
			if out.Status == approval.StatusWithdrawn {
				action = ActionWithdraw
			}
			entries = append(entries, Entry{Approval: st.ID, At: out.ProcessedAt, Event: EventDecided, Actor: out.Approver,
				Identity: out.ApproverIdentity, ObjectID: out.ApproverOID, ActingFor: out.ActingFor, Channel: string(out.Channel), Auth: string(out.Auth),
				Action: action, Comments: out.Comments})
		}
	}
	if st.Pending() {
		return entries
	}
	return append(entries, Entry{Approval: st.ID, At: approval.FormatTime(endedAt(st)), Event: EventEnded,
		Status: string(st.Status), Comments: st.Error})
}

// endedAt is when the approval ended: the outcome's own time, or, for an
// approval ended without one (terminated, failed), the scheduler's last
// update, which a finished instance never changes.
func endedAt(st approval.State) time.Time {
	if out := st.Result; out != nil {
		at := out.ProcessedAt
		if out.Status == approval.StatusTimeout {
			at = out.TimedOutAt
		}
		if t, err := time.Parse(time.RFC3339Nano, at); err == nil {
			return t
		}
	}
	return st.LastUpdatedAt
}

// decided is the entry of vote v on approval id.
func decided(id string, v approval.Vote) Entry {
	return Entry{Approval: id, At: v.At, Event: EventDecided, Actor: v.Approver, Identity: v.Identity, ObjectID: v.ObjectID,
		ActingFor: v.ActingFor, Group: v.Group, Stage: v.Stage, Round: v.Round, Channel: string(v.Channel), Auth: string(v.Auth),
		Action: verdict(v.Approved), Comments: v.Comments}
}

// instant reads an entry's time; one that does not read sorts first.
func instant(at string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, at)
	return t
}

func verdict(approved bool) string {
	if approved {
		return ActionApprove
	}
	return ActionReject
}

// Trail is the sealed audit of an ended approval. The seal is dated when
// the approval ended, not when it is asked for, and Ed25519 signs
// deterministically, so the same approval sealed with the same key is the
// same bytes every time: a trail exported twice is one trail.
func (s *Signer) Trail(st approval.State) (Trail, error) {
	if st.Pending() {
		return Trail{}, ErrPending
	}
	return s.Seal(st.ID, Of(st), endedAt(st)), nil
}
