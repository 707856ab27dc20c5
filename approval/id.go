package approval

import (
	"fmt"
	"regexp"
	"strings"
)

// MaxIDLength is the Durable Task Scheduler's limit on an instance ID, in
// characters (all ASCII here).
const MaxIDLength = 100

// callbackSuffix ends the instance ID of an approval's callback
// orchestration (CallbackInstanceID).
const callbackSuffix = ":callback"

// idChars is stricter than the scheduler, which takes any printable ASCII
// but '@': an ID goes into URLs, log lines and pages, and these characters
// need no escaping in any of them.
var idChars = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]*$`)

// ValidateID reports whether id may name an approval: an instance ID the
// scheduler accepts, in the characters above, and not one that names
// another approval's callback orchestration, which a start under that ID
// would take the place of.
func ValidateID(id string) error {
	if len(id) > MaxIDLength || !idChars.MatchString(id) {
		return &FieldError{Field: "request_id",
			Reason: fmt.Sprintf("must be 1 to %d letters, digits, '.', '_', ':' or '-', starting with a letter or digit", MaxIDLength)}
	}
	if strings.HasPrefix(id, DelegationsIDPrefix) {
		return &FieldError{Field: "request_id", Reason: fmt.Sprintf("must not begin with %q, which names the delegations of a person", DelegationsIDPrefix)}
	}
	if parent, ok := strings.CutSuffix(id, callbackSuffix); ok {
		return &FieldError{Field: "request_id",
			Reason: fmt.Sprintf("must not end in %q: %q is the ID of the callback orchestration of approval %q", callbackSuffix, id, parent)}
	}
	return nil
}
