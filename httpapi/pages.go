package httpapi

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"hash/fnv"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/approvals-go/approvals/approval"
)

// templates are the pages: one layout, and a template per page that
// defines its "title" and "main".
//
//go:embed templates
var templates embed.FS

// pages are parsed once, when the program starts; a template that does
// not parse stops it at once rather than on a person's first visit.
var pages = parsePages("approval", "inbox", "error", "away")

func parsePages(names ...string) map[string]*template.Template {
	layout := template.Must(template.New("layout.html").Funcs(template.FuncMap{
		"asset":    assetURL,
		"datetime": approval.FormatTime,
		"human":    humanTime,
		"left":     timeLeft,
		"ago":      ago,
		"soon":     soon,
		"initials": initials,
		"hue":      hue,
	}).ParseFS(templates, "templates/layout.html"))
	out := map[string]*template.Template{}
	for _, name := range names {
		out[name] = template.Must(template.Must(layout.Clone()).ParseFS(templates, "templates/"+name+".html"))
	}
	return out
}

// pageHeaders are set on every page. The policy allows only this site's
// own files: no inline script or style, no framing (a framed page could be
// clicked through by another site), forms posted only here.
func pageHeaders(h http.Header) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'; form-action 'self'")
	h.Set("X-Frame-Options", "DENY")
	// A signed link carries its token in the URL; it must not travel on
	// in a Referer to anyone, this site's own assets included.
	h.Set("Referrer-Policy", "no-referrer")
}

// frame is what the layout needs besides the page's own content.
type frame struct {
	// SignedIn is who App Service Authentication signed in, if known.
	SignedIn string
	// Inbox links to the person's inbox.
	Inbox string
	// Refresh reloads the page after that many seconds; 0 never.
	Refresh int
	Now     time.Time
	Page    any
}

// render writes a page into a buffer first, so that a template that fails
// halfway is a clean 500, not half a page.
func render(w http.ResponseWriter, code int, name string, data frame) error {
	var buf bytes.Buffer
	if err := pages[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("500 Internal Server Error: the page could not be shown\n"))
		return fmt.Errorf("render %s page: %w", name, err)
	}
	pageHeaders(w.Header())
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
	return nil
}

func (s *server) render(w http.ResponseWriter, r *http.Request, code int, name string, data frame) {
	if err := render(w, code, name, data); err != nil {
		s.log.Error("page failed", "path", r.URL.Path, "err", err)
	}
}

// inboxKey carries, in a request's context, where the pages' Inbox link
// goes: "" when there is no inbox for an approver to use.
type inboxKey struct{}

// withInbox says where the Inbox link of every page of r goes. With
// signed links and no sign-in the inbox cannot tell who is looking, so
// pages offer no link to it rather than one to a refusal.
func (s *server) withInbox(next http.Handler) http.Handler {
	inbox := ReviewPath
	if s.opts.Links != nil && !s.appService() {
		inbox = ""
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), inboxKey{}, inbox)))
	})
}

// inboxOf is where the Inbox link of r's page goes, "" for none.
func inboxOf(r *http.Request) string {
	if inbox, ok := r.Context().Value(inboxKey{}).(string); ok {
		return inbox
	}
	return ReviewPath // refused before withInbox ran
}

// errorPage is a problem as a page.
func errorPage(w http.ResponseWriter, r *http.Request, p problem) {
	data := frame{Now: time.Now(), Inbox: inboxOf(r), Page: errorModel{Problem: p}}
	if p.Status == http.StatusUnauthorized {
		data.Page = errorModel{Problem: p, SignIn: signInURL(r)}
	}
	// A page that cannot be shown has already been answered as a 500.
	_ = render(w, p.Status, "error", data)
}

type errorModel struct {
	Problem problem
	// SignIn starts App Service Authentication's sign-in and returns here.
	SignIn string
}

// signInURL is App Service Authentication's sign-in for Microsoft Entra
// ID, returning to the page the person asked for.
func signInURL(r *http.Request) string {
	return LoginPath + "?" + url.Values{"post_login_redirect_uri": {r.URL.RequestURI()}}.Encode()
}

// Notices a redirect after a decision can ask the approval page to show.
const (
	noticeDelivered = "delivered"
	// noticeRecorded: a decision was recorded on an approval that waits
	// for more.
	noticeRecorded = "recorded"
	// noticeWithdrawing: a withdrawal was delivered, its outcome not
	// recorded yet.
	noticeWithdrawing = "withdrawing"
)

