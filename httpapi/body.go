package httpapi

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
)

// MaxBodyBytes bounds a request body. Approvals are small; the scheduler's
// own payload ceiling is 1 MiB.
const MaxBodyBytes = 64 << 10

const acceptedTypes = "application/json, application/x-www-form-urlencoded"

// readBody decodes a JSON or form body into v, a pointer to one of the
// request structs (approval.StartRequest and the like), whose json names
// are the fields of both encodings. Unknown fields are refused so that a
// typo does not silently fall back to a default.
//
// Decoding is strict because a body that two parsers read differently is a
// body whose meaning an attacker chooses: encoding/json lets the last of two
// duplicate keys win, matches keys case-insensitively, and replaces invalid
// UTF-8 and lone surrogates with U+FFFD, so the text we store is not the text
// the client sent and a retry of the same request no longer matches it. Here
// every such body is refused instead, naming the field at fault.
func readBody(w http.ResponseWriter, r *http.Request, v any) *problem {
	// Two Content-Type headers are two readings of one body: a proxy may
	// take the last where we take the first.
	if n := len(r.Header.Values("Content-Type")); n > 1 {
		return badRequest("", fmt.Sprintf("the request has %d Content-Type headers; send one", n))
	}
	if enc := r.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		w.Header().Set("Accept-Encoding", "identity")
		return &problem{Status: http.StatusUnsupportedMediaType,
			Detail: fmt.Sprintf("Content-Encoding %q is not supported; send the body uncompressed", shown(enc))}
	}
	contentType := r.Header.Get("Content-Type")
	mediaType, params, err := mime.ParseMediaType(contentType)
	isJSON := err == nil && (mediaType == "application/json" || strings.HasSuffix(mediaType, "+json"))
	isForm := err == nil && mediaType == "application/x-www-form-urlencoded"
	if !isJSON && !isForm {
		w.Header().Set("Accept-Post", acceptedTypes)
		return &problem{Status: http.StatusUnsupportedMediaType,
			Detail: fmt.Sprintf("Content-Type %q is not supported; send %s", shown(contentType), acceptedTypes)}
	}
	// Bytes in another charset would decode as the wrong text or not at
	// all; no charset means UTF-8 for both types.
	if charset, ok := params["charset"]; ok && !strings.EqualFold(charset, "utf-8") {
		w.Header().Set("Accept-Post", acceptedTypes)
		return &problem{Status: http.StatusUnsupportedMediaType,
			Detail: fmt.Sprintf("charset %q is not supported; send UTF-8 (charset=utf-8, or no charset)", shown(charset))}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &problem{Status: http.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("the body is larger than %d bytes", MaxBodyBytes)}
	}
	if err != nil {
		return &problem{Status: http.StatusBadRequest, Detail: "the body could not be read: " + err.Error()}
	}
	if isJSON {
		return decodeJSON(body, v)
	}
	return decodeForm(body, v)
}

// kind is what a field's value is, by the Go type of its struct field.
type kind int

const (
	kindString kind = iota
	kindNumber
	kindBool
	// kindStrings is a list of names: a JSON array of strings, or a form
	// field given once per name.
	kindStrings
	// kindObjects is a list of objects, such as a bulk call's items.
	kindObjects
)

// String is what a JSON value of kind k must be, as a phrase.
func (k kind) String() string {
	switch k {
	case kindNumber:
		return "a JSON number"
	case kindBool:
		return "true or false (a JSON boolean)"
	case kindStrings:
		return "a JSON array of strings"
	case kindObjects:
		return "a JSON array of objects"
	default:
		return "a JSON string"
	}
}

// members are the fields of request v (a pointer to a struct) by json
// name, with their kinds. An embedded struct's fields are v's own, unless
// v has a field of the same name, as Go and the json package promote them.
// The result is worked out once a type and shared: callers only read it.
func members(v any) map[string]kind {
	t := reflect.TypeOf(v).Elem()
	if m, ok := memberCache.Load(t); ok {
		return m.(map[string]kind)
	}
	out := map[string]kind{}
	addMembers(out, t)
	memberCache.Store(t, out)
	return out
}

var memberCache sync.Map // reflect.Type -> map[string]kind

func addMembers(out map[string]kind, t reflect.Type) {
	var embedded []reflect.Type
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case f.Anonymous && name == "":
			embedded = append(embedded, f.Type)
			continue
		case !f.IsExported() || name == "-":
			continue
		case name == "":
			name = f.Name
		}
		if _, shadowed := out[name]; !shadowed {
			out[name] = kindOf(f.Type)
		}
	}
	for _, t := range embedded {
		addMembers(out, t)
	}
}

