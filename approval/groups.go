package approval

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Group approvers: a request may ask for a count of approvals from each of
// several groups ("2 from finance and 1 from security"), beside or instead
// of the people it names. The rule, which Tally.Result applies:
//
//   - the request is approved when every group has its count of approvals
//     from its members and, when it names people, their policy approves
//     (under any, one of them; under all, every one; under quorum, as many
//     as it requires);
//   - one rejection by a member counting for a group rejects it, as under
//     policy all, and so does a rejection the people's policy takes for
//     the outcome;
//   - a person decides once: a named person decides as themselves, unless
//     they choose one of their groups; a member of several groups counts
//     for the group they choose (Decision.Group) or else for the first
//     group, in the request's order, that still needs approvals. A member
//     whose groups all have their count, and who is not named, has
//     nothing left to decide;
//   - the requester never decides, whatever groups they are in.
//
// Who is in a group is not the orchestrator's to know (it does no I/O):
// the HTTP API finds the groups a person holds (the signed-in principal's
// groups claim, or the groups file) and sends them with the decision as
// Decision.Groups, as it sends the approver's name.

// GroupPrefix marks an approver that is a group: "group:finance" among a
// request's approvers is the group finance with a count of one.
const GroupPrefix = "group:"

// MaxGroups bounds the groups one request may name, MaxGroupBytes a
// group's name, and MaxGroupRequired the approvals one group may be asked
// for.
const (
	MaxGroups        = 20
	MaxGroupBytes    = 128
	MaxGroupRequired = MaxApprovers
)

// FeatureGroups: the workflow counts approvals per group, so a request
// with groups is honoured rather than decided by its first decision.
const FeatureGroups Feature = "groups"

// ReasonGroupComplete refuses a member whose groups all have the
// approvals they need, and who has nothing left to decide.
const ReasonGroupComplete Reason = "group_complete"

// Why a group's name is not usable.
var (
	ErrGroupEmpty   = errors.New("must name a group")
	ErrGroupTooLong = fmt.Errorf("must be at most %d bytes", MaxGroupBytes)
	ErrGroupChars   = errors.New("may hold only letters a to z, digits, '.', '_' and '-' (a name such as finance, or a Microsoft Entra ID group's object id)")
)

// CanonicalGroup is the one form in which group names are compared: the
// name trimmed and in lower case. A group is a name such as finance or a
// Microsoft Entra ID group's object id (a GUID, which the signed-in
// principal's groups claim carries in either case); anything else is
// refused rather than cleaned, so that two spellings never pass for one
// group and one never passes for two.
func CanonicalGroup(name string) (string, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	switch {
	case name == "":
		return "", ErrGroupEmpty
	case len(name) > MaxGroupBytes:
		return "", ErrGroupTooLong
	}
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return "", ErrGroupChars
		}
	}
	return name, nil
}

// SameGroup reports whether two names are one group's. A name that is not
// usable is no group.
func SameGroup(a, b string) bool { return sameCanonical(CanonicalGroup, a, b) }

// groupOf reports whether an approver names a group ("group:finance"),
// and which.
func groupOf(approver string) (string, bool) {
	s := strings.TrimSpace(approver)
	if len(s) < len(GroupPrefix) || !strings.EqualFold(s[:len(GroupPrefix)], GroupPrefix) {
		return "", false
	}
	return strings.TrimSpace(s[len(GroupPrefix):]), true
}

// GroupRules are the groups the request asks approvals from: Groups, a
// missing count being one, then each "group:NAME" among the approvers,
// with a count of one. This is the one place the two spellings become one.
func (r Request) GroupRules() []GroupRule {
	var out []GroupRule
	for _, g := range r.Groups {
		g.Group = strings.TrimSpace(g.Group)
		g.Required = max(g.Required, 1)
		out = append(out, g)
	}
	for _, a := range r.Approvers {
		if g, ok := groupOf(a); ok {
			out = append(out, GroupRule{Group: g, Required: 1})
		}
	}
	return out
}

// people are the names of approvers that are people, not groups.
func people(approvers []string) []string {
	var out []string
	for _, a := range approvers {
		if _, ok := groupOf(a); !ok {
			out = append(out, a)
		}
	}
	return out
}

