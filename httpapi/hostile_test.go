package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/httpapi"
)

// hostileCase is a request that must be refused with code, naming field
// ("" when no field is at fault) with a detail containing reason, and
// reaching the scheduler not at all.
type hostileCase struct {
	name, path, contentType, body string
	code                          int
	field, reason                 string
	// header is added to the request, after Content-Type is set.
	header http.Header
}

const (
	hostileID     = "hostile-pending"
	hostileStart  = httpapi.ApprovalsPath
	hostileDecide = "/api/approvals/" + hostileID + "/decision"
	ctJSON        = "application/json"
	ctForm        = "application/x-www-form-urlencoded"
)

// hostileCases are refused on both routes for reasons of the body as a
// whole, then refused on each route for one field's sake.
func hostileCases() []hostileCase {
	var cases []hostileCase
	for _, route := range []struct{ name, path, json, form string }{
		{"start", hostileStart, `{"requester":"ana","item":"pen"}`, "requester=ana&item=pen"},
		{"decision", hostileDecide, `{"approved":true,"approver":"bob"}`, "approved=true&approver=bob"},
	} {
		add := func(name, contentType, body string, code int, reason string) {
			cases = append(cases, hostileCase{route.name + ": " + name, route.path, contentType, body, code, "", reason, nil})
		}
		withHeader := func(name string, header http.Header, body string, code int, reason string) {
			cases = append(cases, hostileCase{route.name + ": " + name, route.path, ctJSON, body, code, "", reason, header})
		}
		add("trailing }", ctJSON, route.json+"}", 400, "exactly one JSON object")
		add("trailing ]", ctJSON, route.json+"]", 400, "exactly one JSON object")
		add("trailing garbage", ctJSON, route.json+" garbage", 400, "exactly one JSON object")
		add("two JSON values", ctJSON, route.json+route.json, 400, "exactly one JSON object")
		add("object then null", ctJSON, route.json+"\nnull", 400, "exactly one JSON object")
		add("trailing comma", ctJSON, strings.TrimSuffix(route.json, "}")+",}", 400, "not valid JSON")
		add("truncated", ctJSON, strings.TrimSuffix(route.json, "}"), 400, "not valid JSON")
		add("comment", ctJSON, "/* hi */"+route.json, 400, "not a JSON object")
		add("BOM", ctJSON, "\uFEFF"+route.json, 400, "byte order mark")
		add("empty body", ctJSON, "", 400, "empty")
		add("whitespace-only body", ctJSON, " \r\n\t ", 400, "empty")
		add("top-level array", ctJSON, "["+route.json+"]", 400, "not a JSON object")
		add("top-level string", ctJSON, `"approved"`, 400, "not a JSON object")
		add("top-level number", ctJSON, `1`, 400, "not a JSON object")
		add("top-level null", ctJSON, `null`, 400, "not a JSON object")
		add("Latin-1 form", ctForm+"; charset=ISO-8859-1", route.form, 415, `charset "ISO-8859-1"`)
		add("UTF-16 JSON", ctJSON+"; charset=utf-16", route.json, 415, `charset "utf-16"`)
		add("windows-1252 JSON", ctJSON+`; charset="windows-1252"`, route.json, 415, `charset "windows-1252"`)
		add("duplicate charset", ctJSON+"; charset=utf-8; charset=iso-8859-1", route.json, 415, "not supported")
		withHeader("two Content-Types", http.Header{"Content-Type": {ctForm}}, route.json, 400, "2 Content-Type headers")
		withHeader("gzip body", http.Header{"Content-Encoding": {"gzip"}}, gzipped(route.json), 415, `Content-Encoding "gzip"`)
		add("too large JSON", ctJSON, strings.TrimSuffix(route.json, "}")+`,"x":"`+strings.Repeat("x", httpapi.MaxBodyBytes)+`"}`, 413, "larger than")
		add("too large form", ctForm, route.form+"&x="+strings.Repeat("x", httpapi.MaxBodyBytes), 413, "larger than")
	}

	start := func(name, contentType, body, field, reason string) {
		cases = append(cases, hostileCase{"start: " + name, hostileStart, contentType, body, 400, field, reason, nil})
	}
	start("duplicate item", ctJSON, `{"requester":"ana","item":"pen","item":"car"}`, "item", "more than once")
	start("duplicate timeout_hours", ctJSON, `{"requester":"ana","item":"pen","timeout_hours":1,"timeout_hours":1000}`, "timeout_hours", "more than once")
	start("duplicate by escape", ctJSON, `{"requester":"ana","item":"pen","it\u0065m":"car"}`, "item", "more than once")
	start("case-variant duplicate", ctJSON, `{"requester":"ana","item":"pen","Item":"car"}`, "Item", "case-sensitive")
	start("upper-case key", ctJSON, `{"REQUESTER":"ana","item":"pen"}`, "REQUESTER", "case-sensitive")
	start("key folding to a known one", ctJSON, `{"reque\u017fter":"ana","item":"pen"}`, "reque\u017fter", "case-sensitive")
	start("unknown key", ctJSON, `{"requester":"ana","item":"pen","timeout_hour":2}`, "timeout_hour", "accepted fields")
	start("invalid UTF-8 value", ctJSON, "{\"requester\":\"Jos\xe9\",\"item\":\"pen\"}", "requester", "not valid UTF-8")
	start("invalid UTF-8 key", ctJSON, "{\"requester\":\"ana\",\"item\":\"pen\",\"appr\xffover\":\"bob\"}", "appr\uFFFDover", "not valid UTF-8")
	start("overlong UTF-8", ctJSON, "{\"requester\":\"ana\",\"item\":\"..\xc0\xafetc\xc0\xafpasswd\"}", "item", "not valid UTF-8")
	start("UTF-8 encoded surrogate", ctJSON, "{\"requester\":\"ana\",\"item\":\"\xed\xa0\x80\"}", "item", "not valid UTF-8")
	start("escaped lone surrogate", ctJSON, `{"requester":"\ud800","item":"pen"}`, "requester", "lone surrogate")
	start("escaped lone surrogate in key", ctJSON, `{"requester":"ana","item":"pen","approver\udfff":"bob"}`, "approver\uFFFD", "lone surrogate")
	start("escaped NUL", ctJSON, `{"requester":"ana","item":"pen\u0000"}`, "item", "U+0000")
	start("raw NUL", ctJSON, "{\"requester\":\"ana\",\"item\":\"pen\x00\"}", "item", "U+0000")
	start("escape sequence", ctJSON, `{"requester":"\u001b[2Jana","item":"pen"}`, "requester", "U+001B")
	start("C1 control", ctJSON, "{\"requester\":\"ana\",\"item\":\"pen\xc2\x85\"}", "item", "U+0085")
	start("NUL in request_id", ctJSON, `{"request_id":"a\u0000b","requester":"ana","item":"pen"}`, "request_id", "U+0000")
	start("number as string", ctJSON, `{"requester":"ana","item":"pen","timeout_hours":"2"}`, "timeout_hours", "not a string")
	start("hex number", ctJSON, `{"requester":"ana","item":"pen","timeout_hours":0x10}`, "timeout_hours", "JSON number")
	start("underscore number", ctJSON, `{"requester":"ana","item":"pen","timeout_hours":1_000}`, "timeout_hours", "JSON number")
	start("Infinity", ctJSON, `{"requester":"ana","item":"pen","timeout_hours":Infinity}`, "timeout_hours", "JSON number")
	start("-Infinity", ctJSON, `{"requester":"ana","item":"pen","timeout_hours":-Infinity}`, "timeout_hours", "JSON number")
	start("NaN", ctJSON, `{"requester":"ana","item":"pen","timeout_hours":NaN}`, "timeout_hours", "JSON number")
	start("1e400", ctJSON, `{"requester":"ana","item":"pen","timeout_hours":1e400}`, "timeout_hours", "out of range")
	start("negative zero", ctJSON, `{"requester":"ana","item":"pen","timeout_hours":-0}`, "timeout_hours", "positive")
	start("negative timeout", ctJSON, `{"requester":"ana","item":"pen","timeout_hours":-1}`, "timeout_hours", "positive")
	start("array for a string", ctJSON, `{"requester":["ana"],"item":"pen"}`, "requester", "not an array")
	start("object for a string", ctJSON, `{"requester":{"name":"ana"},"item":"pen"}`, "requester", "not an object")
	start("number for a string", ctJSON, `{"requester":"ana","item":5}`, "item", "not a number")
	start("boolean for a string", ctJSON, `{"requester":"ana","item":true}`, "item", "not a boolean")
	start("array for a number", ctJSON, `{"requester":"ana","item":"pen","timeout_hours":[1]}`, "timeout_hours", "not an array")
	start("null is not given", ctJSON, `{"requester":null,"item":"pen"}`, "requester", "required")

	// Instance IDs: the scheduler's limits, the characters the API takes,
	// and never the ID of another approval's callback orchestration,
	// which a start would otherwise take in its place.
	start("callback's ID", ctJSON, `{"request_id":"`+approval.CallbackInstanceID(hostileID)+`","requester":"ana","item":"pen"}`,
		"request_id", `"hostile-pending:callback" is the ID of the callback orchestration of approval "hostile-pending"`)
	start("form callback's ID", ctForm, "request_id=x%3Acallback&requester=ana&item=pen", "request_id", `must not end in ":callback"`)
	start("@ in request_id", ctJSON, `{"request_id":"ana@example","requester":"ana","item":"pen"}`, "request_id", "letters, digits")
	start("space in request_id", ctForm, "request_id=a+b&requester=ana&item=pen", "request_id", "letters, digits")
	start("101-character request_id", ctJSON, `{"request_id":"`+strings.Repeat("a", 101)+`","requester":"ana","item":"pen"}`, "request_id", "1 to 100")
	start("request_id too long for a callback", ctJSON, `{"request_id":"`+strings.Repeat("a", 92)+`","requester":"ana","item":"pen","callback_url":"https://example.com/cb"}`,
		"request_id", "at most 91 characters with a callback_url")
	// The 366-day limit, exactly.
	start("timeout past the limit by 1ns", ctJSON, `{"requester":"ana","item":"pen","timeout":"8784h1ns"}`, "timeout", "timeout must be at most 8784 hours")
	start("timeout past the limit", ctForm, "requester=ana&item=pen&timeout=8785h", "timeout", "at most 8784 hours")
	start("timeout_hours past the limit", ctJSON, `{"requester":"ana","item":"pen","timeout_hours":8784.000001}`, "timeout_hours", "at most 8784 hours")
	start("timeout_hours past the limit by the least", ctJSON,
		`{"requester":"ana","item":"pen","timeout_hours":`+strconv.FormatFloat(math.Nextafter(8784, math.Inf(1)), 'g', -1, 64)+`}`, "timeout_hours", "at most 8784 hours")
	start("form timeout_hours past the limit", ctForm, "requester=ana&item=pen&timeout_hours=8784.000001", "timeout_hours", "at most 8784 hours")
	start("timeout short of the minimum by 1ns", ctJSON, `{"requester":"ana","item":"pen","timeout":"999999999ns"}`, "timeout", "at least 1s")
	// A callback URL carries no credential of its own in user information.
	start("callback_url with a password", ctJSON, `{"requester":"ana","item":"pen","callback_url":"https://flow:s3cret@example.com/cb"}`, "callback_url", "user information")
	start("callback_url with a user", ctJSON, `{"requester":"ana","item":"pen","callback_url":"https://trusted.example@evil.example/cb"}`, "callback_url", "user information")
	start("form callback_url with a password", ctForm, "requester=ana&item=pen&callback_url=https%3A%2F%2Fflow%3As3cret%40example.com%2Fcb", "callback_url", "user information")

	start("form hex float", ctForm, "requester=ana&item=pen&timeout_hours=0x1p3", "timeout_hours", "plain decimal")
	start("form underscore", ctForm, "requester=ana&item=pen&timeout_hours=1_0", "timeout_hours", "plain decimal")
	start("form exponent", ctForm, "requester=ana&item=pen&timeout_hours=1e1", "timeout_hours", "plain decimal")
	start("form Inf", ctForm, "requester=ana&item=pen&timeout_hours=Inf", "timeout_hours", "plain decimal")
	start("form +Inf", ctForm, "requester=ana&item=pen&timeout_hours=%2BInf", "timeout_hours", "plain decimal")
	start("form infinity", ctForm, "requester=ana&item=pen&timeout_hours=infinity", "timeout_hours", "plain decimal")
	start("form NaN", ctForm, "requester=ana&item=pen&timeout_hours=NaN", "timeout_hours", "plain decimal")
	start("form negative zero", ctForm, "requester=ana&item=pen&timeout_hours=-0", "timeout_hours", "positive")
	start("form huge number", ctForm, "requester=ana&item=pen&timeout_hours=1"+strings.Repeat("0", 400), "timeout_hours", "out of range")
	start("form repeated field", ctForm, "requester=ana&requester=eve&item=pen", "requester", "more than once")
	start("form case variant", ctForm, "requester=ana&item=pen&Item=car", "Item", "case-sensitive")
	start("form invalid UTF-8 value", ctForm, "requester=%FF&item=pen", "requester", "not valid UTF-8")
	start("form raw Latin-1 value", ctForm, "requester=ana&item=caf\xe9", "item", "not valid UTF-8")
	start("form invalid UTF-8 key", ctForm, "%FFrequester=ana&item=pen", "\uFFFDrequester", "not valid UTF-8")
	start("form overlong UTF-8", ctForm, "requester=ana&item=%C0%AFetc", "item", "not valid UTF-8")
	start("form malformed escape", ctForm, "requester=%zz&item=pen", "requester", "percent-encoded")
	start("form truncated escape", ctForm, "requester=ana&item=pen%4", "item", "percent-encoded")
	start("form malformed escape in key", ctForm, "re%ZZquester=ana&item=pen", "re%ZZquester", "percent-encoded")
	start("form NUL", ctForm, "requester=ana&item=pen%00", "item", "U+0000")
	start("form escape sequence", ctForm, "requester=%1B%5D0%3Bx%07&item=pen", "requester", "U+001B")
	start("form C1 control", ctForm, "requester=ana&item=pen%C2%9B", "item", "U+009B")
	start("form semicolon", ctForm, "requester=ana;item=pen", "requester", "';'")

	decide := func(name, contentType, body, field, reason string) {
		cases = append(cases, hostileCase{"decision: " + name, hostileDecide, contentType, body, 400, field, reason, nil})
	}
	decide("duplicate false then true", ctJSON, `{"approved":false,"approved":true,"approver":"bob"}`, "approved", "more than once")
	decide("duplicate true then false", ctJSON, `{"approved":true,"approved":false,"approver":"bob"}`, "approved", "more than once")
	decide("duplicate by escape", ctJSON, `{"approved":false,"appro\u0076ed":true,"approver":"bob"}`, "approved", "more than once")
	decide("duplicate approver", ctJSON, `{"approved":true,"approver":"bob","approver":"eve"}`, "approver", "more than once")
	decide("case-variant duplicate", ctJSON, `{"approved":false,"Approved":true,"approver":"bob"}`, "Approved", "case-sensitive")
	decide("upper-case key", ctJSON, `{"APPROVED":true,"approver":"bob"}`, "APPROVED", "case-sensitive")
	decide("sample's field name", ctJSON, `{"is_approved":true,"approver":"bob"}`, "is_approved", "accepted fields")
	decide(`approved "true"`, ctJSON, `{"approved":"true","approver":"bob"}`, "approved", "not a string")
	decide("approved 1", ctJSON, `{"approved":1,"approver":"bob"}`, "approved", "not a number")
	decide("approved 0", ctJSON, `{"approved":0,"approver":"bob"}`, "approved", "not a number")
	decide(`approved "yes"`, ctJSON, `{"approved":"yes","approver":"bob"}`, "approved", "not a string")
	decide("approved TRUE", ctJSON, `{"approved":TRUE,"approver":"bob"}`, "approved", "true or false")
	decide("approved True", ctJSON, `{"approved":True,"approver":"bob"}`, "approved", "true or false")
	decide("approved array", ctJSON, `{"approved":[true],"approver":"bob"}`, "approved", "not an array")
	decide("approved null is not given", ctJSON, `{"approved":null,"approver":"bob"}`, "approved", "required")
	decide("invalid UTF-8 value", ctJSON, "{\"approved\":true,\"approver\":\"bob\xff\"}", "approver", "not valid UTF-8")
	decide("invalid UTF-8 key", ctJSON, "{\"appro\xffved\":true,\"approver\":\"bob\"}", "appro\uFFFDved", "not valid UTF-8")
	decide("overlong UTF-8", ctJSON, "{\"approved\":true,\"approver\":\"bob\xc0\x80\"}", "approver", "not valid UTF-8")
	decide("escaped lone surrogate", ctJSON, `{"approved":true,"approver":"bob\udc00"}`, "approver", "lone surrogate")
	decide("surrogate pair reversed", ctJSON, `{"approved":true,"approver":"bob","comments":"\ude00\ud83d"}`, "comments", "lone surrogate")
	decide("escaped NUL", ctJSON, `{"approved":true,"approver":"bob","comments":"ok\u0000"}`, "comments", "U+0000")
	decide("raw NUL", ctJSON, "{\"approved\":true,\"approver\":\"bob\",\"comments\":\"ok\x00\"}", "comments", "U+0000")
	decide("escape sequence", ctJSON, `{"approved":true,"approver":"\u001b[1mbob"}`, "approver", "U+001B")
	decide("DEL", ctJSON, "{\"approved\":true,\"approver\":\"bob\x7f\"}", "approver", "U+007F")
	decide("number for a string", ctJSON, `{"approved":true,"approver":5}`, "approver", "not a number")
	decide("object for a string", ctJSON, `{"approved":true,"approver":{"name":"bob"}}`, "approver", "not an object")
	decide("array for a string", ctJSON, `{"approved":true,"approver":"bob","comments":["a","b"]}`, "comments", "not an array")

	decide("form approved t", ctForm, "approved=t&approver=bob", "approved", "true or false")
	decide("form approved 1", ctForm, "approved=1&approver=bob", "approved", "true or false")
	decide("form approved on", ctForm, "approved=on&approver=bob", "approved", "true or false")
	decide("form approved TRUE", ctForm, "approved=TRUE&approver=bob", "approved", "lower case")
	decide("form approved yes", ctForm, "approved=yes&approver=bob", "approved", "true or false")
	decide("form repeated false then true", ctForm, "approved=false&approved=true&approver=bob", "approved", "more than once")
	decide("form repeated true then false", ctForm, "approved=true&approved=false&approver=bob", "approved", "more than once")
	decide("form repeated with empty", ctForm, "approved=&approved=true&approver=bob", "approved", "more than once")
	decide("form case variant", ctForm, "Approved=true&approver=bob", "Approved", "case-sensitive")
	decide("form invalid UTF-8 value", ctForm, "approved=true&approver=bob%FF", "approver", "not valid UTF-8")
	decide("form raw Latin-1 value", ctForm, "approved=true&approver=Jos\xe9", "approver", "not valid UTF-8")
	decide("form invalid UTF-8 key", ctForm, "%FFapproved=true&approver=bob", "\uFFFDapproved", "not valid UTF-8")
	decide("form overlong UTF-8", ctForm, "approved=true&approver=bob%C0%80", "approver", "not valid UTF-8")
	decide("form malformed escape", ctForm, "approved=true&approver=bob&comments=%G0", "comments", "percent-encoded")
	decide("form NUL", ctForm, "approved=true&approver=bob&comments=ok%00", "comments", "U+0000")
	decide("form C1 control", ctForm, "approved=true&approver=bob&comments=ok%C2%85", "comments", "U+0085")
	decide("form semicolon", ctForm, "approved=false;approved=true&approver=bob", "approved", "';'")
	return cases
}

