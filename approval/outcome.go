package approval

import "encoding/json"

// Outcome is the orchestration output: the processed decision, or a timeout.
type Outcome struct {
	RequestID   string `json:"request_id"`
	Status      Status `json:"status"`
	ProcessedAt string `json:"processed_at,omitempty"`
	Approver    string `json:"approver,omitempty"`
	Comments    string `json:"comments,omitempty"`
	TimedOutAt  string `json:"timed_out_at,omitempty"`
	// ApproverIdentity is the canonical form Approver was compared by,
	// when it differs from the name as given; ApproverOID the principal's
	// object id, when known.
	ApproverIdentity string `json:"approver_identity,omitempty"`
	ApproverOID      string `json:"approver_oid,omitempty"`
	// Channel and Auth are the deciding decision's (see Decision), so that
	// the audit of an approval decided by one decision, which records no
	// vote, still says how it came and who vouched for its sender.
	Channel Channel `json:"channel,omitempty"`
	Auth    Auth    `json:"auth,omitempty"`
	// ActingFor is the person Approver decided for, by delegation.
	ActingFor string `json:"acting_for,omitempty"`
	// commentsUnknown says the worker that recorded the outcome left
	// comments out, as the sample's process_approval does.
	commentsUnknown bool
	// Decisions are every approver's recorded decision, for a request with
	// a policy; empty for the sample's single decision.
	Decisions []Vote `json:"decisions,omitempty"`
	Trail
}

// Trail is what a request went through on its way to an outcome: its
// stages, the rounds it was sent back for changes, and its item as last
// resubmitted, as Submission publishes them while the request waits. The
// process input carries it to the outcome as one value. Embedded, its
// fields stand in the JSON where they are declared, after decisions.
type Trail struct {
	Stages []StageProgress `json:"stages,omitempty"`
	Rounds []ChangeRound   `json:"rounds,omitempty"`
	Item   string          `json:"item,omitempty"`
}

// CommentsRecorded reports whether the worker that recorded the outcome
// said what the comments were: the sample's own process_approval does
// not, and then no comments is not the same as empty ones.
func (o Outcome) CommentsRecorded() bool { return !o.commentsUnknown }

// MarshalJSON writes exactly the fields the wire contract gives each kind of
// outcome: a processed decision always carries approver and comments, even
// empty ones, unless the worker that recorded it left comments out (the
// sample's process_approval does), when the outcome does not claim any; a
// timeout carries only its time.
func (o Outcome) MarshalJSON() ([]byte, error) {
	if o.Status == StatusTimeout {
		return json.Marshal(struct {
			RequestID  string `json:"request_id"`
			Status     Status `json:"status"`
			TimedOutAt string `json:"timed_out_at"`
			Decisions  []Vote `json:"decisions,omitempty"`
			Trail
		}{o.RequestID, o.Status, o.TimedOutAt, o.Decisions, o.Trail})
	}
	comments := &o.Comments
	if o.commentsUnknown {
		comments = nil
	}
	return json.Marshal(struct {
		RequestID        string  `json:"request_id"`
		Status           Status  `json:"status"`
		ProcessedAt      string  `json:"processed_at"`
		Approver         string  `json:"approver"`
		Comments         *string `json:"comments,omitempty"`
		ApproverIdentity string  `json:"approver_identity,omitempty"`
		ApproverOID      string  `json:"approver_oid,omitempty"`
		Channel          Channel `json:"channel,omitempty"`
		Auth             Auth    `json:"auth,omitempty"`
		ActingFor        string  `json:"acting_for,omitempty"`
		Decisions        []Vote  `json:"decisions,omitempty"`
		Trail
	}{o.RequestID, o.Status, o.ProcessedAt, o.Approver, comments, o.ApproverIdentity, o.ApproverOID, o.Channel, o.Auth, o.ActingFor,
		o.Decisions, o.Trail})
}

// ProcessInput is the input of the process activity, with defaults applied.
type ProcessInput struct {
	RequestID  string `json:"request_id"`
	IsApproved bool   `json:"is_approved"`
	Approver   string `json:"approver"`
	Comments   string `json:"comments"`
	// Withdrawn records a withdrawal by Approver instead of a decision.
	Withdrawn   bool   `json:"withdrawn,omitempty"`
	Decisions   []Vote `json:"decisions,omitempty"`
	ApproverOID string `json:"approver_oid,omitempty"`
	// Channel and Auth are the decision's, for the outcome to record.
	Channel   Channel `json:"channel,omitempty"`
	Auth      Auth    `json:"auth,omitempty"`
	ActingFor string  `json:"acting_for,omitempty"`
	Trail
}

// identity is the canonical form of the approver's name, when it differs
// from the name as given: what the outcome records beside it.
func (in ProcessInput) identity() string { return IdentityOf(in.Approver) }
