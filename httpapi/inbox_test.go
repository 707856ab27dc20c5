package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/config"
	"github.com/approvals-go/approvals/httpapi"
)

// allPages follows a list's next links from link to the end, at most
// most pages, calling between after each, and gives the ids listed and
// the pages read.
func (e *apiEnv) allPages(t *testing.T, link string, most int, between func()) (got []string, pages int) {
	t.Helper()
	for link != "" {
		page, next := ids(t, e.get(t, link))
		got = append(got, page...)
		pages++
		if pages > most {
			t.Fatal("no end to the pages")
		}
		between()
		link = next
	}
	return got, pages
}

// ids lists the approvals of a list answer, in order, and its next link.
func ids(t *testing.T, r response) ([]string, string) {
	t.Helper()
	if r.code != http.StatusOK {
		t.Fatalf("list = %d %s", r.code, r.raw)
	}
	list, ok := r.body["approvals"].([]any)
	if !ok {
		t.Fatalf("no approvals list: %s", r.raw)
	}
	var out []string
	for _, a := range list {
		out = append(out, a.(map[string]any)["id"].(string))
	}
	next, _ := r.body["next"].(string)
	return out, next
}

// get GETs a path of the API, or an absolute URL it returned.
func (e *apiEnv) get(t *testing.T, link string) response {
	t.Helper()
	return e.do(t, http.MethodGet, strings.TrimPrefix(link, e.url), "", "")
}

func TestInboxFilters(t *testing.T) {
	e := newAPI(t)
	e.startFor(t, "in-a", "a", "bob")
	e.startFor(t, "in-b", "b", "carol")
	if r := e.postJSON(t, httpapi.ApprovalsPath, map[string]any{"request_id": "in-c", "requester": "ana", "item": "c"}); r.code != http.StatusAccepted {
		t.Fatalf("start = %d %s", r.code, r.raw)
	}
	e.until(t, "in-c", submitted)
	e.startFor(t, "in-d", "d", "bob")
	if d := e.postJSON(t, "/api/approvals/in-d/decision", map[string]any{"approved": true, "approver": "bob"}); d.code != http.StatusOK {
		t.Fatalf("decide = %d %s", d.code, d.raw)
	}
	if r := e.postJSON(t, httpapi.ApprovalsPath, map[string]any{"request_id": "in-e", "requester": "ana", "item": "e", "approver": "bob", "timeout": "1s"}); r.code != http.StatusAccepted {
		t.Fatalf("start = %d %s", r.code, r.raw)
	}
	e.until(t, "in-e", finished)

	for _, c := range []struct {
		query string
		want  []string
	}{
		{"", []string{"in-e", "in-d", "in-c", "in-b", "in-a"}},
		{"?status=Pending&approver=bob", []string{"in-c", "in-a"}},
		{"?status=pending&approver=BOB", []string{"in-c", "in-a"}},
		{"?status=Pending&approver=carol", []string{"in-c", "in-b"}},
		{"?approver=ana", nil},
		{"?status=Approved", []string{"in-d"}},
		{"?status=Timeout", []string{"in-e"}},
		{"?status=Approved,Timeout", []string{"in-e", "in-d"}},
		{"?status=Approved&status=Timeout&approver=bob", []string{"in-e", "in-d"}},
		{"?status=Rejected", nil},
		{"?status=Failed", nil},
		{"?status=", []string{"in-e", "in-d", "in-c", "in-b", "in-a"}},
		{"?code=k3y&status=Pending", []string{"in-c", "in-b", "in-a"}},
	} {
		got, next := ids(t, e.get(t, httpapi.ApprovalsPath+c.query))
		if !slices.Equal(got, c.want) || next != "" {
			t.Errorf("GET %s lists %q (next %q), want %q", c.query, got, next, c.want)
		}
	}
	// The people's inbox lists what is pending, page by page.
	var pages []string
	for link := approval.ReviewPath + "?approver=bob&page_size=1"; link != ""; {
		page, next := ids(t, e.get(t, link))
		pages = append(pages, page...)
		link = next
	}
	if !slices.Equal(pages, []string{"in-c", "in-a"}) {
		t.Fatalf("bob's inbox pages list %q", pages)
	}
	if r := e.get(t, approval.ReviewPath+"?approver=me"); r.code != http.StatusBadRequest {
		t.Fatalf("approver=me with no one signed in = %d %s", r.code, r.raw)
	}

	// Each item is the approval as GET answers it.
	r := e.get(t, httpapi.ApprovalsPath+"?status=Approved")
	item := r.body["approvals"].([]any)[0].(map[string]any)
	if item["status_uri"] != e.url+"/api/approvals/in-d" || item["result"] == nil || item["requester"] != "ana" {
		t.Fatalf("item %v", item)
	}
}

