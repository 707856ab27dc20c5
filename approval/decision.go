package approval

// Decision is the payload of the approval_response event. Pointers tell a
// missing field from a zero one so that the sample's defaults apply.
type Decision struct {
	IsApproved   *bool   `json:"is_approved,omitempty"`
	Approver     *string `json:"approver,omitempty"`
	Comments     string  `json:"comments"`
	ResponseTime string  `json:"response_time,omitempty"`
	// ApproverOID is the signed-in principal's stable object id, when the
	// identity came from App Service Authentication.
	ApproverOID string `json:"approver_oid,omitempty"`
	// Action is empty for a decision. ActionWithdraw takes the request
	// back: Approver is then who withdrew it and Comments the reason. It
	// travels as the same event because an orchestrator can wait for only
	// one event name at a time.
	Action string `json:"action,omitempty"`

	// ActingFor is the person the approver decides for, by delegation.
	ActingFor string `json:"acting_for,omitempty"`
	// Group is the approver group the approver decides as a member of,
	// when they chose one; Groups are the groups the handler found the
	// approver's principal (or the development groups file) to hold.
	Group  string   `json:"group,omitempty"`
	Groups []string `json:"groups,omitempty"`
	// Stage and Round are the stage (from 1) and round of changes (from
	// 1) the approver saw when deciding: a decision meant for a stage or
	// round that has passed is refused rather than counted in the next.
	Stage int `json:"stage,omitempty"`
	Round int `json:"round,omitempty"`
	// Item is the request's item as the requester edited it, on
	// ActionResubmit.
	Item string `json:"item,omitempty"`
	// Channel is how the decision reached the API and Auth how its
	// sender was known: the audit trail records both.
	Channel Channel `json:"channel,omitempty"`
	Auth    Auth    `json:"auth,omitempty"`
}

// The actions a Decision may carry besides a decision (no action).
// ActionWithdraw takes the request back. ActionRequestChanges sends it
// back to its requester with the approver's comments, and
// ActionResubmit is the requester sending it again, edited.
const (
	ActionWithdraw       = "withdraw"
	ActionRequestChanges = "request_changes"
	ActionResubmit       = "resubmit"
)

// Channel is how a decision reached the API.
type Channel string

// The channels.
const (
	ChannelAPI       Channel = "api"
	ChannelPage      Channel = "page"
	ChannelBulk      Channel = "bulk"
	ChannelDashboard Channel = "dashboard"
)

// Auth is how the sender of a decision was known.
type Auth string

// The ways a sender is known.
const (
	AuthFunctionKey Auth = "function_key"
	AuthSignIn      Auth = "sign_in"
	AuthSignedLink  Auth = "signed_link"
	AuthDevelopment Auth = "development"
)

// String says what d decides and by whom, as a person reads it: "Approved
// by bob: “fine”", with the sample's defaults applied as processInput
// applies them; a withdrawal reads "Withdrawn by ana", a request for
// changes "Changes requested by bob", a resubmission "Resubmitted by ana".
func (d Decision) String() string {
	in := d.processInput("")
	verdict := "Rejected"
	switch {
	case d.Action == ActionWithdraw:
		verdict = "Withdrawn"
	case d.Action == ActionRequestChanges:
		verdict = "Changes requested"
	case d.Action == ActionResubmit:
		verdict = "Resubmitted"
	case in.IsApproved:
		verdict = "Approved"
	}
	who := in.Approver
	if who == "" {
		who = UnknownApprover
	}
	s := verdict + " by " + who
	if d.ActingFor != "" {
		s += " for " + d.ActingFor
	}
	if in.Comments != "" {
		s += ": “" + in.Comments + "”"
	}
	return s
}

// vote is d recorded at at, with the sample's defaults applied.
func (d Decision) vote(at string) Vote {
	in := d.processInput("")
	return Vote{Approver: in.Approver, Identity: in.identity(), ObjectID: in.ApproverOID, Approved: in.IsApproved,
		Comments: in.Comments, At: at, ActingFor: d.ActingFor, Group: d.Group, Stage: d.Stage, Round: d.Round,
		Channel: d.Channel, Auth: d.Auth}
}

// processInput applies the sample's defaults: a decision that does not say
// it approves is a rejection, and an unnamed approver is "Unknown".
func (d Decision) processInput(requestID string) ProcessInput {
	in := ProcessInput{RequestID: requestID, Approver: UnknownApprover, Comments: d.Comments}
	if d.IsApproved != nil {
		in.IsApproved = *d.IsApproved
	}
	if d.Approver != nil {
		in.Approver = *d.Approver
	}
	in.ApproverOID, in.Channel, in.Auth, in.ActingFor = d.ApproverOID, d.Channel, d.Auth, d.ActingFor
	return in
}
