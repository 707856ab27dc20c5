package httpapi

import (
	"net/http"
	"net/url"
	"strings"
)

// refuseMisdirected answers 421 to a request for a host the API does not
// serve (see exposure.Hosts): a page on a rebinding domain would
// otherwise start and decide approvals through a browser that reaches the
// handler, as a page of its own origin that no cross-site check stops.
// The host judged is the one the client asked for: a trusted proxy's
// X-Forwarded-Host, or else Host. With no name configured, a trusted
// proxy's word is all there is to go by, so any host it names is served.
func (s *server) refuseMisdirected(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		forwarded := s.forwardedHost(r)
		if forwarded != "" {
			host = forwarded
		}
		if !s.hosts.Serves(host) && (forwarded == "" || s.hosts.Named()) {
			s.log.Warn("refused a request for a host not served", "host", host, "method", r.Method, "path", r.URL.Path)
			writeProblem(w, r, problem{Status: http.StatusMisdirectedRequest, Reason: "host_not_served", Detail: s.hosts.Refusal(host)})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// refuseCrossSite refuses a request that a browser sent from another site:
// a form on any web page can post to this API, with the signed-in
// person's cookies (App Service Authentication's session) attached, and
// make them decide without knowing it. Browsers say where a request comes
// from in Sec-Fetch-Site (all current ones) or else in Origin; a client
// that is not a browser sends neither and is let through, since it acts
// for whoever runs it and carries no one else's cookies. Refusals happen
// before anything else, so nothing is started or raised.
func (s *server) refuseCrossSite(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			if s.crossSite(r) {
				writeProblem(w, r, problem{Status: http.StatusForbidden, Reason: "cross_site",
					Detail: "this request was sent from another web site; decisions can only be made from this site's own pages"})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// crossSite reports whether a browser says r comes from another origin.
func (s *server) crossSite(r *http.Request) bool {
	if site := r.Header.Values("Sec-Fetch-Site"); len(site) > 0 {
		// same-origin: our own page; none: typed or bookmarked by the
		// person. same-site is refused too: a sibling subdomain is not
		// this application.
		return len(site) != 1 || (site[0] != "same-origin" && site[0] != "none")
	}
	origins := r.Header.Values("Origin")
	if len(origins) == 0 {
		return false
	}
	if len(origins) != 1 {
		return true
	}
	o, err := url.Parse(origins[0])
	// "null" is an opaque origin (a sandboxed frame, a file, a redirect
	// chain across sites): not ours.
	if err != nil || o.Host == "" || (o.Scheme != "http" && o.Scheme != "https") || o.Path != "" {
		return true
	}
	return !strings.EqualFold(o.Host, s.ownHost(r))
}

// ownHost is the host that this request's links name, as links are built.
// Only hosts are compared, not schemes: behind the Functions host, which
// ends TLS, the handler sees plain HTTP for pages browsers load over
// HTTPS. A page on our own host is ours whatever its scheme.
func (s *server) ownHost(r *http.Request) string {
	base, _ := s.base(r)
	if u, err := url.Parse(base); err == nil && u.Host != "" {
		return u.Host
	}
	return r.Host
}
