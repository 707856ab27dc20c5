package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// outboxEntry is one notice cmd/dev keeps at /dev/outbox.
type outboxEntry struct {
	Kind      string `json:"kind"`
	Occasion  int    `json:"occasion"`
	RequestID string `json:"request_id"`
	Approver  string `json:"approver"`
	URL       string `json:"url"`
	Signed    bool   `json:"signed"`
}

// The members of a request's groups are told, through the real processes
// (cmd/dev with -groups): each finance member but the requester gets the
// request's notice with a link signed for them, which opens the page as
// them and decides; a reminder then goes to the named approver and the
// members who have not voted, not to the one who has.
func TestGroupMembersAreNotified(t *testing.T) {
	groups := filepath.Join(t.TempDir(), "groups.json")
	if err := os.WriteFile(groups, []byte(`{"finance": ["ana", "bob", "Carol", "dave"], "security": ["erin"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, s := startDev(t, []string{"APPROVALS_LINK_KEY=" + strings.Repeat("k", 32)}, "-groups", groups)
	base := s.url("")
	const id = "gnotify-1"
	s.startApproval(id, map[string]any{"item": "Laptop", "approvers": []string{"zoe"},
		"groups": []map[string]any{{"group": "finance", "required": 2}}, "timeout": "10m", "remind_every": "3s"})

	// told waits until the outbox holds a notice of kind and occasion
	// for each of want, and returns who got one and their links.
	told := func(kind string, occasion int, want int) (names []string, links map[string]string) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; {
			var box struct {
				Notices []outboxEntry `json:"notices"`
			}
			code, raw := fetch(t, http.DefaultClient, base+"/dev/outbox?format=json", nil)
			if code != http.StatusOK || json.Unmarshal([]byte(raw), &box) != nil {
				t.Fatalf("outbox = %d %s", code, raw)
			}
			names, links = nil, map[string]string{}
			for _, n := range box.Notices {
				if n.RequestID == id && n.Kind == kind && n.Occasion == occasion {
					if !n.Signed {
						t.Fatalf("a notice with an unsigned link: %+v", n)
					}
					names = append(names, n.Approver)
					links[n.Approver] = n.URL
				}
			}
			if len(names) >= want {
				slices.Sort(names)
				return names, links
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s %d: told %q, want %d people: %s", kind, occasion, names, want, raw)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	names, links := told("request", 0, 4)
	if got := strings.Join(names, " "); got != "bob carol dave zoe" {
		t.Fatalf("the request's notice went to %q, want bob carol dave zoe (never ana, the requester)", got)
	}

	html := http.Header{"Accept": {"text/html"}}
	if code, page := fetch(t, http.DefaultClient, links["bob"], html); code != http.StatusOK || !strings.Contains(page, "You are deciding as <strong>bob</strong>") {
		t.Fatalf("bob's signed link = %d\n%.500s", code, page)
	}
	u, err := url.Parse(links["bob"])
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"approved": {"true"}, "token": {u.Query().Get("token")}, "comments": {"from the notice"}}
	req, _ := http.NewRequest(http.MethodPost, base+"/api/review/"+id, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("bob deciding through his link = %d", resp.StatusCode)
	}

	// A reminder's notices go out in parallel: one is judged once the
	// next has begun. Reminder last+1 may have been on its way as bob
	// voted; last+2 was scheduled after.
	last := 0
	for {
		if names, _ := told("reminder", last+1, 0); len(names) == 0 {
			break
		}
		last++
	}
	told("reminder", last+3, 1)
	if names, _ := told("reminder", last+2, 3); strings.Join(names, " ") != "carol dave zoe" {
		t.Fatalf("reminder %d went to %q, want carol dave zoe once bob has voted", last+2, names)
	}
}
