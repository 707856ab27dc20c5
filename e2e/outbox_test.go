package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// With a link key, cmd/dev keeps every notice the worker sends at
// /dev/outbox, signed links included: a newcomer opens the link an
// approver would get and decides as that approver. The outbox answers
// only to loopback names, and the handler alone does not serve it.
func TestDevOutboxHoldsSignedLinks(t *testing.T) {
	dev, devAPI := startDev(t, []string{"APPROVALS_LINK_KEY=" + strings.Repeat("k", 32)})
	base := devAPI.url("")
	devAPI.startApproval("outbox-1", map[string]any{"item": "Laptop", "approver": "bob"})

	var link string
	for deadline := time.Now().Add(20 * time.Second); link == ""; {
		var box struct {
			Notices []struct {
				RequestID string `json:"request_id"`
				Approver  string `json:"approver"`
				URL       string `json:"url"`
				Signed    bool   `json:"signed"`
			} `json:"notices"`
		}
		code, raw := fetch(t, http.DefaultClient, base+"/dev/outbox?format=json", nil)
		if code != http.StatusOK || json.Unmarshal([]byte(raw), &box) != nil {
			t.Fatalf("outbox = %d %s", code, raw)
		}
		for _, n := range box.Notices {
			if n.RequestID == "outbox-1" && n.Approver == "bob" && n.Signed {
				link = n.URL
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no signed link for bob in the outbox: %s", raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(link, "token=") {
		t.Fatalf("bob's link %q is not signed", link)
	}
	html := http.Header{"Accept": {"text/html"}}
	if code, page := fetch(t, http.DefaultClient, base+"/dev/outbox", html); code != http.StatusOK || !strings.Contains(page, "Open the link signed for bob") {
		t.Fatalf("outbox page = %d\n%s", code, page)
	}
	if code, page := fetch(t, http.DefaultClient, link, html); code != http.StatusOK || !strings.Contains(page, "You are deciding as <strong>bob</strong>") {
		t.Fatalf("bob's signed link = %d\n%s", code, page)
	}
	if code, _ := fetch(t, http.DefaultClient, base+"/dev/outbox", http.Header{"Host": {"rebound.example"}}); code != http.StatusMisdirectedRequest {
		t.Fatalf("outbox for a rebinding Host = %d, want 421", code)
	}
	if !strings.Contains(dev.out.String(), "signed link withheld from the log") {
		t.Fatalf("the log should still withhold signed links:\n%s", dev.out.String())
	}

	s := newStack(t)
	if code, _ := fetch(t, http.DefaultClient, s.url("/dev/outbox"), nil); code != http.StatusNotFound {
		t.Fatalf("the handler serves /dev/outbox: %d", code)
	}
}
