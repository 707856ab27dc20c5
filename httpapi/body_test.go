package httpapi

import (
	"bytes"
	"encoding/json"
	"maps"
	"math"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/approvals-go/approvals/approval"
)

// bodyCase is one body for a decoder: accepted with want, or refused
// naming field with a detail containing reason.
type bodyCase struct {
	name, body    string
	spec          map[string]kind
	want          fields
	field, reason string
}

var jsonCases = []bodyCase{
	{name: "plain start", body: `{"requester":"ana","item":"pen","timeout_hours":1.5}`, spec: startFields,
		want: fields{"requester": "ana", "item": "pen", "timeout_hours": 1.5}},
	{name: "whitespace around", body: " \t\r\n{ \"approved\" : false , \"approver\":\"bob\" }\n", spec: decisionFields,
		want: fields{"approved": false, "approver": "bob"}},
	{name: "empty object", body: `{}`, spec: decisionFields, want: fields{}},
	{name: "null is not given", body: `{"approved":null,"approver":"bob","comments":null}`, spec: decisionFields,
		want: fields{"approver": "bob"}},
	{name: "escapes and pairs", body: `{"comments":"a\"\\\/\n\r\tb \u00e9 \ud83d\ude00 \u2028","approver":"Jos` + "\u00e9" + `"}`, spec: decisionFields,
		want: fields{"comments": "a\"\\/\n\r\tb é 😀 \u2028", "approver": "José"}},
	{name: "escaped key", body: `{"appro\u0076ed":true}`, spec: decisionFields, want: fields{"approved": true}},
	{name: "literal U+FFFD is text", body: `{"approver":"` + "\uFFFD" + `"}`, spec: decisionFields, want: fields{"approver": "\uFFFD"}},
	{name: "exponent and negative zero", body: `{"timeout_hours":-0,"requester":"1E2"}`, spec: startFields,
		want: fields{"timeout_hours": math.Copysign(0, -1), "requester": "1E2"}},
	{name: "number with exponent", body: `{"timeout_hours":2.5e-1}`, spec: startFields, want: fields{"timeout_hours": 0.25}},

	{name: "trailing brace", body: `{"approved":true,"approver":"bob"}}`, spec: decisionFields, reason: "exactly one JSON object"},
	{name: "trailing bracket", body: `{"approved":true,"approver":"bob"}]`, spec: decisionFields, reason: "exactly one JSON object"},
	{name: "trailing garbage", body: `{"approved":true,"approver":"bob"} x`, spec: decisionFields, reason: "exactly one JSON object"},
	{name: "two objects", body: `{"approved":false}{"approved":true}`, spec: decisionFields, reason: "exactly one JSON object"},
	{name: "trailing NUL", body: "{}\x00", spec: decisionFields, reason: "exactly one JSON object"},
	{name: "trailing comma", body: `{"approved":true,}`, spec: decisionFields, reason: "not valid JSON"},
	{name: "truncated", body: `{"approved":true`, spec: decisionFields, reason: "it ends where"},
	{name: "truncated string", body: `{"approver":"bo`, spec: decisionFields, field: "approver", reason: "not closed"},
	{name: "truncated escape", body: `{"approver":"bo\`, spec: decisionFields, field: "approver", reason: "not closed"},
	{name: "single quotes", body: `{'approved':true}`, spec: decisionFields, reason: "field name in double quotes"},
	{name: "comment", body: `{"approved":true /* yes */}`, spec: decisionFields, reason: "not valid JSON"},
	{name: "missing colon", body: `{"approved" true}`, spec: decisionFields, reason: "':'"},
	{name: "empty", body: ``, spec: decisionFields, reason: "empty"},
	{name: "whitespace only", body: " \n\t\r ", spec: decisionFields, reason: "empty"},
	{name: "top-level array", body: `[{"approved":true}]`, spec: decisionFields, reason: "not a JSON object"},
	{name: "top-level string", body: `"approved"`, spec: decisionFields, reason: "not a JSON object"},
	{name: "top-level number", body: `1`, spec: decisionFields, reason: "not a JSON object"},
	{name: "top-level null", body: `null`, spec: decisionFields, reason: "not a JSON object"},
	{name: "BOM", body: "\uFEFF{\"approved\":true}", spec: decisionFields, reason: "byte order mark"},
	{name: "non-breaking space is not JSON space", body: "{\u00a0}", spec: decisionFields, reason: "field name in double quotes"},

	{name: "duplicate false then true", body: `{"approved":false,"approved":true}`, spec: decisionFields, field: "approved", reason: "more than once"},
	{name: "duplicate true then false", body: `{"approved":true,"approved":false}`, spec: decisionFields, field: "approved", reason: "more than once"},
	{name: "duplicate by escape", body: `{"approved":false,"appro\u0076ed":true}`, spec: decisionFields, field: "approved", reason: "more than once"},
	{name: "duplicate after null", body: `{"approved":null,"approved":true}`, spec: decisionFields, field: "approved", reason: "more than once"},
	{name: "case variant", body: `{"approved":false,"Approved":true}`, spec: decisionFields, field: "Approved", reason: "case-sensitive"},
	{name: "upper case", body: `{"APPROVED":true}`, spec: decisionFields, field: "APPROVED", reason: "case-sensitive"},
	{name: "long s folds to s", body: `{"item":"b","reque\u017fter":"a"}`, spec: startFields, field: "reque\u017fter", reason: "case-sensitive"},
	{name: "unknown field", body: `{"approved":true,"is_approved":true}`, spec: decisionFields, field: "is_approved", reason: "accepted fields are approved, approver, comments"},

	{name: "invalid UTF-8 value", body: "{\"approver\":\"bob\xff\"}", spec: decisionFields, field: "approver", reason: "not valid UTF-8"},
	{name: "Latin-1 value", body: "{\"approver\":\"Jos\xe9\"}", spec: decisionFields, field: "approver", reason: "not valid UTF-8"},
	{name: "invalid UTF-8 key", body: "{\"appro\xffved\":true}", spec: decisionFields, field: "appro\uFFFDved", reason: "not valid UTF-8"},
	{name: "overlong slash", body: "{\"approver\":\"\xc0\xaf\"}", spec: decisionFields, field: "approver", reason: "not valid UTF-8"},
	{name: "overlong NUL", body: "{\"approver\":\"\xc0\x80\"}", spec: decisionFields, field: "approver", reason: "not valid UTF-8"},
	{name: "UTF-8 encoded surrogate", body: "{\"approver\":\"\xed\xa0\x80\"}", spec: decisionFields, field: "approver", reason: "not valid UTF-8"},
	{name: "lone high surrogate", body: `{"approver":"\ud800"}`, spec: decisionFields, field: "approver", reason: "lone surrogate"},
	{name: "lone low surrogate", body: `{"approver":"\uDC00x"}`, spec: decisionFields, field: "approver", reason: "lone surrogate"},
	{name: "high surrogate then letter", body: `{"approver":"\ud800\u0041"}`, spec: decisionFields, field: "approver", reason: "lone surrogate"},
	{name: "reversed pair", body: `{"approver":"\ude00\ud83d"}`, spec: decisionFields, field: "approver", reason: "lone surrogate"},
	{name: "lone surrogate key", body: `{"approved\ud800":true}`, spec: decisionFields, field: "approved\uFFFD", reason: "lone surrogate"},
	{name: "bad escape", body: `{"approver":"\x41"}`, spec: decisionFields, field: "approver", reason: "invalid escape"},
	{name: "short unicode escape", body: `{"approver":"\u00"}`, spec: decisionFields, field: "approver", reason: "four hex digits"},
	{name: "escaped NUL", body: `{"comments":"a\u0000b"}`, spec: decisionFields, field: "comments", reason: "U+0000"},
	{name: "raw NUL", body: "{\"comments\":\"a\x00b\"}", spec: decisionFields, field: "comments", reason: "raw control character U+0000"},
	{name: "raw newline", body: "{\"comments\":\"a\nb\"}", spec: decisionFields, field: "comments", reason: "escaped"},
	{name: "escape char", body: `{"approver":"\u001b[31mbob"}`, spec: decisionFields, field: "approver", reason: "U+001B"},
	{name: "backspace", body: `{"approver":"bob\b"}`, spec: decisionFields, field: "approver", reason: "U+0008"},
	{name: "DEL", body: "{\"approver\":\"bob\x7f\"}", spec: decisionFields, field: "approver", reason: "U+007F"},
	{name: "C1 escaped", body: `{"approver":"bob\u0085"}`, spec: decisionFields, field: "approver", reason: "U+0085"},
	{name: "C1 raw", body: "{\"approver\":\"bob\xc2\x9b\"}", spec: decisionFields, field: "approver", reason: "U+009B"},
	{name: "control in key", body: `{"appro\u0000ved":true}`, spec: decisionFields, field: "appro\uFFFDved", reason: "U+0000"},

	{name: "number as string", body: `{"timeout_hours":"2"}`, spec: startFields, field: "timeout_hours", reason: "not a string"},
	{name: "hex number", body: `{"timeout_hours":0x10}`, spec: startFields, field: "timeout_hours", reason: "JSON number"},
	{name: "leading zero", body: `{"timeout_hours":01}`, spec: startFields, field: "timeout_hours", reason: "JSON number"},
	{name: "leading plus", body: `{"timeout_hours":+1}`, spec: startFields, field: "timeout_hours", reason: "JSON number such as"},
	{name: "bare fraction", body: `{"timeout_hours":.5}`, spec: startFields, field: "timeout_hours", reason: "JSON number such as"},
	{name: "trailing dot", body: `{"timeout_hours":1.}`, spec: startFields, field: "timeout_hours", reason: "JSON number"},
	{name: "empty exponent", body: `{"timeout_hours":1e}`, spec: startFields, field: "timeout_hours", reason: "JSON number"},
	{name: "underscore", body: `{"timeout_hours":1_0}`, spec: startFields, field: "timeout_hours", reason: "JSON number"},
	{name: "Infinity", body: `{"timeout_hours":Infinity}`, spec: startFields, field: "timeout_hours", reason: "no Infinity or NaN"},
	{name: "minus Infinity", body: `{"timeout_hours":-Infinity}`, spec: startFields, field: "timeout_hours", reason: "JSON number"},
	{name: "NaN", body: `{"timeout_hours":NaN}`, spec: startFields, field: "timeout_hours", reason: "no Infinity or NaN"},
	{name: "huge", body: `{"timeout_hours":1e400}`, spec: startFields, field: "timeout_hours", reason: "out of range"},
	{name: "huge integer", body: `{"timeout_hours":1` + strings.Repeat("0", 400) + `}`, spec: startFields, field: "timeout_hours", reason: "out of range"},
	{name: "number as bool", body: `{"timeout_hours":true}`, spec: startFields, field: "timeout_hours", reason: "not a boolean"},
	{name: "array for number", body: `{"timeout_hours":[1]}`, spec: startFields, field: "timeout_hours", reason: "not an array"},

	{name: "bool as string", body: `{"approved":"true"}`, spec: decisionFields, field: "approved", reason: "not a string"},
	{name: "bool as 1", body: `{"approved":1}`, spec: decisionFields, field: "approved", reason: "not a number"},
	{name: "bool as 0", body: `{"approved":0}`, spec: decisionFields, field: "approved", reason: "not a number"},
	{name: "bool as yes", body: `{"approved":"yes"}`, spec: decisionFields, field: "approved", reason: "not a string"},
	{name: "bool TRUE", body: `{"approved":TRUE}`, spec: decisionFields, field: "approved", reason: "true or false"},
	{name: "bool True", body: `{"approved":True}`, spec: decisionFields, field: "approved", reason: "true or false"},
	{name: "bool runs on", body: `{"approved":truee}`, spec: decisionFields, field: "approved", reason: "true or false"},
	{name: "null runs on", body: `{"approved":nullx}`, spec: decisionFields, field: "approved", reason: "true or false"},
	{name: "object for bool", body: `{"approved":{"value":true}}`, spec: decisionFields, field: "approved", reason: "not an object"},

	{name: "string as number", body: `{"approver":5}`, spec: decisionFields, field: "approver", reason: "not a number"},
	{name: "string as array", body: `{"approver":["bob"]}`, spec: decisionFields, field: "approver", reason: "not an array"},
	{name: "string as object", body: `{"approver":{"name":"bob"}}`, spec: decisionFields, field: "approver", reason: "not an object"},
	{name: "string as bool", body: `{"approver":true}`, spec: decisionFields, field: "approver", reason: "not a boolean"},

	{name: "approvers", body: `{"approvers":["bob", "carol@example.com"]}`, spec: startFields,
		want: fields{"approvers": []string{"bob", "carol@example.com"}}},
	{name: "approvers spaced", body: "{\"approvers\" : [ \"bob\" ,\n\"carol\" ] }", spec: startFields,
		want: fields{"approvers": []string{"bob", "carol"}}},
	{name: "approvers empty", body: `{"approvers":[]}`, spec: startFields, want: fields{"approvers": []string{}}},
	{name: "approvers null", body: `{"approvers":null}`, spec: startFields, want: fields{}},
	{name: "approvers as string", body: `{"approvers":"bob"}`, spec: startFields, field: "approvers", reason: "array of strings, not a string"},
	{name: "approvers number item", body: `{"approvers":["bob",2]}`, spec: startFields, field: "approvers", reason: "item 2 is not a string"},
	{name: "approvers null item", body: `{"approvers":[null]}`, spec: startFields, field: "approvers", reason: "item 1 is not a string"},
	{name: "approvers nested", body: `{"approvers":[["bob"]]}`, spec: startFields, field: "approvers", reason: "item 1 is not a string"},
	{name: "approvers trailing comma", body: `{"approvers":["bob",]}`, spec: startFields, reason: "a string in approvers"},
	{name: "approvers missing comma", body: `{"approvers":["bob" "carol"]}`, spec: startFields, reason: "',' or ']' in approvers"},
	{name: "approvers truncated", body: `{"approvers":["bob"`, spec: startFields, reason: "it ends where"},
	{name: "approvers control", body: `{"approvers":["bob\u001b"]}`, spec: startFields, field: "approvers", reason: "item 1 contains the control character U+001B"},
	{name: "approvers invalid UTF-8", body: "{\"approvers\":[\"a\",\"b\xff\"]}", spec: startFields, field: "approvers", reason: "item 2 is not valid UTF-8"},
	{name: "approvers twice", body: `{"approvers":["a"],"approvers":["b"]}`, spec: startFields, field: "approvers", reason: "more than once"},
	{name: "array for string", body: `{"approver":["bob"]}`, spec: startFields, field: "approver", reason: "not an array"},
}

var formCases = []bodyCase{
	{name: "plain start", body: "requester=ana&item=pen&timeout_hours=1.5&timeout=", spec: startFields,
		want: fields{"requester": "ana", "item": "pen", "timeout_hours": 1.5}},
	{name: "decision", body: "approved=false&approver=Jos%C3%A9&comments=line+one%0D%0Aline%09two", spec: decisionFields,
		want: fields{"approved": false, "approver": "José", "comments": "line one\r\nline\ttwo"}},
	{name: "raw UTF-8", body: "approver=José", spec: decisionFields, want: fields{"approver": "José"}},
	{name: "blank means not given", body: "approved=+&approver=%20&comments", spec: decisionFields, want: fields{}},
	{name: "empty pairs skipped", body: "&approved=true&&", spec: decisionFields, want: fields{"approved": true}},
	{name: "decimal forms", body: "timeout_hours=.5", spec: startFields, want: fields{"timeout_hours": 0.5}},
	{name: "negative reaches validation", body: "timeout_hours=-2", spec: startFields, want: fields{"timeout_hours": -2.0}},
	{name: "leading zeros", body: "timeout_hours=007.50", spec: startFields, want: fields{"timeout_hours": 7.5}},

	{name: "hex float", body: "timeout_hours=0x1p3", spec: startFields, field: "timeout_hours", reason: "plain decimal"},
	{name: "underscore", body: "timeout_hours=1_0", spec: startFields, field: "timeout_hours", reason: "plain decimal"},
	{name: "exponent", body: "timeout_hours=1e1", spec: startFields, field: "timeout_hours", reason: "plain decimal"},
	{name: "Inf", body: "timeout_hours=Inf", spec: startFields, field: "timeout_hours", reason: "plain decimal"},
	{name: "plus Inf", body: "timeout_hours=%2BInf", spec: startFields, field: "timeout_hours", reason: "plain decimal"},
	{name: "infinity", body: "timeout_hours=infinity", spec: startFields, field: "timeout_hours", reason: "plain decimal"},
	{name: "NaN", body: "timeout_hours=NaN", spec: startFields, field: "timeout_hours", reason: "plain decimal"},
	{name: "plus sign", body: "timeout_hours=%2B2", spec: startFields, field: "timeout_hours", reason: "plain decimal"},
	{name: "comma decimal", body: "timeout_hours=1%2C5", spec: startFields, field: "timeout_hours", reason: "plain decimal"},
	{name: "padded number", body: "timeout_hours=+2+", spec: startFields, field: "timeout_hours", reason: "plain decimal"},
	{name: "trailing dot", body: "timeout_hours=2.", spec: startFields, field: "timeout_hours", reason: "plain decimal"},
	{name: "huge", body: "timeout_hours=1" + strings.Repeat("0", 400), spec: startFields, field: "timeout_hours", reason: "out of range"},

	{name: "bool t", body: "approved=t", spec: decisionFields, field: "approved", reason: "true or false"},
	{name: "bool 1", body: "approved=1", spec: decisionFields, field: "approved", reason: "true or false"},
	{name: "bool on", body: "approved=on", spec: decisionFields, field: "approved", reason: "true or false"},
	{name: "bool TRUE", body: "approved=TRUE", spec: decisionFields, field: "approved", reason: "lower case"},
	{name: "bool yes", body: "approved=yes", spec: decisionFields, field: "approved", reason: "true or false"},
	{name: "bool padded", body: "approved=+true", spec: decisionFields, field: "approved", reason: "true or false"},

	{name: "repeated", body: "approved=false&approved=true", spec: decisionFields, field: "approved", reason: "more than once"},
	{name: "repeated with empty", body: "approved=&approved=true", spec: decisionFields, field: "approved", reason: "more than once"},
	{name: "repeated by escape", body: "approved=false&appro%76ed=true", spec: decisionFields, field: "approved", reason: "more than once"},
	{name: "case variant", body: "approved=false&Approved=true", spec: decisionFields, field: "Approved", reason: "case-sensitive"},
	{name: "unknown", body: "approved=true&is_approved=true", spec: decisionFields, field: "is_approved", reason: "accepted fields"},
	{name: "semicolon", body: "approved=false;approved=true", spec: decisionFields, field: "approved", reason: "';'"},

	{name: "invalid UTF-8 value", body: "approver=bob%FF", spec: decisionFields, field: "approver", reason: "not valid UTF-8"},
	{name: "raw Latin-1 value", body: "approver=Jos\xe9", spec: decisionFields, field: "approver", reason: "not valid UTF-8"},
	{name: "invalid UTF-8 key", body: "%FFapproved=true", spec: decisionFields, field: "\uFFFDapproved", reason: "not valid UTF-8"},
	{name: "overlong", body: "approver=%C0%AF", spec: decisionFields, field: "approver", reason: "not valid UTF-8"},
	{name: "encoded surrogate", body: "approver=%ED%A0%80", spec: decisionFields, field: "approver", reason: "not valid UTF-8"},
	{name: "bad escape", body: "approver=%zz", spec: decisionFields, field: "approver", reason: "percent-encoded"},
	{name: "short escape", body: "approver=bob%4", spec: decisionFields, field: "approver", reason: "percent-encoded"},
	{name: "bad escape in key", body: "appro%GGved=true", spec: decisionFields, field: "appro%GGved", reason: "percent-encoded"},
	{name: "NUL", body: "comments=a%00b", spec: decisionFields, field: "comments", reason: "U+0000"},
	{name: "raw NUL", body: "comments=a\x00b", spec: decisionFields, field: "comments", reason: "U+0000"},
	{name: "escape char", body: "approver=%1B%5B2J", spec: decisionFields, field: "approver", reason: "U+001B"},
	{name: "C1", body: "approver=bob%C2%85", spec: decisionFields, field: "approver", reason: "U+0085"},
	{name: "control in key", body: "appr%00oved=true", spec: decisionFields, field: "appr\uFFFDoved", reason: "U+0000"},

	{name: "approvers repeated", body: "approvers=bob&item=pen&approvers=carol%40example.com", spec: startFields,
		want: fields{"approvers": []string{"bob", "carol@example.com"}, "item": "pen"}},
	{name: "approvers blank skipped", body: "approvers=&approvers=bob&approvers=+", spec: startFields,
		want: fields{"approvers": []string{"bob"}}},
	{name: "approvers all blank", body: "approvers=&approvers=", spec: startFields, want: fields{}},
	{name: "approvers invalid UTF-8", body: "approvers=bob&approvers=%FF", spec: startFields, field: "approvers", reason: "not valid UTF-8"},
	{name: "single-valued still once", body: "approvers=a&approver=b&approver=c", spec: startFields, field: "approver", reason: "more than once"},
}

// The cases name a request type by its fields: what the route decodes
// into, listed as its json names.
var (
	startFields    = members(new(approval.StartRequest))
	decisionFields = members(new(approval.DecisionRequest))
)

// requestTypes are new values of every flat request type a route
// decodes (a bulk call's items are objects, which the form cannot carry).
func requestTypes() []any {
	return []any{new(approval.StartRequest), new(approval.DecisionRequest), new(approval.DelegationRequest),
		new(awayRequest), new(approval.ChangesRequest), new(approval.ResubmitRequest)}
}

// requestOf is a new request of the type whose fields spec lists.
func requestOf(spec map[string]kind) any {
	for _, v := range requestTypes() {
		if maps.Equal(members(v), spec) {
			return v
		}
	}
	panic("no request type has these fields")
}

// fields is a decoded body as the cases state it: each field given, with
// its value as JSON holds it (a list as []string).
type fields map[string]any

// jsonFields decodes body as decodeJSON does into the request that spec
// lists, and states what it holds. A text field is given when the body
// gave it a string, even an empty one.
func jsonFields(body []byte, spec map[string]kind) (fields, *problem) {
	v := requestOf(spec)
	if p := decodeJSON(body, v); p != nil {
		return nil, p
	}
	var members map[string]jsontext.Value
	if err := jsonv2.Unmarshal(body, &members); err != nil {
		panic(err) // decodeJSON accepted it
	}
	return fieldsOf(v, func(name string) bool {
		m, ok := members[name]
		return ok && m.Kind() == '"'
	}), nil
}

// formFields decodes body as decodeForm does into the request that spec
// lists, and states what it holds. A blank form field is not given.
func formFields(body []byte, spec map[string]kind) (fields, *problem) {
	v := requestOf(spec)
	if p := decodeForm(body, v); p != nil {
		return nil, p
	}
	return fieldsOf(v, func(string) bool { return false }), nil
}

// fieldsOf states the fields of request v that hold a value: a non-nil
// pointer or list, a non-empty string, or an empty one that emptyGiven
// says was given.
func fieldsOf(v any, emptyGiven func(name string) bool) fields {
	out := fields{}
	seen := map[string]bool{}
	var walk func(rv reflect.Value)
	walk = func(rv reflect.Value) {
		var embedded []reflect.Value
		for i := range rv.NumField() {
			f := rv.Type().Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Anonymous && name == "" {
				embedded = append(embedded, rv.Field(i))
				continue
			}
			if seen[name] {
				continue
			}
			seen[name] = true
			fv := rv.Field(i)
			switch {
			case fv.Kind() == reflect.Pointer && !fv.IsNil():
				out[name] = fv.Elem().Interface()
			case fv.Kind() == reflect.Slice && !fv.IsNil():
				out[name] = slices.Clone(fv.Interface().([]string))
			case fv.Kind() == reflect.String && (fv.String() != "" || emptyGiven(name)):
				out[name] = fv.String()
			}
		}
		for _, e := range embedded {
			walk(e)
		}
	}
	walk(reflect.ValueOf(v).Elem())
	return out
}

func TestJSONFields(t *testing.T) { runBodyCases(t, jsonCases, jsonFields) }

func TestFormFields(t *testing.T) { runBodyCases(t, formCases, formFields) }

func runBodyCases(t *testing.T, cases []bodyCase, decode func([]byte, map[string]kind) (fields, *problem)) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, p := decode([]byte(c.body), c.spec)
			if c.want != nil {
				if p != nil {
					t.Fatalf("refused: %+v", *p)
				}
				if !reflect.DeepEqual(got, c.want) {
					t.Fatalf("got %#v, want %#v", got, c.want)
				}
				for name, v := range c.want {
					if n, ok := v.(float64); ok && math.Signbit(n) != math.Signbit(got[name].(float64)) {
						t.Fatalf("%s lost its sign", name)
					}
				}
				return
			}
			if p == nil {
				t.Fatalf("accepted as %#v", got)
			}
			if p.Status != 400 || p.Field != c.field || !strings.Contains(p.Detail, c.reason) {
				t.Fatalf("problem %d field %q %q; want 400 field %q with %q", p.Status, p.Field, p.Detail, c.field, c.reason)
			}
			if !utf8.ValidString(p.Field) || !utf8.ValidString(p.Detail) {
				t.Fatalf("problem is not valid UTF-8: %+v", *p)
			}
		})
	}
}

// TestEchoIsShort: a problem does not echo a client's 60 KiB field name.
func TestEchoIsShort(t *testing.T) {
	name := strings.Repeat("x", 60<<10)
	_, p := jsonFields([]byte(`{"`+name+`":1}`), decisionFields)
	if p == nil || len(p.Field) > 100 || len(p.Detail) > 300 {
		t.Fatalf("problem echoes too much: %d and %d bytes", len(p.Field), len(p.Detail))
	}
}

// fuzzSpecs are the specs the fuzz targets decode with: the real ones.
var fuzzSpecs = func() []map[string]kind {
	var specs []map[string]kind
	for _, v := range requestTypes() {
		specs = append(specs, members(v))
	}
	return specs
}()

func FuzzJSONFields(f *testing.F) { fuzzDecoder(f, jsonCases, jsonFields, agreesWithJSON) }

func FuzzFormFields(f *testing.F) { fuzzDecoder(f, formCases, formFields, agreesWithForm) }

// fuzzDecoder seeds with cases and then decodes any body under every real
// spec: a refusal must be a clean problem, and an accepted body must hold
// only known, valid fields, read as agrees says its encoding's standard
// reader reads it.
func fuzzDecoder(f *testing.F, cases []bodyCase, decode func([]byte, map[string]kind) (fields, *problem),
	agrees func(t *testing.T, body []byte, got fields, spec map[string]kind)) {
	for _, c := range cases {
		f.Add([]byte(c.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, spec := range fuzzSpecs {
			got, p := decode(body, spec)
			if p != nil {
				checkProblem(t, p)
				continue
			}
			checkAccepted(t, got, spec)
			checkNoReplacement(t, body, got)
			agrees(t, body, got, spec)
		}
	})
}

// agreesWithJSON: each name is given once, encoding/json reads the body
// as jsonFields did, and what was read reads the same once re-encoded.
func agreesWithJSON(t *testing.T, body []byte, got fields, spec map[string]kind) {
	t.Helper()
	checkKeysOnce(t, jsonKeys(t, body), spec)
	// encoding/json, the reader every other tool uses, must read
	// an accepted body the same way.
	var std map[string]any
	if err := json.Unmarshal(body, &std); err != nil {
		t.Fatalf("accepted %q, which encoding/json refuses: %v", body, err)
	}
	for name, v := range std {
		if g, ok := got[name]; (v == nil) == ok || (ok && !reflect.DeepEqual(asDecoded(g), v)) {
			t.Fatalf("%q: %s = %#v, encoding/json reads %#v", body, name, g, v)
		}
	}
	for name := range got {
		if _, ok := std[name]; !ok {
			t.Fatalf("%q: encoding/json does not see %s", body, name)
		}
	}
	again, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	back, p := jsonFields(again, spec)
	if p != nil {
		t.Fatalf("re-encoded %q refused: %s", again, p.Detail)
	}
	if !reflect.DeepEqual(back, got) {
		t.Fatalf("re-encoded %q reads %#v, first read %#v", again, back, got)
	}
}

// agreesWithForm: url.ParseQuery reads the body as formFields did, each
// name is given once (a list's as often as it was sent), and what was
// read reads the same once re-encoded.
func agreesWithForm(t *testing.T, body []byte, got fields, spec map[string]kind) {
	t.Helper()
	std, err := url.ParseQuery(string(body))
	if err != nil {
		t.Fatalf("accepted %q, which url.ParseQuery refuses: %v", body, err)
	}
	var names []string
	for name, values := range std {
		if spec[name] == kindStrings {
			values = values[:1]
		}
		for range values {
			names = append(names, name)
		}
	}
	checkKeysOnce(t, names, spec)
	for name, v := range got {
		if list, ok := v.([]string); ok {
			var sent []string
			for _, s := range std[name] {
				if strings.TrimSpace(s) != "" {
					sent = append(sent, s)
				}
			}
			if !reflect.DeepEqual(list, sent) {
				t.Fatalf("%q: %s = %q, url.ParseQuery reads %q", body, name, list, std[name])
			}
			continue
		}
		if len(std[name]) != 1 {
			t.Fatalf("%q: url.ParseQuery reads %s as %q", body, name, std[name])
		}
		sent := std[name][0]
		switch v := v.(type) {
		case string:
			if v != sent {
				t.Fatalf("%q: %s = %q, url.ParseQuery reads %q", body, name, v, sent)
			}
		case float64:
			if strings.Trim(sent, "0123456789.-") != "" {
				t.Fatalf("%q: %s = %q was taken as the number %v", body, name, sent, v)
			}
		case bool:
			if sent != strconv.FormatBool(v) {
				t.Fatalf("%q: %s = %q was taken as %v", body, name, sent, v)
			}
		}
	}
	again := url.Values{}
	for name, v := range got {
		switch v := v.(type) {
		case string:
			again.Set(name, v)
		case float64:
			again.Set(name, strconv.FormatFloat(v, 'f', -1, 64))
		case bool:
			again.Set(name, strconv.FormatBool(v))
		case []string:
			again[name] = v
		}
	}
	back, p := formFields([]byte(again.Encode()), spec)
	if p != nil {
		t.Fatalf("re-encoded %q refused: %s", again.Encode(), p.Detail)
	}
	if !reflect.DeepEqual(back, got) {
		t.Fatalf("re-encoded %q reads %#v, first read %#v", again.Encode(), back, got)
	}
}

// checkAccepted: only known fields, each of its declared kind, text valid
// UTF-8 without refused control characters, numbers finite.
func checkAccepted(t *testing.T, got fields, spec map[string]kind) {
	t.Helper()
	for name, v := range got {
		k, ok := spec[name]
		if !ok {
			t.Fatalf("unknown field %q accepted", name)
		}
		switch v := v.(type) {
		case string:
			if k != kindString || !utf8.ValidString(v) || !allowedText(v) {
				t.Fatalf("%s = %q accepted", name, v)
			}
		case float64:
			if k != kindNumber || math.IsInf(v, 0) || math.IsNaN(v) {
				t.Fatalf("%s = %v accepted", name, v)
			}
		case bool:
			if k != kindBool {
				t.Fatalf("%s = %v accepted", name, v)
			}
		case []string:
			if k != kindStrings {
				t.Fatalf("%s = %q accepted", name, v)
			}
			for _, s := range v {
				if !utf8.ValidString(s) || !allowedText(s) {
					t.Fatalf("%s = %q accepted", name, v)
				}
			}
		default:
			t.Fatalf("%s = %#v accepted", name, v)
		}
	}
}

// checkNoReplacement: U+FFFD in accepted text was sent as U+FFFD (raw,
// \u-escaped or percent-encoded), not made by a decoder that replaced
// something it could not read.
func checkNoReplacement(t *testing.T, body []byte, got fields) {
	t.Helper()
	sent := bytes.Contains(body, []byte("\uFFFD")) || sentReplacement.Match(body)
	for name, v := range got {
		texts, _ := v.([]string)
		if s, ok := v.(string); ok {
			texts = []string{s}
		}
		for _, s := range texts {
			if strings.ContainsRune(s, utf8.RuneError) && !sent {
				t.Fatalf("%q: %s = %q holds a U+FFFD the client did not send", body, name, s)
			}
		}
	}
}

// asDecoded is v as encoding/json decodes it into an any: lists of names
// as []any.
func asDecoded(v any) any {
	list, ok := v.([]string)
	if !ok {
		return v
	}
	out := make([]any, len(list))
	for i, s := range list {
		out[i] = s
	}
	return out
}

var sentReplacement = regexp.MustCompile(`(?i)\\ufffd|%ef%bf%bd`)

// checkKeysOnce: each name of an accepted body is a known field, given
// once, and no two differ only in case.
func checkKeysOnce(t *testing.T, names []string, spec map[string]kind) {
	t.Helper()
	for i, name := range names {
		if _, ok := spec[name]; !ok {
			t.Fatalf("accepted unknown field %q", name)
		}
		for _, other := range names[:i] {
			if strings.EqualFold(name, other) {
				t.Fatalf("accepted %q and %q in one body", other, name)
			}
		}
	}
}

// jsonKeys lists the member names of an accepted body's object, as
// encoding/json's tokenizer reads them.
func jsonKeys(t *testing.T, body []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	var names []string
	if _, err := dec.Token(); err != nil {
		t.Fatalf("%q: %v", body, err)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		names = append(names, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatalf("%q: %v", body, err)
		}
	}
	return names
}

func allowedText(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Cc, r) && r != '\t' && r != '\n' && r != '\r' {
			return false
		}
	}
	return true
}

// checkProblem: a refusal is a 400 whose text can be sent as JSON as is.
func checkProblem(t *testing.T, p *problem) {
	t.Helper()
	if p.Status != 400 || p.Detail == "" || !utf8.ValidString(p.Field) || !utf8.ValidString(p.Detail) {
		t.Fatalf("problem %+v", *p)
	}
}
