package approval

import (
	"fmt"
	"strings"
	"testing"
)

func TestBulkDecisionRequestValidate(t *testing.T) {
	yes := true
	item := func(id, key string) BulkItem { return BulkItem{ID: id, Approved: &yes, IdempotencyKey: key} }
	many := make([]BulkItem, MaxBulkItems+1)
	for i := range many {
		many[i] = item(fmt.Sprint("a-", i), fmt.Sprint("k-", i))
	}
	for _, c := range []struct {
		name  string
		items []BulkItem
		says  string
	}{
		{"one", []BulkItem{item("a", "k")}, ""},
		{"the most", many[:MaxBulkItems], ""},
		{"an item without approved is the item's to answer", []BulkItem{{ID: "a", IdempotencyKey: "k"}}, ""},
		{"none", nil, "are required"},
		{"too many", many, "at most 100"},
		{"no id", []BulkItem{item("a", "k"), item("", "k2")}, "item 2 has no id"},
		{"no key", []BulkItem{item("a", "")}, "item 1 has no idempotency_key"},
		{"long key", []BulkItem{item("a", strings.Repeat("k", MaxIdempotencyKey+1))}, "longer than 200 bytes"},
		{"key twice", []BulkItem{item("a", "k"), item("b", "k")}, "items 1 and 2 have the same idempotency_key"},
		{"approval twice", []BulkItem{item("a", "k"), item("b", "k2"), item("a", "k3")}, `items 1 and 3 both decide "a"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := BulkDecisionRequest{Approver: "bob", Items: c.items}.Validate()
			switch {
			case c.says == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.says != "" && (err == nil || !strings.Contains(err.Error(), c.says)):
				t.Fatalf("got %v, want %q", err, c.says)
			case err != nil:
				if fe, ok := AsFieldError(err); !ok || fe.Field != "items" {
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