// noRedirects is a client that shows a redirect instead of following it,
// as a redirected POST would come back as a GET without its body.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
	return http.ErrUseLastResponse
}}

// gzipped is body compressed, as a client sending Content-Encoding: gzip
// would send it.
func gzipped(body string) string {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(body))
	_ = zw.Close()
	return b.String()
}

func (e *apiEnv) send(t *testing.T, path, contentType, body string, header ...http.Header) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for _, h := range header {
		for name, values := range h {
			for _, v := range values {
				req.Header.Add(name, v)
			}
		}
	}
	return roundTrip(t, req)
}

func TestHostileBodiesChangeNothing(t *testing.T) {
	e := newAPI(t)
	if r := e.postJSON(t, hostileStart, map[string]any{"request_id": hostileID, "requester": "ana", "item": "pen"}); r.code != http.StatusAccepted {
		t.Fatalf("start = %d %s", r.code, r.raw)
	}
	e.until(t, hostileID, submitted)
	e.orch.starts.Store(0)

	cases := hostileCases()
	t.Logf("%d hostile requests", len(cases))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			starts, decisions := e.orch.starts.Load(), e.orch.decisions.Load()
			r := e.send(t, c.path, c.contentType, c.body, c.header)
			if s, d := e.orch.starts.Load(), e.orch.decisions.Load(); s != starts || d != decisions {
				t.Fatalf("reached the scheduler: starts %d -> %d, decisions %d -> %d (%d %s)", starts, s, decisions, d, r.code, r.raw)
			}
			if r.code != c.code {
				t.Fatalf("status %d, want %d: %s", r.code, c.code, r.raw)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("Content-Type %q", ct)
			}
			if r.body["status"] != float64(c.code) {
				t.Fatalf("problem status: %s", r.raw)
			}
			if detail, _ := r.body["detail"].(string); !strings.Contains(detail, c.reason) {
				t.Fatalf("detail %q does not say %q", detail, c.reason)
			}
			if c.field == "" && r.body["field"] != nil || c.field != "" && r.body["field"] != c.field {
				t.Fatalf("field %q, want %q", r.body["field"], c.field)
			}
			// A 415 says what would be accepted (RFC 9110, 15.5.16).
			if c.code == http.StatusUnsupportedMediaType && r.header.Get("Accept-Post") == "" && r.header.Get("Accept-Encoding") != "identity" {
				t.Fatalf("415 without Accept-Post or Accept-Encoding: %v", r.header)
			}
		})
	}

	if r := e.do(t, http.MethodGet, "/api/approvals/"+hostileID, "", ""); r.code != http.StatusAccepted || r.body["status"] != "Pending" {
		t.Fatalf("the pending approval changed: %d %s", r.code, r.raw)
	}
	if s, d := e.orch.starts.Load(), e.orch.decisions.Load(); s != 0 || d != 0 {
		t.Fatalf("hostile requests reached the scheduler: %d starts, %d decisions", s, d)
	}

	// Controls: strict is not the same as refusing everything. Valid but
	// unusual text (escaped surrogate pairs, multi-line comments, an
	// explicit charset in any case) goes through unchanged.
	r := e.send(t, hostileStart, ctJSON+"; charset=UTF-8",
		`{"request_id":"hostile-ok","requester":"Jos\u00e9","item":"laptop \ud83d\udcbb 15\u2033","timeout_hours":1.5}`)
	if r.code != http.StatusAccepted || r.body["item"] != "laptop 💻 15″" || r.body["requester"] != "José" {
		t.Fatalf("valid JSON start = %d %s", r.code, r.raw)
	}
	r = e.send(t, hostileStart, ctForm+"; charset=utf-8", "requester=Jos%C3%A9&item=chair&timeout_hours=.5&timeout=&approver=")
	if r.code != http.StatusAccepted || r.body["timeout_hours"] != 0.5 {
		t.Fatalf("valid form start = %d %s", r.code, r.raw)
	}
	if n := e.orch.starts.Load(); n != 2 {
		t.Fatalf("%d starts reached the scheduler, want 2", n)
	}
	comments := "line one\r\nline two\tend 😀"
	r = e.send(t, hostileDecide, ctJSON+`; charset="utf-8"`,
		`{"approved":true,"approver":"Jos\u00e9","comments":"line one\r\nline two\tend \ud83d\ude00"}`)
	if r.code < 200 || r.code > 299 {
		t.Fatalf("valid decision = %d %s", r.code, r.raw)
	}
	if n := e.orch.decisions.Load(); n != 1 {
		t.Fatalf("%d decisions reached the scheduler, want 1", n)
	}
	f := e.until(t, hostileID, finished)
	result, _ := f.body["result"].(map[string]any)
	if f.body["status"] != "Approved" || result["approver"] != "José" || result["comments"] != comments {
		t.Fatalf("final = %s", f.raw)
	}
}