// Pages follow each other newest first with no duplicates and no gaps,
// while new approvals are being created, whether the scheduler's pages
// hold only matches or the handler filters them.
func TestInboxPaging(t *testing.T) {
	for _, c := range []struct {
		query string
		bobs  bool
		pages int
	}{
		{"?status=Pending&page_size=7", false, 5},
		{"?status=Pending&approver=bob&page_size=3", true, 4},
		{"?page_size=30", false, 1},
	} {
		t.Run(c.query, func(t *testing.T) {
			e := newAPI(t)
			var want []string
			for i := range 30 {
				id := fmt.Sprintf("pg-%02d", i)
				approver := "carol"
				if i%3 == 0 {
					approver = "bob"
				}
				r := e.postJSON(t, httpapi.ApprovalsPath, map[string]any{"request_id": id, "requester": "ana", "item": id, "approver": approver})
				if r.code != http.StatusAccepted {
					t.Fatalf("start = %d %s", r.code, r.raw)
				}
				if !c.bobs || approver == "bob" {
					want = append([]string{id}, want...)
				}
			}
			// Submitted, so each stays in the same runtime status while
			// the pages are read.
			for _, id := range want {
				e.until(t, id, submitted)
			}
			got, pages := e.allPages(t, httpapi.ApprovalsPath+c.query, 20, func() {
				// Created between two pages: newer than where the list
				// stands, so never listed by it.
				r := e.postJSON(t, httpapi.ApprovalsPath, map[string]any{"requester": "ana", "item": "late", "approver": "bob"})
				if r.code != http.StatusAccepted {
					t.Fatalf("start = %d %s", r.code, r.raw)
				}
			})
			if !slices.Equal(got, want) || pages != c.pages {
				t.Errorf("%d pages listing %q, want %d pages listing %q", pages, got, c.pages, want)
			}
		})
	}
}

func TestInboxRefusals(t *testing.T) {
	e := newAPI(t)
	e.startFor(t, "ir-1", "a", "bob")
	_, next := ids(t, e.get(t, httpapi.ApprovalsPath+"?page_size=1&status=Pending&approver=bob&status=Approved"))
	if next != "" {
		t.Fatalf("one approval, yet a next page: %s", next)
	}
	e.startFor(t, "ir-2", "b", "bob")
	_, next = ids(t, e.get(t, httpapi.ApprovalsPath+"?page_size=1"))
	u, err := url.Parse(next)
	if err != nil || next == "" {
		t.Fatalf("next %q: %v", next, err)
	}
	token := u.Query().Get("continuation")
	for _, c := range []struct{ query, field string }{
		{"?state=Pending", "state"},
		{"?Status=Pending", "Status"},
		{"?status=Open", "status"},
		{"?page_size=0", "page_size"},
		{"?page_size=201", "page_size"},
		{"?page_size=ten", "page_size"},
		{"?page_size=1&page_size=2", "page_size"},
		{"?approver=bob&approver=carol", "approver"},
		{"?approver=me", "approver"},
		{"?continuation=garbage", "continuation"},
		{"?continuation=" + url.QueryEscape(token[:len(token)-2]), "continuation"},
		{"?status=Pending&continuation=" + url.QueryEscape(token), "continuation"},
	} {
		r := e.get(t, httpapi.ApprovalsPath+c.query)
		if r.code != http.StatusBadRequest || r.body["field"] != c.field || r.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("GET %s = %d %s, want 400 naming %s", c.query, r.code, r.raw, c.field)
		}
	}
	// The token works with the filters it came with.
	if got, _ := ids(t, e.get(t, httpapi.ApprovalsPath+"?page_size=1&continuation="+url.QueryEscape(token))); !slices.Equal(got, []string{"ir-1"}) {
		t.Fatalf("second page %q", got)
	}
}

