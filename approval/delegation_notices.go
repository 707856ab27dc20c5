package approval

import (
	"context"
	"time"
)

// NoticeDelegated tells a delegator that their delegates were asked to
// decide a request for them.
const NoticeDelegated NoticeKind = "delegated"

// DelegationReader opens the delegations for one activity's reads. The
// worker reads them from the scheduler it is connected to (see
// internal/delegations).
type DelegationReader interface {
	Source(ctx context.Context) DelegationSource
}

// delegateNotices are the notices that follow the ones to approvers (to)
// by delegation at now: to each delegate, directly or through a chain,
// the same notice with a link signed for them, to decide for the
// approver; and to the approver, one saying who was asked. A delegate who
// is an approver or escalation's person in their own right decides as
// themselves and is not asked again; the requester is never asked. What
// cannot be read is logged, and the approvers' own notices go out as
// they would have.
func (a *Activities) delegateNotices(ctx context.Context, in NotifyInput, expires, now time.Time) []Notice {
	req, kind, to := in.Request, in.Kind, in.Approvers
	if a.Delegations == nil || len(to) == 0 {
		return nil
	}
	src := a.Delegations.Source(ctx)
	// Who decides in their own right is the stage's people, for a
	// request with stages, which names nobody at the top.
	deciding := req
	if in.Stage >= 1 && in.Stage <= len(req.Stages) {
		deciding = req.stageRequest(in.Stage - 1)
	}
	own := append(deciding.Deciders(), deciding.EscalateTo...)
	var out []Notice
	for _, approver := range to {
		chains, err := Delegates(src, approver, now, req.Requester)
		if err != nil {
			a.logger().WarnContext(ctx, "delegations not read; the approver is told, their delegates are not",
				"request_id", req.RequestID, "approver", approver, "err", err)
			continue
		}
		var asked []string
		for _, chain := range chains {
			delegate := chain[len(chain)-1].To
			if containsPerson(own, delegate) || SamePerson(delegate, req.Requester) {
				continue
			}
			n := a.notices(req, kind, []string{delegate}, expires)[0]
			n.ActingFor = approver
			out = append(out, n)
			asked = append(asked, delegate)
		}
		if len(asked) > 0 {
			out = append(out, Notice{Request: req, Kind: NoticeDelegated, Approver: approver, Delegates: asked,
				URL: ReviewURL(a.BaseURL, req.RequestID), ExpiresAt: expires})
		}
	}
	return out
}
