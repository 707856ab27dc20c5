package approval_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/approvals-go/approvals/approval"
)

func TestBulkDecisionRequestValidate(t *testing.T) {
	yes := true
	item := func(id, key string) approval.BulkItem {
		return approval.BulkItem{ID: id, Approved: &yes, IdempotencyKey: key}
	}
	many := make([]approval.BulkItem, approval.MaxBulkItems+1)
	for i := range many {
		many[i] = item(fmt.Sprint("a-", i), fmt.Sprint("k-", i))
	}
	for _, c := range []struct {
		name  string
		items []approval.BulkItem
		says  string
	}{
		{"one", []approval.BulkItem{item("a", "k")}, ""},
		{"the most", many[:approval.MaxBulkItems], ""},
		{"an item without approved is the item's to answer", []approval.BulkItem{{ID: "a", IdempotencyKey: "k"}}, ""},
		{"none", nil, "are required"},
		{"too many", many, "at most 100"},
		{"no id", []approval.BulkItem{item("a", "k"), item("", "k2")}, "item 2 has no id"},
		{"no key", []approval.BulkItem{item("a", "")}, "item 1 has no idempotency_key"},
		{"long key", []approval.BulkItem{item("a", strings.Repeat("k", approval.MaxIdempotencyKey+1))}, "longer than 200 bytes"},
		{"key twice", []approval.BulkItem{item("a", "k"), item("b", "k")}, "items 1 and 2 have the same idempotency_key"},
		{"approval twice", []approval.BulkItem{item("a", "k"), item("b", "k2"), item("a", "k3")}, `items 1 and 3 both decide "a"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := approval.BulkDecisionRequest{Approver: "bob", Items: c.items}.Validate()
			switch {
			case c.says == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.says != "" && (err == nil || !strings.Contains(err.Error(), c.says)):
				t.Fatalf("got %v, want %q", err, c.says)
			case err != nil:
				if fe, ok := approval.AsFieldError(err); !ok || fe.Field != "items" {
					t.Fatalf("%v names no field items", err)
				}
			}
		})
	}
	d := item("a", "k").DecisionRequest("bob")
	if d.Approver != "bob" || d.Approved == nil || !*d.Approved || d.Validate() != nil {
		t.Fatalf("the item as a decision: %+v", d)
	}
}
