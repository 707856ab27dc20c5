package approval_test

import (
	"strings"
	"testing"

	"github.com/approvals-go/approvals/approval"
)

func TestDirectory(t *testing.T) {
	d, err := approval.ParseDirectory([]byte(`{"Security": ["carol@contoso.com"], "finance": ["bob@contoso.com", "CAROL@contoso.com"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(d.GroupsOf(" Carol@Contoso.com"), ","); got != "security,finance" {
		t.Errorf("carol's groups = %s; want the file's order, canonical", got)
	}
	if got := d.GroupsOf("mallory"); len(got) != 0 {
		t.Errorf("mallory's groups = %q", got)
	}
	var none *approval.Directory
	if none.GroupsOf("bob") != nil {
		t.Error("no file, no groups")
	}
	for _, bad := range []string{`[]`, `{"fin ance": []}`, `{"finance": ["bob\u200b"]}`, `{"finance": [], "FINANCE": []}`, `{"finance": "bob"}`, `{`} {
		if _, err := approval.ParseDirectory([]byte(bad)); err == nil {
			t.Errorf("ParseDirectory(%s) accepted", bad)
		}
	}
}
