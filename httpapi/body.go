package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxBodyBytes bounds a request body. Approvals are small; the scheduler's
// own payload ceiling is 1 MiB.
const MaxBodyBytes = 64 << 10

const acceptedTypes = "application/json, application/x-www-form-urlencoded"

type kind int

const (
	kindString kind = iota
	kindNumber
	kindBool
	// kindStrings is a list of names: a JSON array of strings, or a form
	// field given once per name.
	kindStrings
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
	default:
		return "a JSON string"
	}
}

// fields is a decoded body: each present field with its typed value.
type fields map[string]any

func (f fields) str(name string) (string, bool) {
	v, ok := f[name].(string)
	return v, ok
}

func (f fields) num(name string) (float64, bool) {
	v, ok := f[name].(float64)
	return v, ok
}

func (f fields) boolean(name string) (bool, bool) {
	v, ok := f[name].(bool)
	return v, ok
}

func (f fields) strs(name string) ([]string, bool) {
	v, ok := f[name].([]string)
	return v, ok
}

// readFields decodes a JSON or form body into the fields of spec. Both
// encodings use the same names; unknown fields are refused so that a typo
// does not silently fall back to a default.
//
// Decoding is strict because a body that two parsers read differently is a
// body whose meaning an attacker chooses: encoding/json lets the last of two
// duplicate keys win, matches keys case-insensitively, and replaces invalid
// UTF-8 and lone surrogates with U+FFFD, so the text we store is not the text
// the client sent and a retry of the same request no longer matches it. Here
// every such body is refused instead, naming the field at fault.
func readFields(w http.ResponseWriter, r *http.Request, spec map[string]kind) (fields, *problem) {
	// Two Content-Type headers are two readings of one body: a proxy may
	// take the last where we take the first.
	if n := len(r.Header.Values("Content-Type")); n > 1 {
		return nil, badRequest("", fmt.Sprintf("the request has %d Content-Type headers; send one", n))
	}
	if enc := r.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		w.Header().Set("Accept-Encoding", "identity")
		return nil, &problem{Status: http.StatusUnsupportedMediaType,
			Detail: fmt.Sprintf("Content-Encoding %q is not supported; send the body uncompressed", shown(enc))}
	}
	contentType := r.Header.Get("Content-Type")
	mediaType, params, err := mime.ParseMediaType(contentType)
	isJSON := err == nil && (mediaType == "application/json" || strings.HasSuffix(mediaType, "+json"))
	isForm := err == nil && mediaType == "application/x-www-form-urlencoded"
	if !isJSON && !isForm {
		w.Header().Set("Accept-Post", acceptedTypes)
		return nil, &problem{Status: http.StatusUnsupportedMediaType,
			Detail: fmt.Sprintf("Content-Type %q is not supported; send %s", shown(contentType), acceptedTypes)}
	}
	// Bytes in another charset would decode as the wrong text or not at
	// all; no charset means UTF-8 for both types.
	if charset, ok := params["charset"]; ok && !strings.EqualFold(charset, "utf-8") {
		w.Header().Set("Accept-Post", acceptedTypes)
		return nil, &problem{Status: http.StatusUnsupportedMediaType,
			Detail: fmt.Sprintf("charset %q is not supported; send UTF-8 (charset=utf-8, or no charset)", shown(charset))}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, &problem{Status: http.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("the body is larger than %d bytes", MaxBodyBytes)}
	}
	if err != nil {
		return nil, &problem{Status: http.StatusBadRequest, Detail: "the body could not be read: " + err.Error()}
	}
	if isJSON {
		return jsonFields(body, spec)
	}
	return formFields(body, spec)
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// jsonFields decodes a body that must be exactly one JSON object whose
// members are the fields of spec: scalars, or arrays of strings. It is its
// own small parser, not encoding/json, because the faults it must refuse
// (see readFields) are the ones encoding/json silently repairs. Nothing
// nests deeper than an array of strings, so it never recurses.
func jsonFields(body []byte, spec map[string]kind) (fields, *problem) {
	if bytes.HasPrefix(body, utf8BOM) {
		// RFC 8259 lets a parser ignore a BOM, but a client that sends one
		// is not sending what it thinks it is; say so instead of guessing.
		return nil, badRequest("", "the body starts with a byte order mark (BOM); send UTF-8 JSON without one")
	}
	s := &jsonScanner{b: body}
	s.skipSpace()
	if s.eof() {
		return nil, badRequest("", "the body is empty; send a JSON object")
	}
	if s.peek() != '{' {
		return nil, badRequest("", "the body is not a JSON object; send one object such as {\"field\": \"value\"}")
	}
	s.i++
	out := fields{}
	seen := map[string]bool{}
	s.skipSpace()
	if s.peek() == '}' {
		s.i++
	} else {
		for {
			s.skipSpace()
			if s.peek() != '"' {
				return nil, s.unexpected("a field name in double quotes")
			}
			name, fault, ok := s.str()
			if !ok {
				return nil, badRequest(shown(name), "the body is not valid JSON: a field name "+fault)
			}
			if fault == "" {
				fault = textFault(name)
			}
			if fault != "" {
				return nil, badRequest(shown(name), fmt.Sprintf("the field name %q %s", shown(name), fault))
			}
			k, p := checkName(name, spec, seen, false)
			if p != nil {
				return nil, p
			}
			s.skipSpace()
			if s.peek() != ':' {
				return nil, s.unexpected("':' after the field name")
			}
			s.i++
			s.skipSpace()
			v, given, p := s.value(name, k)
			if p != nil {
				return nil, p
			}
			if given {
				out[name] = v
			}
			s.skipSpace()
			if s.peek() == ',' {
				s.i++
				continue
			}
			if s.peek() == '}' {
				s.i++
				break
			}
			return nil, s.unexpected("',' or '}' after the value of " + name)
		}
	}
	s.skipSpace()
	if !s.eof() {
		return nil, badRequest("", fmt.Sprintf("the body must be exactly one JSON object, but %s follows it at byte %d", s.describe(), s.i))
	}
	return out, nil
}

