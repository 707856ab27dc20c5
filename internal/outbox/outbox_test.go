package outbox_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/internal/outbox"
)

// The outbox keeps the newest Max notices, newest first.
func TestOutboxKeepsTheNewest(t *testing.T) {
	box := &outbox.Outbox{Max: 3}
	for i := range 5 {
		n := approval.Notice{Request: approval.Request{RequestID: fmt.Sprint(i)}, Approver: "bob", URL: "http://localhost/x"}
		if err := box.NotifyApprover(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	got := box.Entries()
	if len(got) != 3 || got[0].RequestID != "4" || got[2].RequestID != "2" || got[0].Kind != approval.NoticeRequest {
		t.Fatalf("entries = %+v", got)
	}
}