// validateGroups checks the groups of a request: usable names, each
// group once, a count from 1 to MaxGroupRequired, at most MaxGroups, and
// no escalation without named people (escalation brings people in, who
// would otherwise become the named people of a request that had none).
func (r Request) validateGroups() error {
	rules := r.GroupRules()
	if len(rules) == 0 {
		return nil
	}
	if len(rules) > MaxGroups {
		return &FieldError{Field: "groups", Reason: fmt.Sprintf("may name at most %d groups", MaxGroups)}
	}
	seen := map[string]bool{}
	for i, g := range rules {
		field := "groups"
		if i >= len(r.Groups) {
			field = "approvers"
		}
		canon, err := CanonicalGroup(g.Group)
		if err != nil {
			return &FieldError{Field: field, Message: fmt.Sprintf("%s: a group's name %s", field, err)}
		}
		if seen[canon] {
			return &FieldError{Field: field, Message: fmt.Sprintf("%s: the group %s is named twice; name it once, with its count", field, canon)}
		}
		seen[canon] = true
		if i < len(r.Groups) && (r.Groups[i].Required < 0 || r.Groups[i].Required > MaxGroupRequired) {
			return &FieldError{Field: field, Message: fmt.Sprintf("%s: the group %s's required must be from 1 to %d", field, canon, MaxGroupRequired)}
		}
	}
	if len(r.EscalateTo) > 0 && len(r.Deciders()) == 0 {
		return &FieldError{Field: "escalate_to", Reason: "needs approvers named beside groups: escalation adds people to the named approvers"}
	}
	return nil
}

// holdsGroup reports whether groups holds group.
func holdsGroup(groups []string, group string) bool {
	for _, g := range groups {
		if SameGroup(g, group) {
			return true
		}
	}
	return false
}

// GroupProgress is where one group of a request stands: its count, and
// who approved and rejected for it.
type GroupProgress struct {
	Group    string
	Required int
	Approved []string
	Rejected []string
}

// Met reports whether the group has its count of approvals.
func (g GroupProgress) Met() bool { return len(g.Approved) >= g.Required }

// GroupProgress is each group's progress, in the request's order.
func (t Tally) GroupProgress() []GroupProgress {
	out := make([]GroupProgress, 0, len(t.Groups))
	for _, rule := range t.Groups {
		p := GroupProgress{Group: rule.Group, Required: max(rule.Required, 1)}
		for _, v := range t.Votes {
			switch {
			case !SameGroup(v.Group, rule.Group):
			case v.Approved:
				p.Approved = append(p.Approved, v.Approver)
			default:
				p.Rejected = append(p.Rejected, v.Approver)
			}
		}
		out = append(out, p)
	}
	return out
}

// Counts reports whether the tally counts several decisions rather than
// taking the first for the outcome: under policy all or quorum, or with
// groups.
func (t Tally) Counts() bool {
	return t.Policy == PolicyAll || t.Policy == PolicyQuorum || len(t.Groups) > 0
}

// groupResult is Result for a tally with groups, by the rule at the top
// of this file.
func (t Tally) groupResult() (decided, approved bool) {
	var named []Vote
	for _, v := range t.Votes {
		if v.Group == "" {
			named = append(named, v)
		} else if !v.Approved {
			return true, false
		}
	}
	peopleApprove := true
	if len(t.Deciders) > 0 {
		pt := t
		pt.Groups, pt.Votes = nil, named
		d, a := pt.Result()
		if d && !a {
			return true, false
		}
		peopleApprove = d
	}
	for _, g := range t.GroupProgress() {
		if !g.Met() {
			return false, false
		}
	}
	return peopleApprove, peopleApprove
}

