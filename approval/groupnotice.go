package approval

import "time"

// groupsNeeding are the groups of the tally that still need approvals,
// and who has voted in it; none for a tally without groups.
func (t Tally) groupsNeeding() (groups, voted []string) {
	if len(t.Groups) == 0 {
		return nil, nil
	}
	for _, g := range t.GroupProgress() {
		if !g.Met() {
			groups = append(groups, g.Group)
		}
	}
	for _, v := range t.Votes {
		voted = append(voted, v.Approver)
	}
	return groups, voted
}

// groupNotices are the notices to the members of in.Groups that the
// groups file lists, each with a link signed for them: each person once,
// never the requester, nobody who has voted and nobody the notices to
// in.Approvers already tell. The members of a Microsoft Entra ID group
// the file does not list are not known here; they find the request in
// their inbox.
func (a *Activities) groupNotices(in NotifyInput, expires time.Time) []Notice {
	if a.Groups == nil || len(in.Groups) == 0 {
		return nil
	}
	var to []string
	for _, g := range in.Groups {
		for _, m := range a.Groups.Members(g) {
			if SamePerson(m, in.Request.Requester) || containsPerson(in.Voted, m) ||
				containsPerson(in.Approvers, m) || containsPerson(to, m) {
				continue
			}
			to = append(to, m)
		}
	}
	if len(to) == 0 {
		return nil
	}
	return a.notices(in.Request, in.Kind, to, expires)
}
