package httpapi

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/approvals-go/approvals/approval"
)

// problem is an RFC 9457 problem details body.
type problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	// Field names the request field at fault, when there is one.
	Field string `json:"field,omitempty"`
	// Reason is a stable code for refusals a client may act on, such as
	// self_decision or not_an_approver.
	Reason string `json:"reason,omitempty"`
	// ID and ApprovalStatus name the approval concerned, when there is one.
	ID             string `json:"id,omitempty"`
	ApprovalStatus string `json:"approval_status,omitempty"`
	// Result is the outcome that stands, when a decision conflicts with it.
	Result    *approval.Outcome `json:"result,omitempty"`
	ExpiresAt string            `json:"expires_at,omitempty"`
}

// writeProblem answers an error: as problem+json, or as a page to a
// browser.
func writeProblem(w http.ResponseWriter, r *http.Request, p problem) {
	if p.Type == "" {
		p.Type = "about:blank"
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	p.Instance = r.URL.Path
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="approvals"`)
	}
	if wantsHTML(r) {
		errorPage(w, r, p)
		return
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(body)
}

func badRequest(field, detail string) *problem {
	return &problem{Status: http.StatusBadRequest, Field: field, Detail: detail}
}

// fieldProblem is the 400 for a request the domain refused, naming the
// field at fault.
func fieldProblem(err error) *problem {
	p := badRequest("", err.Error())
	if fe, ok := approval.AsFieldError(err); ok {
		p.Field = fe.Field
	}
	return p
}

// shown makes client text safe to echo in a problem: short, valid UTF-8,
// and with control characters replaced by U+FFFD.
func shown(s string) string {
	const max = 64
	s = strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cc, r) {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	return string([]rune(s)[:max]) + "…"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
