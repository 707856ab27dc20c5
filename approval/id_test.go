package approval_test

import (
	"strings"
	"testing"

	"github.com/approvals-go/approvals/approval"
)

func TestValidateID(t *testing.T) {
	for _, id := range []string{
		"a", "REQ-2041", "exp.1_b:c-d", strings.Repeat("a", approval.MaxIDLength),
		"x:callback:2", "x:callbacks", "callback", "0123e4567-e89b-12d3-a456-426614174000",
	} {
		if err := approval.ValidateID(id); err != nil {
			t.Errorf("ValidateID(%q) = %v, want nil", id, err)
		}
	}
	for id, says := range map[string]string{
		"":                                   "1 to 100",
		strings.Repeat("a", 101):             "1 to 100",
		"ana@example.com":                    "letters, digits",
		"@":                                  "letters, digits",
		"-leading-dash":                      "starting with a letter or digit",
		":callback":                          "starting with a letter or digit",
		"a b":                                "letters, digits",
		"a/b":                                "letters, digits",
		"a%2Fb":                              "letters, digits",
		"caf\u00e9":                          "letters, digits",
		"a\x00b":                             "letters, digits",
		"a\n":                                "letters, digits",
		approval.CallbackInstanceID("REQ-1"): `"REQ-1:callback" is the ID of the callback orchestration of approval "REQ-1"`,
		"x:callback:callback":                `of approval "x:callback"`,
	} {
		err := approval.ValidateID(id)
		fe, ok := approval.AsFieldError(err)
		if !ok || fe.Field != "request_id" || !strings.Contains(fe.Reason, says) {
			t.Errorf("ValidateID(%q) = %v; want a request_id error saying %q", id, err, says)
		}
	}
}

// TestCallbackIDFitsTheScheduler: a request with a callback must leave
// room for its callback orchestration's ID within the scheduler's limit;
// one without needs none.
func TestCallbackIDFitsTheScheduler(t *testing.T) {
	longest := approval.MaxIDLength - len(approval.CallbackInstanceID(""))
	req := approval.Request{RequestID: strings.Repeat("a", longest), Requester: "ana", Item: "pen", CallbackURL: "https://example.com/cb"}
	if err := req.Validate(); err != nil {
		t.Fatalf("%d characters with a callback: %v", longest, err)
	}
	if n := len(approval.CallbackInstanceID(req.RequestID)); n != approval.MaxIDLength {
		t.Fatalf("the callback's ID has %d characters, want %d", n, approval.MaxIDLength)
	}
	req.RequestID += "a"
	if fe, ok := approval.AsFieldError(req.Validate()); !ok || fe.Field != "request_id" || !strings.Contains(fe.Reason, "at most 91 characters") {
		t.Fatalf("%d characters with a callback: %v", longest+1, req.Validate())
	}
	req.CallbackURL = ""
	if err := req.Validate(); err != nil {
		t.Fatalf("%d characters without a callback: %v", longest+1, err)
	}
}
