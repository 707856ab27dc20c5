package approval

import "strings"

// channelWords and authWords are how a person reads a decision's channel
// and authentication; a value not listed (from a newer version) is left
// unsaid rather than guessed at.
var (
	channelWords = map[Channel]string{
		ChannelAPI:       "through the API",
		ChannelPage:      "on the review page",
		ChannelBulk:      "in a bulk decision",
		ChannelDashboard: "from the dashboard",
	}
	authWords = map[Auth]string{
		AuthFunctionKey: "with a function key",
		AuthSignIn:      "signed in",
		AuthSignedLink:  "by signed link",
		AuthDevelopment: "by a name typed in, not verified",
	}
)

// HowDecided says how a decision came and how its sender was known, as
// the pages and the dashboard show it beside the decision: "on the review
// page, by signed link". It is "" for a decision recorded before either
// was (the audit's facts then say nothing, and neither does the page).
func HowDecided(c Channel, a Auth) string {
	var parts []string
	for _, w := range []string{channelWords[c], authWords[a]} {
		if w != "" {
			parts = append(parts, w)
		}
	}
	return strings.Join(parts, ", ")
}

// How is HowDecided for the vote.
func (v Vote) How() string { return HowDecided(v.Channel, v.Auth) }

// How is HowDecided for the decision that settled the outcome.
func (o Outcome) How() string { return HowDecided(o.Channel, o.Auth) }

// Votes are the approval's recorded decisions: those its outcome records
// once it has ended, else those so far.
func (s State) Votes() []Vote {
	if s.Result != nil && len(s.Result.Decisions) > 0 {
		return s.Result.Decisions
	}
	return s.Progress.Decisions
}

// How is HowDecided for the request for changes, and ResubmitHow for
// the resubmission.
func (r ChangeRound) How() string { return HowDecided(r.Channel, r.Auth) }

// ResubmitHow: see How.
func (r ChangeRound) ResubmitHow() string { return HowDecided(r.ResubmitChannel, r.ResubmitAuth) }
