package httpapi

import (
	"net/http"
	"net/url"
)

type links struct{ status, decision string }

// links builds absolute URLs for an approval. A function key given as ?code=
// is carried over, so a poller such as Logic Apps can follow Location
// without being told the key again.
func (s *server) links(r *http.Request, id string) links {
	base := s.opts.PublicBaseURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
			scheme = p
		}
		host := r.Host
		if h := r.Header.Get("X-Forwarded-Host"); h != "" {
			host = h
		}
		base = scheme + "://" + host
	}
	status := base + ApprovalsPath + "/" + url.PathEscape(id)
	decision := status + "/decision"
	if code := r.URL.Query().Get("code"); code != "" {
		q := "?" + url.Values{"code": {code}}.Encode()
		status += q
		decision += q
	}
	return links{status: status, decision: decision}
}
