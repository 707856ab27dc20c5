package dashboard

import (
	"net/http"
	"strings"
)

// ServicePrefix is where the service answers its JSON API at its own
// endpoint: tools given the scheduler's endpoint rather than the
// dashboard's, such as the Azure CLI's durabletask extension, append
// /v1/taskhubs/... to it.
const ServicePrefix = "/v1/taskhubs/"

// ServiceAPI is the JSON API under ServicePrefix, for the scheduler's own
// port: the handlers of /api/v1/taskhubs/..., with the same x-taskhub
// header, host check, token and refusal of cross-site requests. Any other
// path is 404; the pages are not served there.
func (s *Server) ServiceAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, ServicePrefix) {
			problem(w, http.StatusNotFound, "only the task hub API ("+ServicePrefix+"...) and gRPC are served here")
			return
		}
		u := *r.URL
		u.Path = "/api" + u.Path
		if u.RawPath != "" {
			u.RawPath = "/api" + u.RawPath
		}
		r2 := *r
		r2.URL = &u
		s.handler.ServeHTTP(w, &r2)
	})
}