// TestNonCanonicalPathsAreNotFound: a path with "." segments or doubled
// slashes is a 404, never a 301 that a client would repeat as a GET,
// dropping the decision; and the valid body it carries reaches nothing.
func TestNonCanonicalPathsAreNotFound(t *testing.T) {
	e := newAPI(t)
	if r := e.postJSON(t, hostileStart, map[string]any{"request_id": hostileID, "requester": "ana", "item": "pen"}); r.code != http.StatusAccepted {
		t.Fatalf("start = %d %s", r.code, r.raw)
	}
	e.orch.starts.Store(0)
	decision := `{"approved":true,"approver":"bob"}`
	start := `{"requester":"ana","item":"pen"}`
	for _, c := range []struct{ path, body string }{
		{"/api/approvals/./" + hostileID + "/decision", decision},
		{"/api/approvals/" + hostileID + "/./decision", decision},
		{"/api/approvals/x/../" + hostileID + "/decision", decision},
		{"/api/approvals/" + hostileID + "//decision", decision},
		{"/api/approvals/" + hostileID + "/decision/", decision},
		{"/api/./approvals/" + hostileID + "/decision", decision},
		{"//api/approvals", start},
		{"/api//approvals", start},
		{"/api/approvals/", start},
		{"/api/./approvals", start},
		{"/api/x/../approvals", start},
	} {
		t.Run(url.PathEscape(c.path), func(t *testing.T) {
			r := e.send(t, c.path, ctJSON, c.body)
			if r.code != http.StatusNotFound || r.header.Get("Location") != "" {
				t.Fatalf("POST %s = %d Location %q, want 404 without Location: %s", c.path, r.code, r.header.Get("Location"), r.raw)
			}
			if r.header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("Content-Type %q", r.header.Get("Content-Type"))
			}
		})
	}
	if s, d := e.orch.starts.Load(), e.orch.decisions.Load(); s != 0 || d != 0 {
		t.Fatalf("non-canonical paths reached the scheduler: %d starts, %d decisions", s, d)
	}
	// The canonical path works, so the 404s above are not a broken route.
	if r := e.send(t, hostileDecide, ctJSON, decision); r.code < 200 || r.code > 299 {
		t.Fatalf("canonical decision = %d %s", r.code, r.raw)
	}
}

