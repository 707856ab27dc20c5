package httpapi

import (
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// wantsHTML reports whether the client prefers a page to JSON: whether its
// Accept header ranks text/html above application/json. Browsers send
// text/html first and everything else at a lower weight; Logic Apps, curl
// and scripts send */*, application/json or nothing, and so get JSON, as
// they always have. A tie goes to JSON, the API's own language.
func wantsHTML(r *http.Request) bool {
	accept := strings.Join(r.Header.Values("Accept"), ",")
	if accept == "" {
		return false
	}
	return weight(accept, "text", "html") > weight(accept, "application", "json")
}

// weight is the quality Accept gives the type/subtype: that of the most
// specific range that matches it (RFC 9110, 12.5.1), 0 when none does.
func weight(accept, typ, sub string) float64 {
	best, bestSpecificity := 0.0, -1
	for _, part := range strings.Split(accept, ",") {
		mediaType, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		t, s, _ := strings.Cut(mediaType, "/")
		specificity := 0
		switch {
		case t == typ && s == sub:
			specificity = 2
		case t == typ && s == "*":
			specificity = 1
		case t == "*" && s == "*":
		default:
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil || n < 0 || n > 1 {
				continue
			}
			q = n
		}
		if specificity > bestSpecificity {
			best, bestSpecificity = q, specificity
		}
	}
	return best
}
