package approval

import "fmt"

// MaxTextBytes bounds each free text an event carries (comments, an
// item). The handler's body limit keeps its own events under it; an
// event raised directly on the scheduler has no such limit, and what the
// orchestrator records is published, and replayed, at every step.
const MaxTextBytes = 64 << 10

// checkShape refuses an event the handler would not have sent: text over
// the bound, a sender's label longer than a name, a withdrawal or a
// resubmission made for another, and a request for changes or a
// resubmission its own Validate refuses.
func (d Decision) checkShape() error {
	for _, f := range []struct {
		name, value string
		max         int
	}{
		{"comments", d.Comments, MaxTextBytes},
		{"item", d.Item, MaxTextBytes},
		{"approver_oid", d.ApproverOID, MaxNameBytes},
		{"channel", string(d.Channel), MaxNameBytes},
		{"auth", string(d.Auth), MaxNameBytes},
	} {
		if len(f.value) > f.max {
			return fmt.Errorf("the %s event's %s is longer than %d bytes", DecisionEventName, f.name, f.max)
		}
	}
	if d.ActingFor != "" && (d.Action == ActionWithdraw || d.Action == ActionResubmit) {
		return fmt.Errorf("the %s event's acting_for is set on a %s, which only the requester makes, for nobody else", DecisionEventName, d.Action)
	}
	var err error
	switch d.Action {
	case ActionRequestChanges:
		err = ChangesRequest{Comments: d.Comments}.Validate()
	case ActionResubmit:
		err = ResubmitRequest{Item: d.Item}.Validate()
	}
	if err != nil {
		return fmt.Errorf("the %s event's %w", DecisionEventName, err)
	}
	return nil
}