// pageForm is how an approval page lets its viewer decide.
type pageForm struct {
	// action is where the form posts.
	action string
	// as is the verified decider: the signed-in principal, or the
	// approver a signed link names.
	as person
	// token is the signed link's, posted back with the decision.
	token string
	// askName shows a name field: the typed name is the decider.
	askName bool
	// why says how to become able to decide, when the page cannot tell
	// who is looking.
	why string
	// refused is why the decision just posted was not taken.
	refused *problem
	// name and comments are what was posted, to show again after a
	// refusal.
	name, comments string
	notice         string
	// withdrawal lets the page offer its viewer, if the rules take a
	// withdrawal from them, to withdraw (the review page's);
	// confirmWithdraw shows that offer's confirm step, and reason is what
	// was posted with it.
	withdrawal, confirmWithdraw bool
	reason                      string
}

// approvalModel is the approval page's content.
type approvalModel struct {
	St approval.State
	// Deciders are the people named to decide; none means anyone but the
	// requester.
	Deciders []string
	// Features say, in words, what the approval's workflow supports beyond
	// the sample's contract, as it published once submitted.
	Features []string
	// Form is shown only while the viewer can decide.
	Form *formModel
	// Info explains why there is no form while the approval is pending.
	Info string
	// SignIn, when set, is where to sign in to decide.
	SignIn string
	// Refused is why the decision just posted was not taken.
	Refused string
	// Delivered says a decision was just delivered and its outcome is
	// not recorded yet.
	Delivered bool
	// Voted is the viewer's own decision on a request that needs several,
	// recorded while the others are awaited.
	Voted *approval.Vote
	// Recorded says a decision was just recorded on a request that needs
	// several, where the page cannot tell whose it was.
	Recorded bool
	// Waiting are the approvers still to decide, shown with Voted or
	// Recorded.
	Waiting []string
	// Withdraw offers the requester to withdraw. Withdrawing says the
	// page is its confirm step, the refusal of what that posted, or the
	// notice that a withdrawal was delivered.
	Withdraw    *withdrawModel
	Withdrawing bool
	// Stages and Rounds are the request's stages and rounds of changes,
	// and Resubmit the requester's form while changes are requested.
	Stages   []approval.StageProgress
	Rounds   []approval.ChangeRound
	Resubmit *formModel
	// SentBack is the round that waits for the requester to resubmit.
	SentBack *approval.ChangeRound
}

type formModel struct {
	Action, Token, As string
	AskName           bool
	Name, Comments    string
	// Groups are the groups the viewer may decide for, when more than
	// one: the form lets them choose.
	Groups []string
	// ActingFor is whom As decides for, by a delegation holding until
	// ActingUntil.
	ActingFor   string
	ActingUntil time.Time
	// Changes offers to send the request back; Stage and Round are what
	// the viewer sees, posted back so that a decision is not counted in
	// another. Item is the item to edit in a resubmission.
	Changes      bool
	Stage, Round int
	Item         string
}

// approvalPage shows an approval, with a form while the viewer may decide.
func (s *server) approvalPage(w http.ResponseWriter, r *http.Request, code int, st approval.State, form pageForm) {
	now := time.Now()
	m := approvalModel{St: st, Deciders: st.Deciders(), Features: featureWords(st.Progress.Features)}
	data := frame{SignedIn: s.pageIdentity(r), Inbox: inboxOf(r), Now: now}
	if form.refused != nil {
		m.Refused = form.refused.Detail
	}
	switch {
	case !st.Pending():
	case form.notice == noticeRecorded && form.refused == nil && form.as.name == "":
		m.Recorded, m.Waiting = true, stillToDecide(st)
		m.Form = &formModel{Action: form.action, AskName: form.askName}
		if !form.askName {
			m.Form = nil
		}
	case (form.notice == noticeDelivered || form.notice == noticeWithdrawing) && form.refused == nil:
		// The outcome shows once it is recorded; until then there is
		// nothing to do but wait, so the page reloads itself.
		m.Delivered = true
		data.Refresh = 3
	case st.Expired(now):
		m.Info = "The deadline has passed. The approval is closing without a decision."
		data.Refresh = 3
	case form.as.name != "":
		attempt := approval.Attempt{Who: form.as.name, At: now, Groups: s.groupsOf(form.as)}
		acting, err := s.delegation(r, st, form.as.name, attempt.Groups, now)
		if err != nil {
			s.log.Warn("delegations not read for a page", "id", st.ID, "err", err)
			m.Info = "Whether someone delegated this request to you could not be read just now. Reload the page in a moment."
			break
		}
		if acting != nil {
			attempt.ActingFor = acting.For
		}
		err = st.Check(attempt)
		if r, refused := approval.RefusalOf(err); refused && r.Reason == approval.ReasonAlreadyVoted {
			v, _ := (approval.Tally{Votes: st.Progress.Decisions}).VoteOf(form.as.name)
			m.Voted, m.Waiting = &v, stillToDecide(st)
			break
		} else if refused {
			m.Info = refusalText(form.as.name, r.Reason)
			break
		}
		m.Form = &formModel{Action: form.action, Token: form.token, As: form.as.name, Comments: form.comments,
			Groups: st.Standing().Choices(attempt)}
		if acting != nil {
			m.Form.ActingFor, m.Form.ActingUntil = acting.For, acting.Until()
		}
	case form.askName:
		m.Form = &formModel{Action: form.action, AskName: true, Name: form.name, Comments: form.comments}
	case s.appService():
		m.Info = "Sign in to decide on this request."
		m.SignIn = signInURL(r)
	default:
		m.Info = form.why
	}
	if st.Pending() {
		offerWithdrawal(&m, st, form, now)
	}
	roundsPage(&m, st, form)
	data.Page = m
	s.render(w, r, code, "approval", data)
}

