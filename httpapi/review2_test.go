package httpapi_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/httpapi"
)

// The inbox is a people's route, anonymous to the Functions host: a
// decision from its form was vouched for by no function key, whatever
// the machine routes sit behind, and its outcome must not say one was.
func TestInboxBulkFormIsNotVouchedForByAFunctionKey(t *testing.T) {
	e := newAPIWith(t, httpapi.Options{FunctionKeys: true})
	e.startFor(t, "inbox-auth", "Laptop", "bob")
	e.until(t, "inbox-auth", submitted)
	form := url.Values{"id": {"inbox-auth"}, "approved": {"true"}, "approver": {"bob"}}
	if r := e.postForm(t, approval.ReviewPath, form); r.code != http.StatusOK {
		t.Fatalf("the inbox's form = %d %s", r.code, r.raw)
	}
	wantRecorded(t, e.until(t, "inbox-auth", finished), "bulk", "development")
}