// roundTrip sends req without following redirects and reads the answer.
func roundTrip(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{code: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// hostVia sends a request to e's server naming host in the Host header,
// as a browser does for whatever name it resolved to the server's address.
func (e *apiEnv) hostVia(t *testing.T, method, path, host string, header http.Header, contentType, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for name, values := range header {
		req.Header[name] = values
	}
	return roundTrip(t, req)
}

// wantMisdirected checks a refusal of host: 421, as problem+json naming
// the host.
func wantMisdirected(t *testing.T, what, host string, r response) {
	t.Helper()
	if r.code != http.StatusMisdirectedRequest || r.header.Get("Content-Type") != "application/problem+json" ||
		r.body["reason"] != "host_not_served" || !strings.Contains(fmt.Sprint(r.body["detail"]), fmt.Sprintf("Host %q is not served", host)) {
		t.Errorf("%s via Host %q = %d %s; want 421 problem+json naming the host", what, host, r.code, r.raw)
	}
}

// TestRebindingHostsAreRefused is DNS rebinding: a page on a domain whose
// name its author has pointed at the handler's address sends requests to
// it as to its own origin, so they carry that name in Host and pass every
// cross-site check. Every route answers 421 naming the host, and nothing
// reaches the scheduler; the hosts the API serves go through as before.
func TestRebindingHostsAreRefused(t *testing.T) {
	e := newAPIWith(t, httpapi.Options{PublicBaseURL: "https://approvals.example.com/base", Hosts: []string{"approvals-app.azurewebsites.net"}})
	if r := e.postJSON(t, hostileStart, map[string]any{"request_id": hostileID, "requester": "ana", "item": "pen"}); r.code != http.StatusAccepted {
		t.Fatalf("start = %d %s", r.code, r.raw)
	}
	e.until(t, hostileID, submitted)
	e.orch.starts.Store(0)
	port := e.url[strings.LastIndexByte(e.url, ':')+1:]

	routes := []struct{ method, path, contentType, body string }{
		{http.MethodPost, hostileStart, ctJSON, `{"request_id":"rebound","requester":"ana","item":"pen"}`},
		{http.MethodPost, hostileDecide, ctForm, "approved=true&approver=bob"},
		{http.MethodPost, "/api/approvals/" + hostileID + "/withdraw", ctJSON, `{"requester":"ana"}`},
		{http.MethodPost, "/api/review/" + hostileID, ctForm, "approved=true&approver=bob"},
		{http.MethodGet, "/api/approvals/" + hostileID, "", ""},
		{http.MethodGet, httpapi.ApprovalsPath, "", ""},
		{http.MethodGet, "/api/review", "", ""},
		{http.MethodGet, "/api/review/" + hostileID, "", ""},
		{http.MethodGet, "/", "", ""},
	}
	for _, host := range []string{
		"rebind.evil.example:" + port, "rebind.evil.example", "approvals.example.com.evil.example",
		"localhost.evil.example:" + port, "127.0.0.1.nip.io:" + port, "approvals-app.azurewebsites.net.evil.example",
	} {
		// What the rebinding page's browser sends: its own origin.
		sameOrigin := http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {"http://" + host}}
		for _, rt := range routes {
			r := e.hostVia(t, rt.method, rt.path, host, sameOrigin, rt.contentType, rt.body)
			wantMisdirected(t, rt.method+" "+rt.path, host, r)
		}
		// A browser asking for a page gets the refusal as a page.
		r := e.hostVia(t, http.MethodGet, "/api/review/"+hostileID, host, http.Header{"Accept": {"text/html"}}, "", "")
		if r.code != http.StatusMisdirectedRequest || !strings.Contains(r.raw, "is not served here") {
			t.Errorf("page via Host %q = %d %s", host, r.code, r.raw)
		}
	}
	if s, d := e.orch.starts.Load(), e.orch.decisions.Load(); s != 0 || d != 0 {
		t.Fatalf("rebound requests reached the scheduler: %d starts, %d decisions", s, d)
	}

	// The hosts served: loopback names and addresses, any address, the
	// public URL's host and the names given, in any case and on any port.
	for _, host := range []string{
		"localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port, "192.168.1.20:" + port,
		"approvals.example.com", "APPROVALS.example.com:443", "approvals-app.azurewebsites.net",
	} {
		if r := e.hostVia(t, http.MethodGet, "/api/approvals/"+hostileID, host, nil, "", ""); r.code != http.StatusAccepted {
			t.Errorf("GET via Host %q = %d %s", host, r.code, r.raw)
		}
	}
	// The page's own decision, sent to a host served, decides: the
	// refusals above were the Host's doing.
	localhost := "localhost:" + port
	r := e.hostVia(t, http.MethodPost, hostileDecide, localhost,
		http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {"http://" + localhost}}, ctForm, "approved=true&approver=bob")
	if r.code != http.StatusOK || e.orch.decisions.Load() != 1 {
		t.Fatalf("decision via Host %q = %d %s", localhost, r.code, r.raw)
	}
}