// CountsFor is the group a's vote counts for, "" for a named person
// deciding as themselves, or why it counts for none (a *Refusal). Check
// asks it; the orchestrator records its answer as the vote's group.
func (s Standing) CountsFor(a Attempt) (string, error) {
	if len(s.Groups) == 0 {
		return "", nil
	}
	needs := map[string]bool{}
	for _, g := range (Tally{Groups: s.Groups, Votes: s.Votes}).GroupProgress() {
		needs[g.Group] = !g.Met()
	}
	if strings.TrimSpace(a.Group) != "" {
		for _, rule := range s.Groups {
			if !SameGroup(rule.Group, a.Group) {
				continue
			}
			if !holdsGroup(a.Groups, rule.Group) {
				return "", &Refusal{Reason: ReasonNotApprover, Detail: "the group chosen is not one this person is a member of"}
			}
			if !needs[rule.Group] {
				return "", &Refusal{Reason: ReasonGroupComplete, Detail: "the group chosen has all the approvals it needs"}
			}
			return rule.Group, nil
		}
		return "", &Refusal{Reason: ReasonNotApprover, Detail: "the request asks no approvals of the group chosen"}
	}
	if containsPerson(s.Deciders, a.Who) {
		return "", nil
	}
	member := false
	for _, rule := range s.Groups {
		if holdsGroup(a.Groups, rule.Group) {
			member = true
			if needs[rule.Group] {
				return rule.Group, nil
			}
		}
	}
	if member {
		return "", &Refusal{Reason: ReasonGroupComplete, Detail: "every group of this request that this person is a member of has all the approvals it needs"}
	}
	return "", &Refusal{Reason: ReasonNotApprover, Detail: "only the approvers named in the request and members of its groups may decide it"}
}

// memberOf reports whether groups holds one of the rules' groups.
func memberOf(rules []GroupRule, groups []string) bool {
	for _, rule := range rules {
		if holdsGroup(groups, rule.Group) {
			return true
		}
	}
	return false
}

// GroupProgress is each of the approval's groups' progress, from the
// decisions recorded so far or, once it has ended, those its outcome
// records; none for a request without groups.
func (s State) GroupProgress() []GroupProgress {
	rules := s.GroupRules()
	if len(rules) == 0 {
		return nil
	}
	votes := s.Votes()
	if s.Request.Staged() {
		// An outcome records every stage's votes: count the stage's own.
		votes = slices.DeleteFunc(slices.Clone(votes), func(v Vote) bool { return v.Stage != s.Progress.Stage })
	}
	return Tally{Groups: rules, Votes: votes}.GroupProgress()
}

// groupRule is Rule for a request with groups.
func (s State) groupRule(rules []GroupRule) string {
	counts := make([]string, len(rules))
	for i, g := range rules {
		counts[i] = fmt.Sprintf("%d from %s", max(g.Required, 1), g.Group)
	}
	rule := "Approvals needed: " + strings.Join(counts, " and ")
	switch {
	case len(s.Request.Deciders()) == 0:
	case s.Request.Policy == PolicyAll:
		rule += ", and every named approver"
	case s.Request.Policy == PolicyQuorum:
		rule += fmt.Sprintf(", and %d of the named approvers", s.Request.Required)
	default:
		rule += ", and one of the named approvers"
	}
	return rule + ". A member decides once, for one group; one rejection by a member rejects the request."
}

// GroupsHeld are the request's groups, as it spells them, that groups
// holds: what a decision carries of its sender's groups, so that a
// decision records no more of a person's memberships than the request
// asks about, and one on a request without groups carries none.
func (r Request) GroupsHeld(groups []string) []string { return groupsHeld(r.GroupRules(), groups) }

// GroupsHeld is Request.GroupsHeld for the groups the approval asks
// about now: its current stage's, for a request with stages.
func (s State) GroupsHeld(groups []string) []string { return groupsHeld(s.GroupRules(), groups) }

// GroupRules are the groups the approval counts now: the request's, or
// its current stage's for a request with stages.
func (s State) GroupRules() []GroupRule {
	if n := s.Progress.Stage; s.Request.Staged() && n >= 1 && n <= len(s.Request.Stages) {
		return s.Request.stageRequest(n - 1).GroupRules()
	}
	return s.Request.GroupRules()
}

func groupsHeld(rules []GroupRule, groups []string) []string {
	var out []string
	for _, rule := range rules {
		if holdsGroup(groups, rule.Group) {
			out = append(out, rule.Group)
		}
	}
	return out
}

// Choices are the groups a's vote may count for, in the request's order:
// the request's groups that a holds and that still need approvals. The
// first is the one it counts for when a chooses none.
func (s Standing) Choices(a Attempt) []string {
	var out []string
	for _, g := range (Tally{Groups: s.Groups, Votes: s.Votes}).GroupProgress() {
		if !g.Met() && holdsGroup(a.Groups, g.Group) {
			out = append(out, g.Group)
		}
	}
	return out
}
