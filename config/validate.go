package config

import (
	"fmt"
	"net/url"
	"reflect"
	"strings"
)

// Validate checks what Load cannot: that Identity is a known mode, the link
// keys are usable, and that PublicBaseURL, when set, is a base
// for links, an absolute http or https URL with a host and nothing after
// its path. Links and the function key go there, so a mistake is refused
// at start-up rather than handed to every caller. Errors name the variable,
// not the value, which might hold credentials.
func (h Handler) Validate() error {
	// Empty is the default, for configurations built in code.
	if h.Identity != "" && h.Identity != IdentityBody && h.Identity != IdentityAppService {
		return fmt.Errorf("%s: must be %q or %q", envKeys(reflect.TypeOf(h))["Identity"], IdentityBody, IdentityAppService)
	}
	if err := h.Links.Validate(); err != nil {
		return err
	}
	if err := h.Audit.Validate(); err != nil {
		return err
	}
	if h.PublicBaseURL == "" {
		return nil
	}
	name := envKeys(reflect.TypeOf(h))["PublicBaseURL"]
	u, err := url.Parse(h.PublicBaseURL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("%s: must be an absolute http or https URL such as https://approvals.example.com", name)
	case u.User != nil:
		return fmt.Errorf("%s: must not hold a user name or password", name)
	case strings.ContainsAny(h.PublicBaseURL, "?#"):
		return fmt.Errorf("%s: must not have a query or fragment: links add their own path and query", name)
	case strings.ContainsFunc(h.PublicBaseURL, notURLChar):
		return fmt.Errorf("%s: must be plain ASCII with spaces and other special characters percent-encoded (an international domain name in its xn-- form)", name)
	}
	return nil
}

// notURLChar reports whether r may not appear literally in a URL, and so
// not in a Location header built from the base.
func notURLChar(r rune) bool {
	return r <= ' ' || r >= 0x7f || strings.ContainsRune("\"<>\\^`{|}", r)
}
