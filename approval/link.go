package approval

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Paths of the pages people use, under the Functions host's "api" prefix.
// ReviewPath is where an approver sees a request and decides; it is the
// approval link, signed or plain.
const (
	ApprovalsPath = "/api/approvals"
	ReviewPath    = "/api/review"
)

// StatusURL is the API's status route of an approval, under base.
func StatusURL(base, id string) string {
	return base + ApprovalsPath + "/" + url.PathEscape(id)
}

// ReviewURL is the page where a person sees and decides an approval.
func ReviewURL(base, id string) string {
	return base + ReviewPath + "/" + url.PathEscape(id)
}

// MinLinkKeyBytes keeps link keys long enough that guessing one is out of
// reach: the same strength as the HMAC-SHA256 they key.
const MinLinkKeyBytes = 32

// Errors a link check reports. They are kept apart so that the page can
// tell a person what to do, while saying nothing that helps a forger.
var (
	ErrLinkInvalid = errors.New("the link is not valid: it was changed, or it was signed with a key that is no longer accepted")
	ErrLinkExpired = errors.New("the link has expired: the approval's deadline has passed")
)

// LinkSigner signs and checks the one-click links an approver receives: an
// HMAC-SHA256 over the approval, the approver and an expiry. Links signed
// with the previous key still check, so that keys can be rotated without
// breaking links already sent.
type LinkSigner struct {
	key, previous []byte
}

// NewLinkSigner returns a signer for key, also accepting links signed with
// previous (which may be empty). An empty key means no signer: nil, nil.
func NewLinkSigner(key, previous string) (*LinkSigner, error) {
	if key == "" {
		if previous != "" {
			return nil, errors.New("a previous link key is set without a current one")
		}
		return nil, nil
	}
	if len(key) < MinLinkKeyBytes {
		return nil, fmt.Errorf("the link key must be at least %d bytes long (for example `openssl rand -base64 32`)", MinLinkKeyBytes)
	}
	if previous != "" && len(previous) < MinLinkKeyBytes {
		return nil, fmt.Errorf("the previous link key must be at least %d bytes long", MinLinkKeyBytes)
	}
	s := &LinkSigner{key: []byte(key)}
	if previous != "" {
		s.previous = []byte(previous)
	}
	return s, nil
}

// LinkClaims is what a signed link vouches for.
type LinkClaims struct {
	ID       string    `json:"id"`
	Approver string    `json:"sub"`
	Expires  time.Time `json:"-"`
	Exp      int64     `json:"exp"`
}

// linkDomain separates these MACs from any other use of the same key.
const linkDomain = "approvals-link-v1\n"

// Token signs a link for approver to decide approval id until expires.
func (s *LinkSigner) Token(id, approver string, expires time.Time) string {
	body, _ := json.Marshal(LinkClaims{ID: id, Approver: approver, Exp: expires.Unix()})
	payload := base64.RawURLEncoding.EncodeToString(body)
	return payload + "." + base64.RawURLEncoding.EncodeToString(mac(s.key, payload))
}

// SignedReviewURL is the review page of id with a link signed for approver.
func (s *LinkSigner) SignedReviewURL(base, id, approver string, expires time.Time) string {
	return ReviewURL(base, id) + "?" + url.Values{"token": {s.Token(id, approver, expires)}}.Encode()
}

// Check verifies a token for approval id at now and returns what it vouches
// for.
func (s *LinkSigner) Check(token, id string, now time.Time) (LinkClaims, error) {
	payload, sig, ok := strings.Cut(token, ".")
	if !ok {
		return LinkClaims{}, ErrLinkInvalid
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return LinkClaims{}, ErrLinkInvalid
	}
	if !hmac.Equal(got, mac(s.key, payload)) && (s.previous == nil || !hmac.Equal(got, mac(s.previous, payload))) {
		return LinkClaims{}, ErrLinkInvalid
	}
	body, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return LinkClaims{}, ErrLinkInvalid
	}
	var c LinkClaims
	if err := json.Unmarshal(body, &c); err != nil || c.ID != id || strings.TrimSpace(c.Approver) == "" {
		return LinkClaims{}, ErrLinkInvalid
	}
	c.Expires = time.Unix(c.Exp, 0).UTC()
	if !now.Before(c.Expires) {
		return c, ErrLinkExpired
	}
	return c, nil
}

func mac(key []byte, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(linkDomain))
	m.Write([]byte(payload))
	return m.Sum(nil)
}
