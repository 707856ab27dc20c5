package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/approvals-go/approvals/approval"
)

// Headers App Service Authentication sets on each request it lets through
// for a signed-in caller. The platform removes these headers from what
// clients send before it sets its own, which is the only reason to trust
// them, and so they are read only with APPROVALS_IDENTITY=appservice, when
// the platform is known to sit in front.
const (
	principalHeader     = "X-MS-CLIENT-PRINCIPAL"
	principalNameHeader = "X-MS-CLIENT-PRINCIPAL-NAME"
)

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

var errNoPrincipal = errors.New("no signed-in principal")

// person is who a decision or a withdrawal is from: the name as given
// (typed, or the identity provider's) and, when signed in with Microsoft
// Entra ID, the principal's object id.
type person struct {
	name, oid string
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
	var p clientPrincipal
	if err := json.Unmarshal(raw, &p); err != nil {
		return person{}, fmt.Errorf("%s is not the JSON of a principal", principalHeader)
	}
	claim := func(typ string) string {
		for _, c := range p.Claims {
			if typ != "" && c.Type == typ && strings.TrimSpace(c.Value) != "" {
				return strings.TrimSpace(c.Value)
			}
		}
		return ""
	}
	name := claim(p.NameType)
	for i := 0; name == "" && i < len(nameClaims); i++ {
		name = claim(nameClaims[i])
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
	who := person{name: name}
	for i := 0; who.oid == "" && i < len(oidClaims); i++ {
		who.oid = claim(oidClaims[i])
	}
	return who, nil
}

// principal is signedIn as the API answers it: 401 when there is no
// usable principal. Errors are logged, never echoed, since they describe
// what the platform sent.
func (s *server) principal(r *http.Request) (person, *problem) {
	who, err := signedIn(r)
	if err == nil {
		return who, nil
	}
	if !errors.Is(err, errNoPrincipal) {
		s.log.Warn("unusable principal", "path", r.URL.Path, "err", err)
	}
	return person{}, &problem{Status: http.StatusUnauthorized, Reason: "sign_in_required",
		Detail: "sign in to decide: this application takes who you are from App Service Authentication, and this request carries no signed-in principal"}
}

// decider is who a decision on the machine route is from: the body's
// approver, or in appservice mode the signed-in principal, with which a
// body's approver must agree.
func (s *server) decider(r *http.Request, f fields) (person, *problem) {
	return s.verified(r, f, "approver")
}

// verified is who a request is from: the name in field, or with a
// verified identity the signed-in principal, whom field may not
// contradict (leaving it out is fine: the verified name is used).
func (s *server) verified(r *http.Request, f fields, field string) (person, *problem) {
	named, _ := f.str(field)
	if !s.appService() {
		return typed(field, named)
	}
	who, p := s.principal(r)
	if p != nil {
		return person{}, p
	}
	return who, agrees(field, named, who)
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
