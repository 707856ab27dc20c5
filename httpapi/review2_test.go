package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

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

// Hostile delegation bodies are refused, naming the field at fault where
// there is one, and nothing reaches a ledger: neither the delegator's nor
// the delegate's list shows anything afterwards.
func TestHostileDelegationsChangeNothing(t *testing.T) {
	e := newDelegatingAPI(t, httpapi.Options{})
	now := time.Now()
	from, until := rfc3339(now), rfc3339(now.Add(24*time.Hour))
	valid := `"delegator":"alice","to":"bob","from":"` + from + `","until":"` + until + `"`
	for name, c := range map[string]struct {
		body  string
		code  int
		field string
	}{
		"a duplicate key":        {`{` + valid + `,"to":"carol"}`, 400, "to"},
		"a key in another case":  {`{` + valid + `,"To":"carol"}`, 400, "To"},
		"an unknown field":       {`{` + valid + `,"acting_for":"x"}`, 400, "acting_for"},
		"invalid UTF-8":          {`{` + valid + `,"note":"` + "\xff\xfe" + `"}`, 400, "note"},
		"a lone surrogate":       {`{` + valid + `,"note":"\ud800"}`, 400, "note"},
		"a number for a name":    {`{"delegator":"alice","to":5,"from":"` + from + `","until":"` + until + `"}`, 400, "to"},
		"a date that is not one": {`{"delegator":"alice","to":"bob","from":"2026-13-01T00:00:00Z","until":"` + until + `"}`, 400, "from"},
		"a date without a zone":  {`{"delegator":"alice","to":"bob","from":"2026-12-01T00:00:00","until":"` + until + `"}`, 400, "from"},
		"from after until":       {`{"delegator":"alice","to":"bob","from":"` + until + `","until":"` + from + `"}`, 400, "until"},
		"a range too long":       {`{"delegator":"alice","to":"bob","from":"` + from + `","until":"9999-12-31T23:59:59Z"}`, 400, "until"},
		"a range long past":      {`{"delegator":"alice","to":"bob","from":"2001-01-01T00:00:00Z","until":"2001-01-02T00:00:00Z"}`, 400, "until"},
		"a control character":    {`{"delegator":"alice","to":"bob\u0007","from":"` + from + `","until":"` + until + `"}`, 400, "to"},
		"an inner tab":           {`{"delegator":"ali\tce","to":"bob","from":"` + from + `","until":"` + until + `"}`, 400, "delegator"},
		"a bidi override":        {`{"delegator":"alice","to":"bob\u202e","from":"` + from + `","until":"` + until + `"}`, 400, "to"},
		"a note too long":        {`{` + valid + `,"note":"` + strings.Repeat("x", approval.MaxNoteBytes+1) + `"}`, 400, "note"},
		"a body too large":       {`{` + valid + `,"note":"` + strings.Repeat("x", httpapi.MaxBodyBytes) + `"}`, 413, ""},
		"not an object":          {`["alice","bob"]`, 400, ""},
		"two values":             {`{` + valid + `}{` + valid + `}`, 400, ""},
	} {
		r := e.send(t, httpapi.DelegationsPath, "application/json", c.body)
		if r.code != c.code || r.body["field"] != nilIfEmpty(c.field) {
			t.Errorf("%s: %d %.300s; want %d naming %q", name, r.code, r.raw, c.code, c.field)
		}
	}
	for _, who := range []string{"alice", "bob", "carol"} {
		r := e.do(t, http.MethodGet, httpapi.DelegationsPath+"?person="+who, "", "")
		if r.code != http.StatusOK || len(r.body["given"].([]any))+len(r.body["received"].([]any)) != 0 {
			t.Errorf("%s's delegations after hostile bodies: %d %s", who, r.code, r.raw)
		}
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
