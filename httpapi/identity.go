package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/approvals-go/approvals/approval"
)

// Headers App Service Authentication sets on each request it lets through
// for a signed-in caller. The platform removes these headers from what
// clients send before it sets its own, which is the only reason to trust
// them, and so they are read only with APPROVALS_IDENTITY=appservice, when
// the platform is known to sit in front of every route (no path excluded
// from it; see infra/modules/function-app.bicep).
const (
	principalHeader     = "X-MS-CLIENT-PRINCIPAL"
	principalNameHeader = "X-MS-CLIENT-PRINCIPAL-NAME"
)

// AppRole is the app role of the app registration that an application
// calling with a token of its own (a script's service principal, a Logic
// App's managed identity) must hold to act as itself: to decide, withdraw,
// or read its inbox. Microsoft Entra ID gives any application in the tenant
// a token for the app when asked; App Service Authentication checks only
// that the token is valid and meant for the app, and leaves roles to the
// application. People signed in are not asked for it.
const AppRole = "Approvals.Decide"

// LoginPath is where App Service Authentication starts a Microsoft Entra ID
// sign-in; post_login_redirect_uri says where to come back.
const LoginPath = "/.auth/login/aad"

// clientPrincipal is the decoded X-MS-CLIENT-PRINCIPAL header.
type clientPrincipal struct {
	AuthType string `json:"auth_typ"`
	Claims   []struct {
		Type  string `json:"typ"`
		Value string `json:"val"`
	} `json:"claims"`
	NameType string `json:"name_typ"`
	RoleType string `json:"role_typ"`
}

// nameClaims are the claims that hold a sign-in name, in the order they
// are tried when the claim that name_typ names is missing: Microsoft Entra
// ID puts the UPN or e-mail address in preferred_username and upn, other
// providers in an e-mail claim.
var nameClaims = []string{
	"preferred_username",
	"upn",
	"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
	"email",
	"emails",
	"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
}

// oidClaims hold the principal's stable object id in Microsoft Entra ID:
// a name can be changed or reused, the object id cannot.
var oidClaims = []string{
	"http://schemas.microsoft.com/identity/claims/objectidentifier",
	"oid",
}

// Claims of a Microsoft Entra ID access token that tell an application
// acting as itself from a person: the application (client) id of the
// caller (azp in v2.0 tokens, appid in v1.0), the delegated scopes a
// person's token carries and an application's never does, the app roles
// granted, and the optional idtyp claim ("app" or "user"), the plainest
// sign when the app registration asks for it. App Service Authentication
// passes some claims under long names; both are read.
var (
	appIDClaims = []string{"azp", "appid"}
	scopeClaims = []string{
		"scp",
		"http://schemas.microsoft.com/identity/claims/scope",
	}
	roleClaims = []string{
		"roles",
		"http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
	}
)

const idTypeClaim = "idtyp"

var (
	errNoPrincipal = errors.New("no signed-in principal")
	errNoAppRole   = errors.New("the application does not hold the app role " + AppRole)
)

// person is who a decision or a withdrawal is from: the name as given
// (typed, or the identity provider's) and, when signed in with Microsoft
// Entra ID, the principal's object id.
type person struct {
	name, oid string
	// claimed are the group ids the principal's groups claim carries.
	claimed []string
}

// claims is the decoded principal's claims, with the lookups the identity
// rules need.
type claims struct {
	clientPrincipal
}

// first returns the value of the first claim of typ, trimmed, or "".
func (c claims) first(typ string) string {
	for _, cl := range c.Claims {
		if typ != "" && cl.Type == typ && strings.TrimSpace(cl.Value) != "" {
			return strings.TrimSpace(cl.Value)
		}
	}
	return ""
}

// oneOf returns the first value of any of the types, in their order, or "".
func (c claims) oneOf(types []string) string {
	for _, typ := range types {
		if v := c.first(typ); v != "" {
			return v
		}
	}
	return ""
}

// application reports whether the principal is an application acting as
// itself, with no person behind it: a token whose idtyp says so, or,
// without idtyp, one that names a calling application and carries neither
// a person's delegated scopes nor a person's sign-in name. Anything else is
// taken for a person, whose name the person rules find (or fail to).
func (c claims) application() bool {
	switch strings.ToLower(c.first(idTypeClaim)) {
	case "app":
		return true
	case "":
	default:
		return false
	}
	return c.oneOf(appIDClaims) != "" && c.oneOf(scopeClaims) == "" && c.oneOf(nameClaims) == ""
}

// hasRole reports whether one of the principal's role claims is role.
func (c claims) hasRole(role string) bool {
	types := roleClaims
	if c.RoleType != "" {
		types = append(slices.Clone(roleClaims), c.RoleType)
	}
	for _, cl := range c.Claims {
		if slices.Contains(types, cl.Type) && strings.TrimSpace(cl.Value) == role {
			return true
		}
	}
	return false
}