// With a verified identity, approver=me is the signed-in person, and the
// review inbox lists their approvals only; without one there is no "me".
func TestInboxOfTheSignedIn(t *testing.T) {
	e := newAPIWith(t, httpapi.Options{Identity: config.IdentityAppService})
	e.startFor(t, "me-1", "a", "bob@contoso.com")
	e.startFor(t, "me-2", "b", "carol@contoso.com")
	bob := e.with(signedIn("bob@contoso.com"))
	if got, _ := ids(t, bob.get(t, httpapi.ApprovalsPath+"?approver=me")); !slices.Equal(got, []string{"me-1"}) {
		t.Fatalf("bob's approvals: %q", got)
	}
	if got, _ := ids(t, bob.get(t, approval.ReviewPath)); !slices.Equal(got, []string{"me-1"}) {
		t.Fatalf("bob's inbox: %q", got)
	}
	page := bob.with(http.Header{"Accept": browserGet["Accept"], "X-Ms-Client-Principal": signedIn("bob@contoso.com")["X-Ms-Client-Principal"]}).get(t, approval.ReviewPath)
	if page.code != http.StatusOK || !strings.Contains(page.raw, `href="/api/review/me-1"`) || strings.Contains(page.raw, "me-2") {
		t.Fatalf("bob's inbox page: %d %.300s", page.code, page.raw)
	}
	if r := bob.get(t, approval.ReviewPath+"?approver=carol@contoso.com"); r.code != http.StatusForbidden {
		t.Fatalf("bob reading carol's inbox = %d %s", r.code, r.raw)
	}
	for _, path := range []string{httpapi.ApprovalsPath + "?approver=me", approval.ReviewPath} {
		if r := e.get(t, path); r.code != http.StatusUnauthorized {
			t.Fatalf("GET %s without a principal = %d %s", path, r.code, r.raw)
		}
	}

	// Signed links but no sign-in: the inbox cannot know who is asking.
	signer := testSigner(t)
	keyed := newAPIWith(t, httpapi.Options{Links: signer})
	if r := keyed.get(t, approval.ReviewPath); r.code != http.StatusForbidden || r.body["reason"] != "sign_in_required" {
		t.Fatalf("inbox with a link key and no sign-in = %d %s", r.code, r.raw)
	}
}

// One answer reads a bounded number of approvals: a rare match far down
// the list is reached through next links, each answered quickly, the
// first ones with no approvals at all.
func TestInboxScanIsBounded(t *testing.T) {
	e := newAPI(t)
	e.startFor(t, "old-bob", "oldest", "bob")
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < 1200; i += 8 {
				if err := e.orch.Start(ctx, approval.Request{RequestID: fmt.Sprintf("carol-%04d", i), Requester: "ana", Item: "x", Approver: "carol"}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got, answers := e.allPages(t, httpapi.ApprovalsPath+"?approver=bob", 10, func() {})
	if !slices.Equal(got, []string{"old-bob"}) || answers < 3 {
		t.Fatalf("%d answers listing %q", answers, got)
	}
	t.Logf("reached after %d answers", answers)
	page := e.with(browserGet).get(t, approval.ReviewPath+"?approver=bob")
	if !strings.Contains(page.raw, "Search older approvals") {
		t.Fatalf("an empty first page does not offer to search further: %.500s", page.raw)
	}
}
