package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
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

// maxNameBytes bounds a decider's name; e-mail addresses and UPNs are far
// shorter.
const maxNameBytes = 256

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

var errNoPrincipal = errors.New("no signed-in principal")

// signedIn returns the name of the principal App Service Authentication
// signed in for r.
func signedIn(r *http.Request) (string, error) {
	values := r.Header.Values(principalHeader)
	if len(values) == 0 {
		return "", errNoPrincipal
	}
	if len(values) > 1 {
		return "", fmt.Errorf("%d %s headers", len(values), principalHeader)
	}
	raw, err := base64.StdEncoding.DecodeString(values[0])
	if err != nil {
		// Some proxies drop base64's padding.
		raw, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(values[0], "="))
	}
	if err != nil {
		return "", fmt.Errorf("%s is not base64", principalHeader)
	}
	var p clientPrincipal
	if err := json.Unmarshal(raw, &p); err != nil {
		return "", fmt.Errorf("%s is not the JSON of a principal", principalHeader)
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
		return "", fmt.Errorf("the signed-in principal has no name claim")
	}
	if len(name) > maxNameBytes || !utf8.ValidString(name) || textFault(name) != "" {
		return "", fmt.Errorf("the signed-in principal's name is not usable as a name")
	}
	return name, nil
}

// principal is signedIn as the API answers it: 401 when there is no
// usable principal. Errors are logged, never echoed, since they describe
// what the platform sent.
func (s *server) principal(r *http.Request) (string, *problem) {
	name, err := signedIn(r)
	if err == nil {
		return name, nil
	}
	if !errors.Is(err, errNoPrincipal) {
		s.log.Warn("unusable principal", "path", r.URL.Path, "err", err)
	}
	return "", &problem{Status: http.StatusUnauthorized, Reason: "sign_in_required",
		Detail: "sign in to decide: this application takes who you are from App Service Authentication, and this request carries no signed-in principal"}
}

// decider is who a decision on the machine route is from: the body's
// approver, or in appservice mode the signed-in principal, with which a
// body's approver must agree.
func (s *server) decider(r *http.Request, f fields) (string, *problem) {
	named, _ := f.str("approver")
	if !s.appService() {
		if strings.TrimSpace(named) == "" {
			return "", &problem{Status: http.StatusBadRequest, Field: "approver", Detail: "approver is required"}
		}
		return named, nil
	}
	who, p := s.principal(r)
	if p != nil {
		return "", p
	}
	return who, agrees(named, who)
}

// agrees refuses a body that names another decider than the verified one.
// Not naming one is fine: the verified name is used.
func agrees(named, who string) *problem {
	if strings.TrimSpace(named) == "" || strings.EqualFold(strings.TrimSpace(named), who) {
		return nil
	}
	return &problem{Status: http.StatusForbidden, Field: "approver", Reason: "approver_mismatch",
		Detail: fmt.Sprintf("approver %q is not who you are: you are signed in as %s; leave approver out or send your own name", shown(named), who)}
}

// pageIdentity is the signed-in person a page greets, "" when pages do not
// know who is looking.
func (s *server) pageIdentity(r *http.Request) string {
	if !s.appService() {
		return ""
	}
	name, _ := signedIn(r)
	return name
}
