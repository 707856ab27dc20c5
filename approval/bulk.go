package approval

import "fmt"

// MaxBulkItems bounds the decisions of one bulk call: enough for an
// inbox's page, few enough that the call is answered within the time a
// Functions HTTP trigger and a Logic App wait.
const MaxBulkItems = 100

// MaxIdempotencyKey bounds an item's idempotency key, in bytes.
const MaxIdempotencyKey = 200

// BulkDecisionRequest is several decisions by one person in one call.
// Each item is decided under its own approval's rules, as if sent alone;
// Approver is, as in DecisionRequest, only the name the body gives.
type BulkDecisionRequest struct {
	Approver string     `json:"approver"`
	Items    []BulkItem `json:"items"`
}

// BulkItem is one decision of a bulk call. IdempotencyKey names it in the
// answer, which echoes it; a retried call sends the same keys.
type BulkItem struct {
	ID             string `json:"id"`
	Approved       *bool  `json:"approved"`
	Comments       string `json:"comments"`
	IdempotencyKey string `json:"idempotency_key"`
}

// Validate reports what makes the call as a whole unusable: no items, too
// many, or items that cannot be told apart in the answer (a missing or
// repeated key) or that would race each other (an approval named twice).
// A fault of one item's decision (approved missing) is that item's, and
// is answered for it alone (see BulkItem.DecisionRequest).
func (b BulkDecisionRequest) Validate() error {
	switch {
	case len(b.Items) == 0:
		return &FieldError{Field: "items", Reason: "are required: a JSON array of {id, approved, comments, idempotency_key}"}
	case len(b.Items) > MaxBulkItems:
		return &FieldError{Field: "items", Reason: fmt.Sprintf("are %d; send at most %d in one call", len(b.Items), MaxBulkItems)}
	}
	keys := map[string]int{}
	ids := map[string]int{}
	for i, it := range b.Items {
		n := i + 1
		switch {
		case it.ID == "":
			return &FieldError{Field: "items", Reason: fmt.Sprintf("item %d has no id", n)}
		case it.IdempotencyKey == "":
			return &FieldError{Field: "items", Reason: fmt.Sprintf("item %d has no idempotency_key; each item needs its own", n)}
		case len(it.IdempotencyKey) > MaxIdempotencyKey:
			return &FieldError{Field: "items", Reason: fmt.Sprintf("item %d: idempotency_key is longer than %d bytes", n, MaxIdempotencyKey)}
		}
		if first, ok := ids[it.ID]; ok {
			return &FieldError{Field: "items", Reason: fmt.Sprintf("items %d and %d both decide %q; a call decides each approval once", first, n, it.ID)}
		}
		if first, ok := keys[it.IdempotencyKey]; ok {
			return &FieldError{Field: "items", Reason: fmt.Sprintf("items %d and %d have the same idempotency_key; keys are unique within a call", first, n)}
		}
		keys[it.IdempotencyKey], ids[it.ID] = n, n
	}
	return nil
}

// DecisionRequest is the item as a single decision by approver: what the
// decision route would have been sent. It is validated as that route
// validates it.
func (it BulkItem) DecisionRequest(approver string) DecisionRequest {
	return DecisionRequest{Approved: it.Approved, Approver: approver, Comments: it.Comments}
}