type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) eof() bool { return s.i >= len(s.b) }

// peek is the next byte, or 0 at the end (0 is never valid there).
func (s *jsonScanner) peek() byte {
	if s.eof() {
		return 0
	}
	return s.b[s.i]
}

// skipSpace skips JSON's four whitespace bytes, and nothing else.
func (s *jsonScanner) skipSpace() {
	for !s.eof() {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScanner) describe() string {
	if s.eof() {
		return "the end of the body"
	}
	r, _ := utf8.DecodeRune(s.b[s.i:])
	return fmt.Sprintf("%q", r)
}

func (s *jsonScanner) unexpected(want string) *problem {
	if s.eof() {
		return badRequest("", fmt.Sprintf("the body is not valid JSON: it ends where %s was expected", want))
	}
	return badRequest("", fmt.Sprintf("the body is not valid JSON: %s was expected at byte %d, not %s", want, s.i, s.describe()))
}

// literal consumes word if it comes next.
func (s *jsonScanner) literal(word string) bool {
	if bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		s.i += len(word)
		return true
	}
	return false
}

// value reads the value of field name, which must be of kind k or null.
// given is false for null, which means "not given".
func (s *jsonScanner) value(name string, k kind) (v any, given bool, p *problem) {
	if s.literal("null") {
		return nil, false, s.ended(name, k)
	}
	wrong := func() (any, bool, *problem) {
		detail := fmt.Sprintf("%s must be %s", name, k)
		switch c := s.peek(); {
		case c == '"':
			detail += ", not a string"
		case c == '-' || ('0' <= c && c <= '9'):
			detail += ", not a number"
		case c == 't' || c == 'f':
			detail += ", not a boolean"
		case c == '[':
			detail += ", not an array"
		case c == '{':
			detail += ", not an object"
		}
		return nil, false, badRequest(name, detail)
	}
	switch k {
	case kindString:
		if s.peek() != '"' {
			return wrong()
		}
		text, fault, ok := s.str()
		if !ok {
			return nil, false, badRequest(name, "the body is not valid JSON: "+name+" "+fault)
		}
		if fault == "" {
			fault = textFault(text)
		}
		if fault != "" {
			return nil, false, badRequest(name, name+" "+fault)
		}
		return text, true, nil
	case kindStrings:
		if s.peek() != '[' {
			return wrong()
		}
		list, p := s.strings(name)
		return list, p == nil, p
	case kindNumber:
		// Anything that is not another JSON type was meant as a number
		// (Infinity, NaN, +1, .5, 0x10): say what a number looks like.
		if c := s.peek(); c == '"' || c == 't' || c == 'f' || c == '[' || c == '{' {
			return wrong()
		}
		token, ok := s.number()
		if !ok || !s.delimited() {
			return nil, false, badRequest(name, name+" must be a JSON number such as 2 or 1.5 (no hex, no leading zeros, no Infinity or NaN)")
		}
		n, err := strconv.ParseFloat(token, 64)
		if err != nil {
			return nil, false, badRequest(name, fmt.Sprintf("%s is out of range: %s", name, shown(token)))
		}
		return n, true, nil
	default:
		switch {
		case s.literal("true"):
			return true, true, s.ended(name, k)
		case s.literal("false"):
			return false, true, s.ended(name, k)
		}
		return wrong()
	}
}