// signedIn returns the principal App Service Authentication signed in for
// r.
func signedIn(r *http.Request) (person, error) {
	values := r.Header.Values(principalHeader)
	if len(values) == 0 {
		return person{}, errNoPrincipal
	}
	if len(values) > 1 {
		return person{}, fmt.Errorf("%d %s headers", len(values), principalHeader)
	}
	raw, err := base64.StdEncoding.DecodeString(values[0])
	if err != nil {
		// Some proxies drop base64's padding.
		raw, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(values[0], "="))
	}
	if err != nil {
		return person{}, fmt.Errorf("%s is not base64", principalHeader)
	}
	var c claims
	if err := json.Unmarshal(raw, &c.clientPrincipal); err != nil {
		return person{}, fmt.Errorf("%s is not the JSON of a principal", principalHeader)
	}
	// An application is known by its application (client) id, which
	// Microsoft Entra ID assigns, and never by a name: a display name is
	// whatever the owner of the app registration chose, a person's name
	// included.
	if c.application() {
		id := c.oneOf(appIDClaims)
		if id == "" {
			return person{}, fmt.Errorf("the application's token names no application id (%s)", strings.Join(appIDClaims, ", "))
		}
		if _, err := approval.CanonicalName(id); err != nil {
			return person{}, fmt.Errorf("the application id %w", err)
		}
		if !c.hasRole(AppRole) {
			return person{}, fmt.Errorf("%w: %s", errNoAppRole, id)
		}
		return person{name: id, oid: c.oneOf(oidClaims)}, nil
	}
	name := c.first(c.NameType)
	if name == "" {
		name = c.oneOf(nameClaims)
	}
	if name == "" {
		name = strings.TrimSpace(r.Header.Get(principalNameHeader))
	}
	if name == "" {
		return person{}, fmt.Errorf("the signed-in principal has no name claim")
	}
	if _, err := approval.CanonicalName(name); err != nil {
		return person{}, fmt.Errorf("the signed-in principal's name %w", err)
	}
	return person{name: name, oid: c.oneOf(oidClaims), claimed: c.all(groupClaims)}, nil
}

// principal is signedIn as the API answers it: 401 when there is no
// usable principal. Errors are logged, never echoed, since they describe
// what the platform sent.
func (s *server) principal(r *http.Request) (person, *problem) {
	who, err := signedIn(r)
	if err == nil {
		return who, nil
	}
	if errors.Is(err, errNoAppRole) {
		s.log.Warn("application without the app role", "path", r.URL.Path, "err", err)
		return person{}, &problem{Status: http.StatusForbidden, Reason: "app_role_required",
			Detail: "this application's token carries no " + AppRole + " role: grant the app role to its service principal or managed identity, then get a new token"}
	}
	if !errors.Is(err, errNoPrincipal) {
		s.log.Warn("unusable principal", "path", r.URL.Path, "err", err)
	}
	return person{}, &problem{Status: http.StatusUnauthorized, Reason: "sign_in_required",
		Detail: "sign in to decide: this application takes who you are from App Service Authentication, and this request carries no signed-in principal"}
}

// people guards the people's routes (the review pages and the inbox) when
// App Service Authentication says who is asking (appservice). The platform
// lets anonymous requests through to every route, so that a function key
// alone still starts, reads and lists approvals; these routes must then
// not serve anyone it has not signed in. A browser asking for a page is
// sent to sign in and brought back; anything else is answered 401 (or 403,
// for an application without the app role). In body mode the routes are
// as they were: signed links or typed names say who decides.
func (s *server) people(next http.HandlerFunc) http.HandlerFunc {
	if !s.appService() {
		return next
	}
	return func(w http.ResponseWriter, r *http.Request) {
		_, p := s.principal(r)
		if p == nil {
			next(w, r)
			return
		}
		if p.Status == http.StatusUnauthorized && len(r.Header.Values(principalHeader)) == 0 &&
			(r.Method == http.MethodGet || r.Method == http.MethodHead) && wantsHTML(r) {
			// Back to this very page, query (a signed link's token)
			// included: a path on this host, never another site.
			http.Redirect(w, r, signInURL(r), http.StatusFound)
			return
		}
		writeProblem(w, r, *p)
	}
}

// verified is who a request is from: the name it gives in field (the
// approver of a decision, the requester of a withdrawal), or with a
// verified identity the signed-in principal, whom field may not
// contradict (leaving it out is fine: the verified name is used).
func (s *server) verified(r *http.Request, named, field string) (person, *problem) {
	if !s.appService() {
		return typed(field, named)
	}
	who, p := s.principal(r)
	if p != nil {
		return person{}, p
	}
	return who, agrees(field, named, who)
}

// sender is who sent a body a route read, p being what was wrong with
// it: the person the body names in field, as verified says; false once
// the problem with the body or its sender is answered.
func (s *server) sender(w http.ResponseWriter, r *http.Request, p *problem, named, field string) (person, bool) {
	var who person
	if p == nil {
		who, p = s.verified(r, named, field)
	}
	if p != nil {
		writeProblem(w, r, *p)
		return person{}, false
	}
	return who, true
}

// typed is a person by the name typed into field, which must be usable as
// one.
func typed(field, named string) (person, *problem) {
	if strings.TrimSpace(named) == "" {
		return person{}, &problem{Status: http.StatusBadRequest, Field: field, Detail: field + " is required"}
	}
	if _, err := approval.CanonicalName(named); err != nil {
		return person{}, &problem{Status: http.StatusBadRequest, Field: field, Detail: field + " " + err.Error()}
	}
	return person{name: named}, nil
}

// agrees refuses a body whose field names someone other than the verified
// person. Not naming one is fine.
func agrees(field, named string, who person) *problem {
	if strings.TrimSpace(named) == "" || approval.SamePerson(named, who.name) {
		return nil
	}
	return &problem{Status: http.StatusForbidden, Field: field, Reason: field + "_mismatch",
		Detail: fmt.Sprintf("%s %q is not who you are: you are signed in as %s; leave %s out or send your own name", field, shown(named), who.name, field)}
}

// pageIdentity is the signed-in person a page greets, "" when pages do not
// know who is looking.
func (s *server) pageIdentity(r *http.Request) string {
	if !s.appService() {
		return ""
	}
	who, _ := signedIn(r)
	return who.name
}
