package e2e

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/httpapi"
	"github.com/approvals-go/approvals/internal/browsertest"
)

// Every route the handler serves has a function folder, with the access
// level its callers need: a function key for machines, anonymous for the
// pages people open (App Service Authentication signs them in). And every
// function's route reaches a handler route, not the handler's 404.
func TestEveryRouteHasItsFunction(t *testing.T) {
	s := newStack(t)
	served := []struct {
		method, path, authLevel string
	}{
		{http.MethodPost, httpapi.ApprovalsPath, "function"},
		{http.MethodGet, httpapi.ApprovalsPath, "function"},
		{http.MethodGet, httpapi.ApprovalPath, "function"},
		{http.MethodPost, httpapi.DecisionPath, "function"},
		{http.MethodPost, httpapi.BulkDecisionPath, "function"},
		{http.MethodGet, httpapi.AuditPath, "function"},
		{http.MethodGet, httpapi.AuditExportPath, "function"},
		{http.MethodGet, httpapi.ReviewPath, "anonymous"},
		{http.MethodPost, httpapi.ReviewPath, "anonymous"},
		{http.MethodGet, httpapi.ReviewPagePath, "anonymous"},
		{http.MethodPost, httpapi.ReviewPagePath, "anonymous"},
		{http.MethodGet, httpapi.AssetPath, "anonymous"},
	}
	for _, want := range served {
		found := false
		for _, r := range s.routes {
			if r.path == want.path && slices.Contains(r.methods, want.method) {
				found = true
				if r.authLevel != want.authLevel {
					t.Errorf("%s %s is served by %s with authLevel %q, want %q", want.method, want.path, r.function, r.authLevel, want.authLevel)
				}
			}
		}
		if !found {
			t.Errorf("no function takes %s %s", want.method, want.path)
		}
	}
	for _, r := range s.routes {
		for _, m := range r.methods {
			path := strings.NewReplacer("{id}", "nope", "{name}", "nope.css").Replace(r.path)
			req, err := http.NewRequest(m, s.url(path), strings.NewReader("approved=true&approver=bob"))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var p struct{ Detail string }
			json.NewDecoder(resp.Body).Decode(&p)
			resp.Body.Close()
			if resp.StatusCode == http.StatusMethodNotAllowed || strings.HasPrefix(p.Detail, "no route for") {
				t.Errorf("%s's %s %s reaches no handler route: %d %s", r.function, m, path, resp.StatusCode, p.Detail)
			}
		}
	}
}

// principal is the header App Service Authentication sets for a signed-in
// Microsoft Entra ID user.
func principal(name string) string {
	b, _ := json.Marshal(map[string]any{"auth_typ": "aad", "name_typ": "name",
		"claims": []map[string]string{{"typ": "preferred_username", "val": name}}})
	return base64.StdEncoding.EncodeToString(b)
}

