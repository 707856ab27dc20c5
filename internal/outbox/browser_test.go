package outbox_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/internal/browsertest"
	"github.com/approvals-go/approvals/internal/outbox"
)

func TestMain(m *testing.M) { browsertest.Main(m) }

// The outbox page, empty and with notices, passes axe-core with no
// violation, on a desktop and on a phone.
func TestAxeOutbox(t *testing.T) {
	box := &outbox.Outbox{}
	srv := httptest.NewServer(box)
	t.Cleanup(srv.Close)
	check := func(what string, notices int) {
		t.Helper()
		for _, size := range browsertest.Sizes {
			ctx := browsertest.Tab(t, size.Width, size.Height, 60*time.Second)
			browsertest.Do(t, ctx, chromedp.Navigate(srv.URL+outbox.Path))
			if n := browsertest.Run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("li").length`)); n != notices {
				t.Fatalf("the outbox page lists %d notices, want %d", n, notices)
			}
			browsertest.Axe(t, ctx, what+" ("+size.Name+")")
		}
	}
	check("the empty outbox", 0)
	for _, n := range []approval.Notice{
		{Request: approval.Request{RequestID: "EXP-2041", Requester: "ana", Item: "Laptop"}, Approver: "bob", URL: srv.URL + "/api/review/EXP-2041?token=x", Signed: true, ExpiresAt: time.Now().Add(time.Hour)},
		{Request: approval.Request{RequestID: "EXP-2042", Requester: "ana", Item: "Desk"}, URL: srv.URL + "/api/review/EXP-2042", ExpiresAt: time.Now().Add(time.Hour)},
		{Kind: approval.NoticeReminder, Occasion: 1, Request: approval.Request{RequestID: "EXP-2041", Requester: "ana", Item: "Laptop"}, Approver: "bob", URL: srv.URL + "/api/review/EXP-2041?token=y", Signed: true, ExpiresAt: time.Now().Add(time.Hour)},
	} {
		if err := box.NotifyApprover(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	check("the outbox", 3)
}
