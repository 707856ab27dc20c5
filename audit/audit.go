// Package audit keeps what happened to an approval in a form that outlives
// the scheduler: its entries in order, each holding the hash of the one
// before (a chain), and a seal over the last, signed with a key of the
// audit's own. Anyone holding the public key can check that no entry was
// changed, removed, added or reordered since the seal was made; the
// scheduler, which purges finished instances, need not be there.
package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// Entry is one thing that happened to an approval. Seq, Prev and Hash are
// set by Chain; the rest says what happened.
type Entry struct {
	Approval string `json:"approval"`
	Seq      int    `json:"seq"`
	// At is when it happened, RFC 3339 in UTC.
	At string `json:"at"`
	// Event is what happened: one of the Event constants.
	Event string `json:"event"`
	// Actor is the person (or the system) who did it, as given; Identity
	// its canonical form when that differs, ObjectID the signed-in
	// principal's object id when known.
	Actor    string `json:"actor,omitempty"`
	Identity string `json:"identity,omitempty"`
	ObjectID string `json:"oid,omitempty"`
	// ActingFor is whom the actor decided for, by delegation.
	ActingFor string `json:"acting_for,omitempty"`
	// Group is the approver group the actor decided as a member of.
	Group string `json:"group,omitempty"`
	// Stage and Round are the stage and round of changes decided, when
	// the request has them.
	Stage int `json:"stage,omitempty"`
	Round int `json:"round,omitempty"`
	// Channel is how it reached us (api, page, bulk, dashboard) and Auth
	// how the actor was known (function_key, sign_in, signed_link,
	// development): approval.Channel and approval.Auth.
	Channel string `json:"channel,omitempty"`
	Auth    string `json:"auth,omitempty"`
	// Item is what was asked for, on the requested entry, and the item
	// as edited, on a resubmission.
	Item string `json:"item,omitempty"`
	// Action is the decision taken (approve, reject, withdraw), Status the
	// approval's status after it, Comments what the actor wrote.
	Action   string `json:"action,omitempty"`
	Status   string `json:"status,omitempty"`
	Comments string `json:"comments,omitempty"`
	Prev     string `json:"prev"`
	Hash     string `json:"hash"`
}

// Events an entry records.
const (
	EventRequested = "requested"
	EventDecided   = "decided"
	EventEnded     = "ended"
	// A round of changes: an approver sent the request back, and its
	// requester resubmitted it.
	EventChangesRequested = "changes_requested"
	EventResubmitted      = "resubmitted"
)

// Chain numbers entries from 1 and links each to the one before, in the
// order given, and returns them. The first entry's Prev is empty.
func Chain(entries []Entry) []Entry {
	out := make([]Entry, len(entries))
	prev := ""
	for i, e := range entries {
		e.Seq, e.Prev, e.Hash = i+1, prev, ""
		e.Hash = hashOf(e)
		out[i], prev = e, e.Hash
	}
	return out
}

// hashOf is the SHA-256 of the entry's JSON without its own hash. The
// struct's fields marshal in a fixed order, so the bytes, and the hash,
// are the same wherever the entry is read back.
func hashOf(e Entry) string {
	e.Hash = ""
	b, _ := json.Marshal(e) // cannot fail: an Entry holds strings and an int
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Errors a check reports.
var (
	ErrBroken    = errors.New("the audit chain is broken")
	ErrSignature = errors.New("the audit seal's signature does not check")
	ErrUnknown   = errors.New("the audit seal was signed with a key that is not trusted")
)

// checkChain reports the first entry that is not where the chain says it
// should be, or whose hash is not its own.
func checkChain(approval string, entries []Entry) error {
	prev := ""
	for i, e := range entries {
		switch {
		case e.Approval != approval:
			return fmt.Errorf("%w: entry %d belongs to %q, not %q", ErrBroken, i+1, e.Approval, approval)
		case e.Seq != i+1:
			return fmt.Errorf("%w: entry %d is numbered %d", ErrBroken, i+1, e.Seq)
		case e.Prev != prev:
			return fmt.Errorf("%w: entry %d does not follow entry %d", ErrBroken, e.Seq, e.Seq-1)
		case e.Hash != hashOf(e):
			return fmt.Errorf("%w: entry %d was changed after it was chained", ErrBroken, e.Seq)
		}
		prev = e.Hash
	}
	return nil
}
