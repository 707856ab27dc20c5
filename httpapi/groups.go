package httpapi

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/approvals-go/approvals/approval"
)

// Where a person's approver groups come from. Microsoft Entra ID puts the
// object ids of a signed-in person's groups in the token's groups claim
// when the app registration's groupMembershipClaims asks for them, and
// App Service Authentication forwards it in X-MS-CLIENT-PRINCIPAL; a
// request then names those groups by object id. The groups file
// (APPROVALS_GROUPS_FILE) adds the groups it lists the person's name in,
// in every identity mode: it is the only source in the body mode, for a
// signed link's person, and for the person the machine route's body
// names. Entra ID leaves the claim out for a person in more groups than a
// token holds (it says "hasgroups" instead); such a person holds, here,
// only the groups the file gives them.
var groupClaims = []string{
	"groups",
	"http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
}

// all returns every non-empty value of claims of the types, each once,
// as the claim carries it (unlike first, it does not trim).
func (c claims) all(types []string) []string {
	var out []string
	for _, cl := range c.Claims {
		if v := cl.Value; slices.Contains(types, cl.Type) && v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// groupsOf are the approver groups who holds: their principal's groups
// claim, then the groups file's groups for their name.
func (s *server) groupsOf(who person) []string {
	out := slices.Clone(who.claimed)
	for _, g := range s.opts.Groups.GroupsOf(who.name) {
		if !slices.ContainsFunc(out, func(c string) bool { return approval.SameGroup(c, g) }) {
			out = append(out, g)
		}
	}
	return out
}

// withGroups is d sent by who: with the groups who holds, which the rules
// and the orchestrator check membership against, when d is a decision or
// a request for changes (which a member may send as they may decide);
// a withdrawal or resubmission is the requester's, whose groups are moot.
func (s *server) withGroups(d approval.Decision, who person) approval.Decision {
	if d.Action == "" || d.Action == approval.ActionRequestChanges {
		d.Groups = s.groupsOf(who)
	}
	return d
}

// viewerGroups are the groups of the person an inbox lists for: the
// groups file's, and the principal's claim when that person is the one
// signed in.
func (s *server) viewerGroups(r *http.Request, approver string) []string {
	if approver == "" {
		return nil
	}
	who := person{name: approver}
	if s.appService() {
		if me, err := signedIn(r); err == nil && approval.SamePerson(me.name, approver) {
			who = me
		}
	}
	return s.groupsOf(who)
}

// pagePerson is who a page shows the form for when App Service
// Authentication signed them in, with their groups claim; nobody
// otherwise.
func (s *server) pagePerson(r *http.Request) person {
	if !s.appService() {
		return person{}
	}
	who, _ := signedIn(r)
	return who
}

// groupView is one group's progress in the API's JSON: its count, and who
// approved and rejected for it.
type groupView struct {
	Group    string   `json:"group"`
	Required int      `json:"required"`
	Approved []string `json:"approved"`
	Rejected []string `json:"rejected,omitempty"`
}

func groupsView(st approval.State) []groupView {
	var out []groupView
	for _, g := range st.GroupProgress() {
		out = append(out, groupView{Group: g.Group, Required: g.Required, Approved: append([]string{}, g.Approved...), Rejected: g.Rejected})
	}
	return out
}

// stillToDecide is who a request that counts several decisions waits
// for: the named approvers who have not decided, and the approvals each
// group still needs ("1 more from finance").
func stillToDecide(st approval.State) []string {
	out := st.StillToDecide()
	for _, g := range st.GroupProgress() {
		if !g.Met() {
			out = append(out, fmt.Sprintf("%d more from %s", g.Required-len(g.Approved), g.Group))
		}
	}
	return out
}