// strings reads an array of strings at s.i (which holds the '['). Only
// strings may be in it: a null or a nested value in a list of names is a
// mistake, not a name.
func (s *jsonScanner) strings(name string) ([]string, *problem) {
	s.i++
	list := []string{}
	s.skipSpace()
	if s.peek() == ']' {
		s.i++
		return list, nil
	}
	for {
		s.skipSpace()
		if s.peek() != '"' {
			if s.eof() || s.peek() == ']' || s.peek() == ',' {
				return nil, s.unexpected("a string in " + name)
			}
			return nil, badRequest(name, fmt.Sprintf("%s must be %s; item %d is not a string", name, kindStrings, len(list)+1))
		}
		text, fault, ok := s.str()
		if !ok {
			return nil, badRequest(name, "the body is not valid JSON: "+name+" "+fault)
		}
		if fault == "" {
			fault = textFault(text)
		}
		if fault != "" {
			return nil, badRequest(name, fmt.Sprintf("%s item %d %s", name, len(list)+1, fault))
		}
		list = append(list, text)
		s.skipSpace()
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return list, nil
		default:
			return nil, s.unexpected("',' or ']' in " + name)
		}
	}
}

// ended refuses a literal run on into more letters, such as "truex" or
// "nullable": a valid body has a delimiter there.
func (s *jsonScanner) ended(name string, k kind) *problem {
	if !s.delimited() {
		return badRequest(name, fmt.Sprintf("%s must be %s", name, k))
	}
	return nil
}

// delimited reports whether a scalar may end here.
func (s *jsonScanner) delimited() bool {
	if s.eof() {
		return true
	}
	switch s.b[s.i] {
	case ' ', '\t', '\n', '\r', ',', '}':
		return true
	}
	return false
}

// number consumes a number in RFC 8259's grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *jsonScanner) number() (string, bool) {
	start := s.i
	digits := func() bool {
		n := 0
		for !s.eof() && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n > 0
	}
	if s.peek() == '-' {
		s.i++
	}
	if s.peek() == '0' {
		s.i++
	} else if !digits() {
		return "", false
	}
	if s.peek() == '.' {
		s.i++
		if !digits() {
			return "", false
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if !digits() {
			return "", false
		}
	}
	return string(s.b[start:s.i]), true
}

// str reads a JSON string at s.i (which holds the opening quote). ok is
// false when the body is not JSON there (fault says why); a fault with ok
// true is a string JSON allows but we refuse, an escaped lone surrogate.
// Raw bytes are copied through unchanged, so invalid UTF-8 stays visible
// to textFault rather than turning into U+FFFD here.
func (s *jsonScanner) str() (text, fault string, ok bool) {
	s.i++
	var buf strings.Builder
	for {
		if s.eof() {
			return buf.String(), "is not closed with a double quote", false
		}
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return buf.String(), fault, true
		case c < 0x20:
			return buf.String(), fmt.Sprintf("contains the raw control character %U, which JSON requires to be escaped", rune(c)), false
		case c != '\\':
			buf.WriteByte(c)
			s.i++
			continue
		}
		s.i++
		if s.eof() {
			return buf.String(), "is not closed with a double quote", false
		}
		c = s.b[s.i]
		s.i++
		switch c {
		case '"', '\\', '/':
			buf.WriteByte(c)
		case 'b':
			buf.WriteByte('\b')
		case 'f':
			buf.WriteByte('\f')
		case 'n':
			buf.WriteByte('\n')
		case 'r':
			buf.WriteByte('\r')
		case 't':
			buf.WriteByte('\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return buf.String(), "has a \\u escape without four hex digits", false
			}
			if utf16.IsSurrogate(r) {
				low, ok := s.lowSurrogate()
				if r < 0xDC00 && ok {
					r = utf16.DecodeRune(r, low)
				} else {
					if fault == "" {
						fault = fmt.Sprintf("contains an escaped lone surrogate (\\u%04x), which is not a character", r)
					}
					r = utf8.RuneError
				}
			}
			buf.WriteRune(r)
		default:
			return buf.String(), "has an invalid escape sequence", false
		}
	}
}