// TestForwardedHostIsJudgedWhenTrusted: behind a trusted proxy the host
// the client asked for is X-Forwarded-Host, so that is the one judged;
// with no name to compare it with, the proxy's word is taken. Untrusted,
// the header changes nothing.
func TestForwardedHostIsJudgedWhenTrusted(t *testing.T) {
	const public = "approvals.example.com"
	fwd := func(host string) http.Header { return http.Header{"X-Forwarded-Host": {host}} }
	for _, c := range []struct {
		name   string
		opts   httpapi.Options
		host   string
		header http.Header
		served bool
		judged string
	}{
		{"trusted, no name: the proxy's host", httpapi.Options{TrustForwarded: true}, "127.0.0.1", fwd("approvals.contoso.example"), true, ""},
		{"trusted, no name: an invalid forwarded host leaves Host judged", httpapi.Options{TrustForwarded: true}, "rebind.evil.example", fwd("ev!l.example"), false, "rebind.evil.example"},
		{"trusted, no name, no header: Host", httpapi.Options{TrustForwarded: true}, "rebind.evil.example", nil, false, "rebind.evil.example"},
		{"trusted, public URL: it forwarded", httpapi.Options{TrustForwarded: true, PublicBaseURL: "https://" + public}, "10.0.0.4:8080", fwd(public), true, ""},
		{"trusted, public URL: another forwarded", httpapi.Options{TrustForwarded: true, PublicBaseURL: "https://" + public}, public, fwd("rebind.evil.example"), false, "rebind.evil.example"},
		{"untrusted: the header is ignored", httpapi.Options{PublicBaseURL: "https://" + public}, "rebind.evil.example", fwd(public), false, "rebind.evil.example"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newAPIWith(t, c.opts)
			r := e.hostVia(t, http.MethodGet, "/", c.host, c.header, "", "")
			if c.served {
				if r.code != http.StatusOK {
					t.Fatalf("Host %q, %v = %d %s; want it served", c.host, c.header, r.code, r.raw)
				}
				return
			}
			wantMisdirected(t, "GET /", c.judged, r)
		})
	}
}