// featureWords are features as the page names them; one this version
// does not know by its own name.
func featureWords(fs []approval.Feature) []string {
	var out []string
	for _, f := range fs {
		switch f {
		case approval.FeatureWithdraw:
			out = append(out, "withdrawal by its requester")
		case approval.FeatureGroups:
			out = append(out, "approvals counted per group")
		case approval.FeatureStages:
			out = append(out, "stages")
		case approval.FeatureRequestChanges:
			out = append(out, "requests for changes")
		default:
			out = append(out, string(f))
		}
	}
	return out
}

// refusalText says, to the person concerned, why they may not decide.
func refusalText(who string, reason approval.Reason) string {
	switch reason {
	case approval.ReasonSelfDecision:
		return "You requested this, so someone else must decide it."
	case approval.ReasonInvalidName:
		return "Your name cannot be used to decide: it holds characters that do not show as themselves."
	case approval.ReasonUnsupported:
		return "This request asks for several decisions, and its workflow does not say it counts them, so no decision can be taken here."
	case approval.ReasonUnsubmitted:
		return "The request is not sent to its approvers yet. Reload this page in a moment."
	case approval.ReasonGroupComplete:
		return "Your groups have all the approvals this request needs from them, so there is nothing left for you to decide."
	case approval.ReasonChangesRequested:
		return "Changes were requested: nothing is decided until the requester resubmits the request."
	}
	return fmt.Sprintf("%s is not among the approvers of this request, so cannot decide it.", who)
}

// humanTime is a time, or a timestamp of the wire contract, as a page
// shows it before its script, if any, puts it in the reader's own time
// zone.
func humanTime(v any) string {
	t, ok := v.(time.Time)
	if s, isString := v.(string); isString {
		parsed, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return s
		}
		t, ok = parsed, true
	}
	if !ok {
		return fmt.Sprint(v)
	}
	return t.UTC().Format("Mon 2 Jan 2006, 15:04 UTC")
}

// timeLeft says how long until t, in words.
func timeLeft(t, now time.Time) string {
	d := t.Sub(now)
	if d <= 0 {
		return "passed"
	}
	return durationWords(d) + " left"
}

// soon reports whether a deadline is close enough to say so: under two
// hours away.
func soon(t, now time.Time) bool { return t.Sub(now) < 2*time.Hour }

// ago says how long before now t was, in words.
func ago(t, now time.Time) string {
	d := now.Sub(t)
	if d < time.Minute {
		return "just now"
	}
	return durationWords(d) + " ago"
}

// durationWords rounds d to its two largest units.
func durationWords(d time.Duration) string {
	minutes := int(d.Round(time.Minute) / time.Minute)
	days, hours, mins := minutes/(24*60), minutes/60%24, minutes%60
	unit := func(n int, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %ss", n, one)
	}
	switch {
	case days > 0 && hours > 0:
		return unit(days, "day") + " " + unit(hours, "hour")
	case days > 0:
		return unit(days, "day")
	case hours > 0 && mins > 0:
		return unit(hours, "hour") + " " + unit(mins, "minute")
	case hours > 0:
		return unit(hours, "hour")
	case mins > 0:
		return unit(mins, "minute")
	}
	return "less than a minute"
}

// initials stand for a person in their avatar: the first letters of the
// first two parts of their name or of an e-mail address's local part.
func initials(name string) string {
	local, _, _ := strings.Cut(name, "@")
	parts := strings.FieldsFunc(local, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	var out []rune
	for _, p := range parts {
		out = append(out, unicode.ToUpper([]rune(p)[0]))
		if len(out) == 2 {
			break
		}
	}
	if len(out) == 0 {
		return "?"
	}
	return string(out)
}

// avatarHues is how many avatar colours the style sheet defines.
const avatarHues = 6

// hue picks a person's avatar colour, the same one on every page.
func hue(name string) int {
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(name)))
	return int(h.Sum32() % avatarHues)
}
