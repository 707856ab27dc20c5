package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/approvals-go/approvals/approval"
)

// A template that fails halfway is a clean 500, not half a page.
func TestRenderFailureIsA500(t *testing.T) {
	rec := httptest.NewRecorder()
	err := render(rec, http.StatusOK, "approval", frame{Now: time.Now(), Page: "not an approval"})
	if err == nil || rec.Code != http.StatusInternalServerError {
		t.Fatalf("render = %v, code %d", err, rec.Code)
	}
	if body := rec.Body.String(); strings.Contains(body, "<") || rec.Header().Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("a failed page answered %q as %s", body, rec.Header().Get("Content-Type"))
	}
}

func TestWantsHTML(t *testing.T) {
	for accept, want := range map[string]bool{
		"":                 false,
		"*/*":              false,
		"application/json": false,
		"text/html":        true,
		"text/*":           true,
		"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8": true,
		"application/json, text/html":                                     false,
		"text/html;q=0.9, application/json":                               false,
		"text/html, application/json;q=0.9":                               true,
		"text/html;q=0, */*":                                              false,
		"text/html;q=2":                                                   false,
		"application/*;q=0.1, text/html;q=0.5":                            true,
		"garbage;;;":                                                      false,
		"text/html; level=1, application/json; q=0.001":                   true,
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		if got := wantsHTML(r); got != want {
			t.Errorf("Accept %q: wantsHTML = %v", accept, got)
		}
	}
}

func TestDurationWords(t *testing.T) {
	for d, want := range map[time.Duration]string{
		20 * time.Second:                "less than a minute",
		time.Minute:                     "1 minute",
		90 * time.Minute:                "1 hour 30 minutes",
		2 * time.Hour:                   "2 hours",
		47*time.Hour + 59*time.Minute:   "1 day 23 hours",
		48*time.Hour - time.Millisecond: "2 days",
		25*time.Hour + 20*time.Second:   "1 day 1 hour",
	} {
		if got := durationWords(d); got != want {
			t.Errorf("durationWords(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestInitials(t *testing.T) {
	for name, want := range map[string]string{
		"ana.lima@contoso.com": "AL",
		"bob":                  "B",
		"José María Núñez":     "JM",
		"_":                    "?",
		"élodie@example.fr":    "É",
	} {
		if got := initials(name); got != want {
			t.Errorf("initials(%q) = %q, want %q", name, got, want)
		}
	}
}

// An approval that ended without a decision says how, once: the message
// does not repeat what its heading and reason say.
func TestEndedWithoutDecisionSaysItOnce(t *testing.T) {
	for _, c := range []struct {
		status approval.Status
		error  string
		says   string
	}{
		{approval.StatusTerminated, "Duplicate of EXP-3107", "It was stopped before anyone decided. Reason given: Duplicate of EXP-3107"},
		{approval.StatusTerminated, "", "It was stopped before anyone decided."},
		{approval.StatusFailed, "boom", "No decision was recorded: boom."},
		{approval.StatusFailed, "the workflow failed without details", "No decision was recorded: the workflow failed without details."},
	} {
		st := approval.State{ID: "a-1", Status: c.status, Error: c.error, Request: approval.Request{Requester: "ana", Item: "Laptop"}}
		text := pageText(t, approvalModel{St: st}, `<section class="outcome`, "</section>")
		if want := string(c.status) + " " + c.says; text != want {
			t.Errorf("%s %q: the outcome reads %q, want %q", c.status, c.error, text, want)
		}
	}
}

// pageText renders an approval page and returns the text from the first
// from to the next to after it, tags removed and spaces collapsed.
func pageText(t *testing.T, m approvalModel, from, to string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := render(rec, http.StatusOK, "approval", frame{Now: time.Now(), Page: m}); err != nil {
		t.Fatal(err)
	}
	body := rec.Body.String()
	start := strings.Index(body, from)
	end := strings.Index(body[max(start, 0):], to)
	if start < 0 || end < 0 {
		t.Fatalf("no %s...%s in %s", from, to, body)
	}
	return strings.Join(strings.Fields(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(body[start:start+end], " ")), " ")
}

// The page says which features the approval's workflow supports, once it
// is known, and tells the truth about a worker that keeps exactly the
// sample's contract: sent, at the time it wrote, and no comments claimed.
func TestPageSaysWhatTheWorkflowSupports(t *testing.T) {
	req := approval.Request{RequestID: "a-1", Requester: "ana", Item: "Laptop"}
	seed := approval.Submission{RequestID: "a-1", Status: approval.StatusPending, SubmittedAt: "2026-12-02T11:00:00.123456"}
	ours := approval.Submission{RequestID: "a-1", Status: approval.StatusPending, SubmittedAt: "2026-12-02T11:00:00Z", Features: []approval.Feature{approval.FeatureWithdraw}}
	for _, c := range []struct {
		name string
		sub  approval.Submission
		says string
	}{
		{"not yet submitted", approval.Submission{}, "Its workflow supports Known once the request is sent to approvers."},
		{"the sample's contract", seed, "Its workflow supports The sample's contract only: approve, reject, time out. It cannot be withdrawn here."},
		{"ours", ours, "Its workflow supports The sample's contract (approve, reject, time out), and withdrawal by its requester."},
	} {
		st := approval.State{ID: "a-1", Status: approval.StatusPending, Request: req, Progress: c.sub}
		m := approvalModel{St: st, Features: featureWords(c.sub.Features)}
		if got := pageText(t, m, "<dt>Its workflow supports", "</div>"); got != c.says {
			t.Errorf("%s: %q, want %q", c.name, got, c.says)
		}
	}
	st := approval.State{ID: "a-1", Status: approval.StatusPending, Request: req, Progress: seed}
	if got, want := pageText(t, approvalModel{St: st}, "<dt>Submitted", "</div>"), "Submitted 2026-12-02T11:00:00.123456 As its workflow wrote it, in a time zone it does not say."; got != want {
		t.Errorf("the seed's submission reads %q, want %q", got, want)
	}
	var out approval.Outcome
	if err := json.Unmarshal([]byte(`{"request_id":"a-1","status":"Approved","processed_at":"2026-12-02T11:05:00.5","approver":"bob"}`), &out); err != nil {
		t.Fatal(err)
	}
	st.Status, st.Result = out.Status, &out
	if got := pageText(t, approvalModel{St: st}, `<section class="outcome`, "</section>"); !strings.HasSuffix(got, "This approval's workflow does not record comments.") {
		t.Errorf("the seed's outcome reads %q", got)
	}
}