// The handler and worker processes as deployed with sign-in and signed
// links: the worker signs each approver's link and keeps it out of its
// log; opening the link decides nothing; its form's post decides as the
// signed-in approver the link names, and no one else.
func TestSignedLinksAcrossProcesses(t *testing.T) {
	const key = "e2e-link-key-e2e-link-key-e2e-li"
	s := newStackWith(t, func(s *stack) { s.workerEnv = []string{"APPROVALS_LINK_KEY=" + key} })
	s.handler.stop(t, syscall.SIGKILL)
	s.handler = start(t, "handler", append(s.schedulerEnv(), fmt.Sprintf("FUNCTIONS_CUSTOMHANDLER_PORT=%d", s.httpPort),
		"APPROVALS_IDENTITY=appservice", "APPROVALS_LINK_KEY="+key))
	s.waitReady()

	s.startApproval("e2e-signed", map[string]any{"approvers": []string{"bob@contoso.com"}, "timeout": "1h"})
	s.waitSubmitted("e2e-signed")
	waitLog(t, s.worker, "signed link withheld from the log")
	if strings.Contains(s.worker.out.String(), "token=") {
		t.Fatal("the worker logged a signed link")
	}
	signer, err := approval.NewLinkSigner(key, "")
	if err != nil {
		t.Fatal(err)
	}
	token := signer.Token("e2e-signed", "bob@contoso.com", time.Now().Add(time.Hour))
	page := s.url("/api/review/e2e-signed?" + url.Values{"token": {token}}.Encode())
	send := func(method, link, who string, form url.Values) (int, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequest(method, link, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", "text/html")
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Accept", "application/json")
		}
		if who != "" {
			req.Header.Set("X-MS-CLIENT-PRINCIPAL", principal(who))
		}
		// A redirect is an answer here: to App Service Authentication's
		// sign-in, which this stack does not have.
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusFound {
			return resp.StatusCode, resp.Header.Get("Location")
		}
		return resp.StatusCode, string(b)
	}
	if code, body := send(http.MethodGet, page, "bob@contoso.com", nil); code != http.StatusOK || !strings.Contains(body, "You are deciding as <strong>bob@contoso.com</strong>") {
		t.Fatalf("bob opening his link: %d %.300s", code, body)
	}
	if code, to := send(http.MethodGet, page, "", nil); code != http.StatusFound || !strings.HasPrefix(to, "/.auth/login/aad?post_login_redirect_uri=%2Fapi%2Freview%2Fe2e-signed%3Ftoken%3D") {
		t.Fatalf("the link opened without sign-in = %d %s, want a redirect to sign in and back", code, to)
	}
	if code, _, out := s.call("GetApproval", "e2e-signed", nil); code != http.StatusAccepted || out["status"] != "Pending" {
		t.Fatalf("after opening the link: %d %v", code, out)
	}
	form := url.Values{"approved": {"true"}, "token": {token}, "comments": {"from the mail"}}
	if code, body := send(http.MethodPost, s.url("/api/review/e2e-signed"), "carol@contoso.com", form); code != http.StatusForbidden {
		t.Fatalf("carol with bob's link = %d %s", code, body)
	}
	if code, body := send(http.MethodPost, s.url("/api/review/e2e-signed"), "bob@contoso.com", form); code != http.StatusOK {
		t.Fatalf("bob's decision = %d %s", code, body)
	}
	out := s.outcome("e2e-signed", 20*time.Second)
	if result, _ := out["result"].(map[string]any); out["status"] != "Approved" || result["approver"] != "bob@contoso.com" {
		t.Fatalf("final %v", out)
	}
}

// The walk-through as a new user runs it, in a real browser: go run
// ./cmd/dev, start an approval, open the link the worker logs, approve it
// with a click and see the outcome; the inbox lists what is still pending.
func TestDevInABrowser(t *testing.T) {
	ctx := browserTab(t)
	dev, s := startDev(t, nil)
	base := s.url("")
	for _, item := range []string{"Laptop for the new designer", "Standing desk"} {
		resp, err := http.Post(base+"/api/approvals", "application/json",
			strings.NewReader(fmt.Sprintf(`{"requester":"ana","item":%q,"approver":"bob","timeout":"1h"}`, item)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("start = %d", resp.StatusCode)
		}
	}
	link := loggedLink(t, dev, "Laptop for the new designer")

	if err := chromedp.Do(ctx, chromedp.Navigate(link),
		chromedp.SendKeys(chromedp.ID("approver"), "bob"),
		chromedp.SendKeys(chromedp.ID("comments"), "Go ahead")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(".btn-approve")))); err != nil {
		t.Fatal(err)
	}
	outcome, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("outcome-title")))
	if err != nil || outcome != "Approved by bob" {
		t.Fatalf("the page shows %q (%v)", outcome, err)
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/api/review?approver=bob")); err != nil {
		t.Fatal(err)
	}
	items, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('.row .item')].map(a => a.textContent)`))
	if err != nil || len(items) != 1 || items[0] != "Standing desk" {
		t.Fatalf("the inbox lists %q (%v)", items, err)
	}
}

// loggedLink is the approval link the worker logged for the approval of
// item.
func loggedLink(t *testing.T, p *proc, item string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		sc := bufio.NewScanner(strings.NewReader(p.out.String()))
		for sc.Scan() {
			var line struct {
				Msg, Item   string
				ApprovalURL string `json:"approval_url"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "approval requested" && line.Item == item {
				return line.ApprovalURL
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no approval link was logged for %q:\n%s", item, p.out.String())
	return ""
}

// browserTab starts Chromium for this test and opens a tab (see
// internal/browsertest).
func browserTab(t *testing.T) context.Context {
	t.Helper()
	path, err := browsertest.Path()
	browsertest.Need(t, err)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), browsertest.Options(path)...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancelTimeout)
	return ctx
}