func kindOf(t reflect.Type) kind {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return kindBool
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Struct {
			return kindObjects
		}
		return kindStrings
	case reflect.String:
		return kindString
	}
	return kindNumber
}

// decodeForm decodes an application/x-www-form-urlencoded body into v.
// It splits the pairs itself rather than calling url.ParseQuery so that a
// malformed escape is reported against its field, checks each value as a
// form sends it, and hands the values on to v as JSON would give them, so
// that both encodings fill one struct the same way.
func decodeForm(body []byte, v any) *problem {
	spec := members(v)
	out := map[string]any{}
	seen := map[string]bool{}
	for pair := range strings.SplitSeq(string(body), "&") {
		if pair == "" {
			continue
		}
		rawName, rawValue, _ := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(rawName)
		if err != nil {
			return badRequest(shown(rawName), fmt.Sprintf("the field name %q is not properly percent-encoded: %v", shown(rawName), err))
		}
		if fault := textFault(name); fault != "" {
			return badRequest(shown(name), fmt.Sprintf("the field name %q %s", shown(name), fault))
		}
		// url.ParseQuery refuses ';' too: some servers split pairs on it,
		// so a body with one means different things to different readers.
		if strings.Contains(pair, ";") {
			return badRequest(shown(name), fmt.Sprintf("%s contains a raw ';'; percent-encode it as %%3B", shown(name)))
		}
		k, known := spec[name]
		if !known {
			return unknownName(name, spec)
		}
		// A list may be given once per item, as HTML sends a multiple
		// select; any other field once.
		if seen[name] && k != kindStrings {
			return badRequest(name, name+" is given more than once")
		}
		seen[name] = true
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			return badRequest(name, fmt.Sprintf("%s is not properly percent-encoded: %v", name, err))
		}
		if fault := textFault(value); fault != "" {
			return badRequest(name, name+" "+fault)
		}
		if strings.TrimSpace(value) == "" {
			continue // an empty form input means "not given"
		}
		typed, p := formValue(name, value, k)
		if p != nil {
			return p
		}
		if k == kindStrings {
			list, _ := out[name].([]string)
			typed = append(list, value)
		}
		out[name] = typed
	}
	raw, err := json.Marshal(out)
	if err == nil {
		err = json.Unmarshal(raw, v)
	}
	if err != nil {
		return badRequest("", "the form could not be read: "+err.Error())
	}
	return nil
}

// formValue is a form's value of a field of kind k, as JSON would hold it.
func formValue(name, value string, k kind) (any, *problem) {
	switch k {
	case kindNumber:
		if !formNumber.MatchString(value) {
			return nil, badRequest(name, name+" must be a plain decimal number such as 2 or 1.5 (digits, an optional '-' and fraction; no exponent)")
		}
		n, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, badRequest(name, fmt.Sprintf("%s is out of range: %s", name, shown(value)))
		}
		return n, nil
	case kindBool:
		switch value {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, badRequest(name, name+" must be true or false, in lower case")
	}
	return value, nil
}

// formNumber is an HTML "valid floating-point number" without the exponent:
// what a number input sends. strconv.ParseFloat alone would also take hex
// floats, underscores, Inf and NaN.
var formNumber = regexp.MustCompile(`^-?([0-9]+(\.[0-9]+)?|\.[0-9]+)$`)

// unknownName refuses a field name that the request does not have. Names
// are matched exactly: one that differs from a known field only in case
// (or by Unicode case folding, such as "requeſter") is refused by name,
// because encoding/json and other readers would take it for the known
// field.
func unknownName(name string, spec map[string]kind) *problem {
	if fault := textFault(name); fault != "" {
		return badRequest(shown(name), fmt.Sprintf("the field name %q %s", shown(name), fault))
	}
	names := sortedKeys(spec)
	for _, want := range names {
		if strings.EqualFold(name, want) {
			return badRequest(shown(name), fmt.Sprintf("unknown field %q: field names are case-sensitive; write %q", shown(name), want))
		}
	}
	return badRequest(shown(name),
		fmt.Sprintf("unknown field %q; accepted fields are %s", shown(name), strings.Join(names, ", ")))
}

// textFault says what is wrong with decoded text, or "" when nothing is.
// Control characters other than tab, CR and LF (multi-line comments) are
// refused: they corrupt logs, terminals and the pages that show the text.
func textFault(s string) string {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return fmt.Sprintf("is not valid UTF-8 (byte 0x%02X at offset %d); send text as UTF-8", s[i], i)
			}
		}
		if unicode.Is(unicode.Cc, r) && r != '\t' && r != '\n' && r != '\r' {
			return fmt.Sprintf("contains the control character %U; only tab, CR and LF are allowed", r)
		}
	}
	return ""
}
