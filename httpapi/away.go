package httpapi

import (
	"net/http"
	"net/url"
	"time"

	"github.com/approvals-go/approvals/approval"
)

// The away page: a person lists, gives and revokes their delegations in
// a browser. It is a people's route, as the inbox is: anonymous to the
// Functions host, with App Service Authentication in front of it saying
// who is looking; in development (body identity, no link key) it asks
// for a name, and with a link key and no sign-in there is no page, since
// it could not tell who is asking. Giving and revoking are the API's own
// (give, takeBack), so the page and POST /api/delegations answer alike.

// AwayPath is the away page.
const AwayPath = "/api/away"

// awayRequest is the away page's form: a delegation to give, or the id
// of one to revoke. Dates come from date fields, whole days in UTC.
type awayRequest struct {
	Person string `json:"person"`
	To     string `json:"to"`
	From   string `json:"from"`
	Until  string `json:"until"`
	Note   string `json:"note"`
	Revoke string `json:"revoke"`
}

// awayModel is the away page's content.
type awayModel struct {
	Person   string
	AskName  bool
	Given    []approval.Delegation
	Received []approval.Delegation
	// Refused says why the form's change was not made; Notice what was.
	Refused string
	Notice  string
	// Form keeps what was typed, when a change is refused.
	Form awayRequest
}

// awayWho is who the away page is for: the signed-in person, or in
// development the name given; "" (and no problem) when the page must ask.
func (s *server) awayWho(r *http.Request, named string) (person, *problem) {
	switch {
	case s.appService():
		who, p := s.principal(r)
		if p != nil {
			return person{}, p
		}
		return who, agrees("person", named, who)
	case s.opts.Links != nil:
		return person{}, &problem{Status: http.StatusForbidden, Reason: "sign_in_required",
			Detail: "there is no away page here, because this site cannot tell who you are without sign-in"}
	case named == "":
		return person{}, nil
	}
	return typed("person", named)
}

func (s *server) away(w http.ResponseWriter, r *http.Request) {
	store, ok := s.delegationStore(w, r)
	if !ok {
		return
	}
	who, p := s.awayWho(r, r.URL.Query().Get("person"))
	if p != nil {
		writeProblem(w, r, *p)
		return
	}
	s.awayPage(w, r, store, http.StatusOK, who, awayModel{Notice: r.URL.Query().Get("notice")})
}

// awayPost makes the form's change and goes back to the page
// (Post/Redirect/Get), or shows the page again with why it was refused.
func (s *server) awayPost(w http.ResponseWriter, r *http.Request) {
	store, ok := s.delegationStore(w, r)
	if !ok {
		return
	}
	var body awayRequest
	p := readBody(w, r, &body)
	var who person
	if p == nil {
		who, p = s.awayWho(r, body.Person)
	}
	if p == nil && who.name == "" {
		p = &problem{Status: http.StatusBadRequest, Field: "person", Detail: "person is required"}
	}
	if p != nil {
		writeProblem(w, r, *p)
		return
	}
	notice := "given"
	var code int
	if body.Revoke != "" {
		notice = "revoked"
		_, code, p = s.takeBack(w, r, store, who, body.Revoke)
	} else {
		_, code, p = s.give(w, r, store, who, approval.DelegationRequest{To: body.To, From: dayStart(body.From, 0), Until: dayStart(body.Until, 1), Note: body.Note})
	}
	if p != nil && !wantsHTML(r) {
		// A client that is not a browser reads the problem, as on every
		// route, rather than a page to scrape.
		writeProblem(w, r, *p)
		return
	}
	if p != nil {
		s.awayPage(w, r, store, p.Status, who, awayModel{Refused: p.Detail, Form: body})
		return
	}
	if code == http.StatusAccepted {
		// Sent, but not yet seen kept (or revoked): the page must not say
		// it is, since the ledger may still refuse it.
		notice = "sent"
	}
	v := url.Values{"notice": {notice}}
	if !s.appService() {
		v.Set("person", who.name)
	}
	http.Redirect(w, r, AwayPath+"?"+v.Encode(), http.StatusSeeOther)
}

// dayStart is the start of a date field's day plus days, in UTC, as RFC
// 3339: a delegation "until 14 July" holds through that day. Anything
// else is passed on for the domain to refuse by name.
func dayStart(date string, days int) string {
	d, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return date
	}
	return approval.FormatTime(d.AddDate(0, 0, days))
}

func (s *server) awayPage(w http.ResponseWriter, r *http.Request, store DelegationStore, code int, who person, m awayModel) {
	m.Person, m.AskName = who.name, !s.appService()
	now := time.Now()
	if who.name != "" {
		live, p := s.liveLedger(w, r, store, who, now)
		if p != nil {
			writeProblem(w, r, *p)
			return
		}
		m.Given, m.Received = live.Delegations, live.Received
	}
	s.render(w, r, code, "away", frame{SignedIn: s.pageIdentity(r), Inbox: inboxOf(r), Now: now, Page: m})
}
