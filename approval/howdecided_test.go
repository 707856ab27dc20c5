package approval_test

import (
	"testing"

	"github.com/approvals-go/approvals/approval"
)

func TestHowDecided(t *testing.T) {
	for _, c := range []struct {
		channel approval.Channel
		auth    approval.Auth
		want    string
	}{
		{approval.ChannelPage, approval.AuthSignedLink, "on the review page, by signed link"},
		{approval.ChannelPage, approval.AuthSignIn, "on the review page, signed in"},
		{approval.ChannelBulk, approval.AuthSignIn, "in a bulk decision, signed in"},
		{approval.ChannelDashboard, approval.AuthDevelopment, "from the dashboard, by a name typed in, not verified"},
		{approval.ChannelAPI, approval.AuthFunctionKey, "through the API, with a function key"},
		{"", "", ""},
		{"pigeon", approval.AuthSignIn, "signed in"},
	} {
		if got := (approval.Vote{Channel: c.channel, Auth: c.auth}).How(); got != c.want {
			t.Errorf("%q %q: %q, want %q", c.channel, c.auth, got, c.want)
		}
		if got := (approval.Outcome{Channel: c.channel, Auth: c.auth}).How(); got != c.want {
			t.Errorf("outcome %q %q: %q, want %q", c.channel, c.auth, got, c.want)
		}
	}
}

func TestChangeRoundHow(t *testing.T) {
	r := approval.ChangeRound{Channel: approval.ChannelPage, Auth: approval.AuthSignIn, ResubmitChannel: approval.ChannelAPI, ResubmitAuth: approval.AuthFunctionKey}
	if r.How() != "on the review page, signed in" || r.ResubmitHow() != "through the API, with a function key" {
		t.Fatalf("%q, %q", r.How(), r.ResubmitHow())
	}
}