// TestLimitsAreExact: what is at a limit starts; what is just past it is
// refused (hostileCases). A timeout of one second given in hours, which
// binary floating point cannot hold exactly, is one second.
func TestLimitsAreExact(t *testing.T) {
	e := newAPI(t)
	long := strings.Repeat("a", approval.MaxIDLength)
	for _, c := range []struct{ name, contentType, body string }{
		{"timeout at the limit", ctJSON, `{"request_id":"lim-1","requester":"ana","item":"pen","timeout":"8784h"}`},
		{"timeout_hours at the limit", ctJSON, `{"request_id":"lim-2","requester":"ana","item":"pen","timeout_hours":8784}`},
		{"form timeout_hours at the limit", ctForm, "request_id=lim-3&requester=ana&item=pen&timeout_hours=8784.000000"},
		{"timeout at the minimum", ctJSON, `{"request_id":"lim-4","requester":"ana","item":"pen","timeout":"1s"}`},
		{"a second in hours", ctJSON, `{"request_id":"lim-5","requester":"ana","item":"pen","timeout_hours":` + strconv.FormatFloat(1.0/3600, 'g', -1, 64) + `}`},
		{"100-character request_id", ctJSON, `{"request_id":"` + long + `","requester":"ana","item":"pen"}`},
		{"91-character request_id with a callback_url", ctJSON, `{"request_id":"` + long[:91] + `","requester":"ana","item":"pen","callback_url":"https://example.com/cb"}`},
		{"callback inside an ID", ctJSON, `{"request_id":"lim-6:callback:2","requester":"ana","item":"pen"}`},
	} {
		r := e.send(t, hostileStart, c.contentType, c.body)
		if r.code != http.StatusAccepted {
			t.Errorf("%s: %d %s", c.name, r.code, r.raw)
		}
	}
}