func (s *jsonScanner) hex4() (rune, bool) {
	if s.i+4 > len(s.b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(s.b[s.i:s.i+4]), 16, 16)
	if err != nil {
		return 0, false
	}
	s.i += 4
	return rune(n), true
}

// lowSurrogate consumes a following \uDC00-\uDFFF escape, if there is one.
func (s *jsonScanner) lowSurrogate() (rune, bool) {
	if !bytes.HasPrefix(s.b[s.i:], []byte(`\u`)) {
		return 0, false
	}
	save := s.i
	s.i += 2
	r, ok := s.hex4()
	if !ok || r < 0xDC00 || r > 0xDFFF {
		s.i = save
		return 0, false
	}
	return r, true
}

// formFields decodes an application/x-www-form-urlencoded body. It splits
// the pairs itself rather than calling url.ParseQuery so that a malformed
// escape is reported against its field.
func formFields(body []byte, spec map[string]kind) (fields, *problem) {
	out := fields{}
	seen := map[string]bool{}
	for pair := range strings.SplitSeq(string(body), "&") {
		if pair == "" {
			continue
		}
		rawName, rawValue, _ := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(rawName)
		if err != nil {
			return nil, badRequest(shown(rawName), fmt.Sprintf("the field name %q is not properly percent-encoded: %v", shown(rawName), err))
		}
		if fault := textFault(name); fault != "" {
			return nil, badRequest(shown(name), fmt.Sprintf("the field name %q %s", shown(name), fault))
		}
		// url.ParseQuery refuses ';' too: some servers split pairs on it,
		// so a body with one means different things to different readers.
		if strings.Contains(pair, ";") {
			return nil, badRequest(shown(name), fmt.Sprintf("%s contains a raw ';'; percent-encode it as %%3B", shown(name)))
		}
		k, p := checkName(name, spec, seen, true)
		if p != nil {
			return nil, p
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			return nil, badRequest(name, fmt.Sprintf("%s is not properly percent-encoded: %v", name, err))
		}
		if fault := textFault(value); fault != "" {
			return nil, badRequest(name, name+" "+fault)
		}
		if strings.TrimSpace(value) == "" {
			continue // an empty form input means "not given"
		}
		switch k {
		case kindString:
			out[name] = value
		case kindStrings:
			list, _ := out.strs(name)
			out[name] = append(list, value)
		case kindNumber:
			if !formNumber.MatchString(value) {
				return nil, badRequest(name, name+" must be a plain decimal number such as 2 or 1.5 (digits, an optional '-' and fraction; no exponent)")
			}
			n, err := strconv.ParseFloat(value, 64)
			if err != nil {
				return nil, badRequest(name, fmt.Sprintf("%s is out of range: %s", name, shown(value)))
			}
			out[name] = n
		case kindBool:
			switch value {
			case "true":
				out[name] = true
			case "false":
				out[name] = false
			default:
				return nil, badRequest(name, name+" must be true or false, in lower case")
			}
		}
	}
	return out, nil
}

// formNumber is an HTML "valid floating-point number" without the exponent:
// what a number input sends. strconv.ParseFloat alone would also take hex
// floats, underscores, Inf and NaN.
var formNumber = regexp.MustCompile(`^-?([0-9]+(\.[0-9]+)?|\.[0-9]+)$`)

// checkName accepts a field name that spec knows and that has not been
// seen, except that a list may be given once per item in a form (repeated,
// as HTML sends a multiple select). Names are matched exactly: one that differs from a known field only
// in case (or by Unicode case folding, such as "requeſter") is refused by
// name, because encoding/json and other readers would take it for the
// known field.
func checkName(name string, spec map[string]kind, seen map[string]bool, repeatable bool) (kind, *problem) {
	k, known := spec[name]
	if !known {
		for _, want := range sortedKeys(spec) {
			if strings.EqualFold(name, want) {
				return 0, badRequest(shown(name), fmt.Sprintf("unknown field %q: field names are case-sensitive; write %q", shown(name), want))
			}
		}
		return 0, unknownField(name, spec)
	}
	if seen[name] && !(repeatable && k == kindStrings) {
		return 0, badRequest(name, name+" is given more than once")
	}
	seen[name] = true
	return k, nil
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

func badRequest(field, detail string) *problem {
	return &problem{Status: http.StatusBadRequest, Field: field, Detail: detail}
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

func unknownField(name string, spec map[string]kind) *problem {
	return badRequest(shown(name),
		fmt.Sprintf("unknown field %q; accepted fields are %s", shown(name), strings.Join(sortedKeys(spec), ", ")))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
