package approval

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// MaxNameBytes bounds a person's name as given; e-mail addresses and UPNs
// are far shorter.
const MaxNameBytes = 256

// Why a name is not usable as a person's identity. Each is the reason of
// a FieldError once the caller names the field.
var (
	ErrNameEmpty    = errors.New("must name a person")
	ErrNameTooLong  = errors.New("must be at most 256 bytes")
	ErrNameEncoding = errors.New("must be valid UTF-8")
	ErrNameHidden   = errors.New("must not contain control or invisible characters (line breaks, zero-width or direction marks)")
)

// fold is Unicode full case folding, which unlike strings.EqualFold also
// folds "ß" to "ss" and the final sigma; a Caser is not safe for
// concurrent use, so each call takes its own.
func fold(s string) string { return cases.Fold().String(s) }

// CanonicalName is the identity a name stands for: the one form in which
// names are compared, wherever a rule asks whether two names are one
// person (the requester and a decider, two votes, a signed link and a
// sign-in). It is the name in Unicode NFKC (fullwidth letters, ligatures
// and compatibility spaces become their plain forms), case-folded, with
// surrounding white space removed and inner runs of spaces made one,
// and an e-mail address's domain without a trailing dot. A name holding
// control or format characters (line breaks, zero-width spaces,
// direction overrides) is refused rather than cleaned, since a name that
// displays as another is how one person passes for another.
func CanonicalName(name string) (string, error) {
	if !utf8.ValidString(name) {
		return "", ErrNameEncoding
	}
	name = strings.TrimFunc(name, unicode.IsSpace)
	switch {
	case name == "":
		return "", ErrNameEmpty
	case len(name) > MaxNameBytes:
		return "", ErrNameTooLong
	}
	if ascii(name) {
		// The common case, and what the Unicode path below gives for
		// it, without its cost: rules ask this for every name they
		// compare.
		return canonicalASCII(name)
	}
	canon := norm.NFKC.String(fold(norm.NFKC.String(name)))
	for _, r := range canon {
		// Letters, marks, digits, punctuation, symbols and spaces: what
		// is left (controls such as line breaks and tabs, format
		// characters, private use, unassigned code points) does not show
		// as itself.
		if !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Zs) {
			return "", ErrNameHidden
		}
	}
	return tidy(canon)
}

func ascii(s string) bool {
	for i := range len(s) {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// canonicalASCII is CanonicalName of a trimmed ASCII name: NFKC leaves
// ASCII as it is, and folding it is lower-casing.
func canonicalASCII(name string) (string, error) {
	for i := range len(name) {
		if c := name[i]; c < ' ' || c == 0x7f {
			return "", ErrNameHidden
		}
	}
	return tidy(strings.ToLower(name))
}

// tidy makes inner runs of spaces one and drops an e-mail domain's
// trailing dot, the last steps of CanonicalName.
func tidy(canon string) (string, error) {
	canon = strings.Join(strings.Fields(canon), " ")
	if at := strings.LastIndexByte(canon, '@'); at >= 0 {
		canon = canon[:at+1] + strings.TrimRight(canon[at+1:], ".")
	}
	if canon == "" {
		return "", ErrNameEmpty
	}
	return canon, nil
}

// IdentityOf is name's canonical form when it differs from name as given,
// else "": what a record keeps beside the name (Vote.Identity,
// Outcome.ApproverIdentity, an audit entry's identity).
func IdentityOf(name string) string {
	if c, err := CanonicalName(name); err == nil && c != name {
		return c
	}
	return ""
}

// SamePerson reports whether two names are one person's. A name that is not
// usable is nobody, so it is the same as no one.
func SamePerson(a, b string) bool { return sameCanonical(CanonicalName, a, b) }

// sameCanonical reports whether canon makes a and b one name; a name canon
// refuses is the same as none.
func sameCanonical(canon func(string) (string, error), a, b string) bool {
	ca, err := canon(a)
	if err != nil {
		return false
	}
	cb, err := canon(b)
	return err == nil && ca == cb
}

// checkName reports why name is not usable, as a FieldError of field.
func checkName(field, name string) error {
	if _, err := CanonicalName(name); err != nil {
		return &FieldError{Field: field, Reason: err.Error()}
	}
	return nil
}

// addPeople appends to out each usable name of names, trimmed, whose
// person is not in seen yet, and adds them to seen (canonical names):
// each person once, as first written, each name canonicalised once.
func addPeople(out []string, seen map[string]bool, names []string) []string {
	for _, name := range names {
		canon, err := CanonicalName(name)
		if err != nil || seen[canon] {
			continue
		}
		seen[canon] = true
		out = append(out, strings.TrimSpace(name))
	}
	return out
}

// containsPerson reports whether names holds someone who is who.
func containsPerson(names []string, who string) bool {
	canon, err := CanonicalName(who)
	if err != nil {
		return false
	}
	for _, n := range names {
		if c, err := CanonicalName(n); err == nil && c == canon {
			return true
		}
	}
	return false
}
