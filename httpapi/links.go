package httpapi

import (
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

type links struct{ status, decision, withdraw, changes, resubmit string }

// links builds the URLs of an approval. A function key given as ?code= is
// carried over, so a poller such as Logic Apps can follow Location without
// being told the key again; but only to the host the key was sent to, or
// to the configured public one, never to a host a header named.
func (s *server) links(r *http.Request, id string) links {
	base, keepKey := s.base(r)
	status := base + ApprovalsPath + "/" + url.PathEscape(id)
	decision, withdraw, changes, resubmit := status+"/decision", status+"/withdraw", status+"/changes", status+"/resubmit"
	if code := r.URL.Query().Get("code"); code != "" && keepKey {
		q := "?" + url.Values{"code": {code}}.Encode()
		status += q
		decision += q
		withdraw += q
		changes += q
		resubmit += q
	}
	return links{status: status, decision: decision, withdraw: withdraw, changes: changes, resubmit: resubmit}
}

// base returns the scheme and host links start with, and whether the
// function key may go with them. PublicBaseURL wins; then a trusted
// X-Forwarded-Host; then the request's own Host. With no valid host at all
// the links are relative: they resolve against the URL the client used,
// which is the one place they are sure to lead back to.
func (s *server) base(r *http.Request) (string, bool) {
	if s.opts.PublicBaseURL != "" {
		return s.opts.PublicBaseURL, true
	}
	scheme, host := "http", ""
	if r.TLS != nil {
		scheme = "https"
	}
	if validHost(r.Host) {
		host = r.Host
	}
	if h := s.forwardedHost(r); h != "" {
		host = h
	}
	if s.opts.TrustForwarded {
		if p := strings.ToLower(firstValue(r.Header.Get("X-Forwarded-Proto"))); p == "http" || p == "https" {
			scheme = p
		}
	}
	if host == "" {
		return "", true
	}
	return scheme + "://" + host, strings.EqualFold(host, r.Host)
}

// forwardedHost is the host a trusted proxy says the client asked for, or
// "" when proxies are not trusted or this one named no valid host.
func (s *server) forwardedHost(r *http.Request) string {
	if !s.opts.TrustForwarded {
		return ""
	}
	if h := firstValue(r.Header.Get("X-Forwarded-Host")); validHost(h) {
		return h
	}
	return ""
}

// firstValue is the first entry of a comma-separated header: the one the
// proxy nearest the client wrote.
func firstValue(v string) string {
	first, _, _ := strings.Cut(v, ",")
	return strings.TrimSpace(first)
}

// validHost reports whether h is a host name or an IP literal with an
// optional port, and nothing else: no user info, path, query, IPv6 zone or
// stray character that would make a link lead somewhere else than it
// reads.
func validHost(h string) bool {
	name, port := h, ""
	if rest, ok := strings.CutPrefix(h, "["); ok {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return false
		}
		ip, err := netip.ParseAddr(rest[:end])
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return false
		}
		port = rest[end+1:]
	} else {
		if i := strings.LastIndexByte(h, ':'); i >= 0 {
			name, port = h[:i], h[i:]
		}
		if !validName(name) {
			return false
		}
	}
	return port == "" || validPort(port)
}

// validName accepts an IPv4 literal or a DNS name of letters, digits and
// inner hyphens. A name whose last label is numeric is neither (browsers
// would read "1.2.3" as an address), so it is refused.
func validName(name string) bool {
	if ip, err := netip.ParseAddr(name); err == nil {
		return ip.Is4()
	}
	if name == "" || len(name) > 253 {
		return false
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return !digits(labels[len(labels)-1])
}

// validPort accepts ":" and a port number from 1 to 65535 in plain digits.
func validPort(p string) bool {
	num, ok := strings.CutPrefix(p, ":")
	if !ok || !digits(num) || len(num) > 5 {
		return false
	}
	n, _ := strconv.Atoi(num)
	return n >= 1 && n <= 65535
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
