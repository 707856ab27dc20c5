package exposure

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
)

// Hosts are the host names a server answers to, judged on each request's
// Host header against DNS rebinding: a page on a domain whose DNS its
// author controls can point that name at 127.0.0.1, or at any address the
// browser reaches, and then drive the server there as a page of its own
// origin. Every same-origin check (CORS, Origin, Sec-Fetch-Site, a
// SameSite cookie the page set itself) passes, since to the browser the
// server is the page's own site; only the Host header still names the
// attacker's domain.
//
// Always served, whatever names are configured:
//   - "localhost", which browsers resolve to this machine without DNS;
//   - any IP address: rebinding needs a name that its author's DNS
//     answers, and a browser sends an address only for a page loaded
//     from that very address;
//   - an empty Host, which only an HTTP/1.0 client sends, never a
//     browser.
//
// Ports are not compared: a rebinding page names its own host, whatever
// port it uses.
type Hosts struct{ names []string }

// NewHosts serves names (host names, in any case; a port is ignored)
// besides the ones always served. Empty names are skipped, so an unset
// setting can be passed as it is.
func NewHosts(names ...string) Hosts {
	var h Hosts
	for _, n := range names {
		if n = hostname(strings.TrimSpace(n)); n != "" && !slices.Contains(h.names, n) {
			h.names = append(h.names, n)
		}
	}
	return h
}

// Named reports whether any name is configured beyond the ones always
// served.
func (h Hosts) Named() bool { return len(h.names) > 0 }

// Serves reports whether a request whose Host header is host may be
// answered.
func (h Hosts) Serves(host string) bool {
	if host == "" {
		return true
	}
	name := hostname(host)
	if name == "localhost" {
		return true
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return true
	}
	return slices.Contains(h.names, name)
}

// Refusal says, in one line for the client, that host is not served and
// which hosts are.
func (h Hosts) Refusal(host string) string {
	served := "localhost and IP addresses"
	if len(h.names) > 0 {
		served = "localhost, IP addresses and " + strings.Join(h.names, ", ")
	}
	return fmt.Sprintf("Host %q is not served here: this server answers only to %s, so that a web page on another domain cannot reach it through the browser (DNS rebinding)", host, served)
}

// hostname is the host of a Host header value, without port or brackets,
// in lower case.
func hostname(hostport string) string {
	return strings.ToLower((&url.URL{Host: hostport}).Hostname())
}
