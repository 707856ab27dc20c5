package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// jsonOptions decode a request body strictly. go-json-experiment refuses
// by default what encoding/json silently repairs (see readBody): duplicate
// names, names that differ from a field's only in case, invalid UTF-8 and
// escaped lone surrogates. Unknown names are refused here too, and every
// string goes through checkText.
var jsonOptions = json.JoinOptions(
	json.RejectUnknownMembers(true),
	json.WithUnmarshalers(json.UnmarshalFromFunc(checkText)),
)

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// decodeJSON decodes a body that must be exactly one JSON object into v,
// a pointer to a request struct whose json names are the fields. A null
// member is a member not given.
func decodeJSON(body []byte, v any) *problem {
	if bytes.HasPrefix(body, utf8BOM) {
		// RFC 8259 lets a parser ignore a BOM, but a client that sends one
		// is not sending what it thinks it is; say so instead of guessing.
		return badRequest("", "the body starts with a byte order mark (BOM); send UTF-8 JSON without one")
	}
	start := len(body) - len(bytes.TrimLeft(body, jsonSpace))
	switch {
	case start == len(body):
		return badRequest("", "the body is empty; send a JSON object")
	case body[start] != '{':
		return badRequest("", "the body is not a JSON object; send one object such as {\"field\": \"value\"}")
	}
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	if err := json.UnmarshalDecode(dec, v, jsonOptions); err != nil {
		return jsonProblem(body, v, err)
	}
	end := int(dec.InputOffset())
	if rest := bytes.TrimLeft(body[end:], jsonSpace); len(rest) > 0 {
		at := len(body) - len(rest)
		return badRequest("", fmt.Sprintf("the body must be exactly one JSON object, but %s follows it at byte %d", describe(body, at), at))
	}
	return nil
}

// jsonSpace is JSON's whitespace, and nothing else.
const jsonSpace = " \t\r\n"

// textFaultError is a string checkText refused: item counts from 1 in a
// list, and is 0 for a field's own value.
type textFaultError struct {
	item  int
	fault string
}

func (e *textFaultError) Error() string { return e.fault }

// checkText decodes every JSON string of a request (into a field of any
// string type) through textFault, and refuses a null in a list of names,
// where it is a mistake, not a name.
func checkText(dec *jsontext.Decoder, v any) error {
	field := reflect.ValueOf(v).Elem()
	if field.Kind() != reflect.String {
		return json.SkipFunc
	}
	kind, n := dec.StackIndex(dec.StackDepth())
	item := 0
	if kind == '[' {
		item = int(n) + 1
	}
	switch dec.PeekKind() {
	case '"':
	case 'n':
		if item > 0 {
			return &textFaultError{item: item, fault: "is not a string"}
		}
		return json.SkipFunc
	default:
		return json.SkipFunc
	}
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	if fault := textFault(tok.String()); fault != "" {
		return &textFaultError{item: item, fault: fault}
	}
	field.SetString(tok.String())
	return nil
}

// jsonProblem says in the API's words what the decoder refused: the field
// at fault and what it must be. v is the request decoded into.
func jsonProblem(body []byte, v any, err error) *problem {
	spec := members(v)
	var syn *jsontext.SyntacticError
	if errors.As(err, &syn) {
		return syntaxProblem(body, spec, syn)
	}
	var sem *json.SemanticError
	if !errors.As(err, &sem) {
		return badRequest("", "the body could not be read: "+err.Error())
	}
	name, item := pointerField(sem.JSONPointer)
	if spec[name] == kindObjects && item > 0 {
		return listItemProblem(v, name, item, sem)
	}
	var text *textFaultError
	switch {
	case errors.As(sem.Err, &text) && text.item > 0:
		if text.fault == "is not a string" {
			return badRequest(name, fmt.Sprintf("%s must be %s; item %d is not a string", name, kindStrings, text.item))
		}
		return badRequest(name, fmt.Sprintf("%s item %d %s", name, text.item, text.fault))
	case text != nil:
		return badRequest(name, name+" "+text.fault)
	case errors.Is(sem.Err, json.ErrUnknownName):
		return unknownName(sem.JSONPointer.LastToken(), spec)
	case item > 0:
		return badRequest(name, fmt.Sprintf("%s must be %s; item %d is not a string", name, kindStrings, item))
	case sem.JSONKind == '0' && spec[name] == kindNumber:
		token := numberAt(body, int(sem.ByteOffset))
		return badRequest(name, fmt.Sprintf("%s is out of range: %s", name, shown(token)))
	}
	return badRequest(name, fmt.Sprintf("%s must be %s, not %s", name, spec[name], kindPhrase[sem.JSONKind]))
}

// kindPhrase names what a JSON value of a kind is.
var kindPhrase = map[jsontext.Kind]string{
	'"': "a string", '0': "a number", 't': "a boolean", 'f': "a boolean", '[': "an array", '{': "an object",
}

// pointerField is the field a JSON pointer into a request is in, and the
// item (from 1) when it points into a list.
func pointerField(ptr jsontext.Pointer) (name string, item int) {
	i := 0
	for tok := range ptr.Tokens() {
		switch i {
		case 0:
			name = tok
		case 1:
			n, _ := strconv.Atoi(tok)
			item = n + 1
		}
		i++
	}
	return name, item
}

// syntaxProblem says what is wrong where the body stops being JSON. The
// decoder says where; at says what was being read there.
func syntaxProblem(body []byte, spec map[string]kind, syn *jsontext.SyntacticError) *problem {
	off := int(syn.ByteOffset)
	if errors.Is(syn.Err, jsontext.ErrDuplicateName) {
		name := syn.JSONPointer.LastToken()
		if list, item := pointerField(syn.JSONPointer); spec[list] == kindObjects && item > 0 {
			return badRequest(list, fmt.Sprintf("%s item %d: %s is given more than once", list, item, name))
		}
		return badRequest(name, name+" is given more than once")
	}
	pos := at(body, off)
	if off < len(body) && body[off] == ',' && !pos.afterColon {
		// A comma where none may be (a trailing one): what was expected
		// is what follows it.
		off += 1 + len(body[off+1:]) - len(bytes.TrimLeft(body[off+1:], jsonSpace))
		pos = at(body, off)
	}
	eof := errors.Is(syn.Err, io.ErrUnexpectedEOF) || off >= len(body)
	if pos.inString {
		return stringProblem(body, off, eof, pos)
	}
	if eof {
		return badRequest("", fmt.Sprintf("the body is not valid JSON: it ends where %s was expected", pos.expected()))
	}
	if pos.scalar && pos.member != "" && !pos.inList {
		// A value that runs on (truee, 0x10, 1_0) or starts wrong (TRUE,
		// +1, Infinity): say what the field's value must look like.
		return wrongValue(pos.member, spec[pos.member])
	}
	return badRequest("", fmt.Sprintf("the body is not valid JSON: %s was expected at byte %d, not %s", pos.expected(), off, describe(body, off)))
}

// wrongValue says what the value of a field must be.
func wrongValue(name string, k kind) *problem {
	if k == kindNumber {
		return badRequest(name, name+" must be a JSON number such as 2 or 1.5 (no hex, no leading zeros, no Infinity or NaN)")
	}
	return badRequest(name, fmt.Sprintf("%s must be %s", name, k))
}

// stringProblem says what is wrong in the string that the byte at off is
// in: a field name, a field's value or an item of a list.
func stringProblem(body []byte, off int, eof bool, pos position) *problem {
	var fault string
	syntax := true
	switch {
	case eof:
		fault = "is not closed with a double quote"
	case body[off] < 0x20:
		fault = fmt.Sprintf("contains the raw control character %U, which JSON requires to be escaped", rune(body[off]))
	case body[off] == '\\' && bytes.HasPrefix(body[off:], []byte(`\u`)):
		r, err := strconv.ParseUint(string(body[off+2:min(off+6, len(body))]), 16, 16)
		switch {
		case err != nil || off+6 > len(body):
			fault = "has a \\u escape without four hex digits"
		case utf16.IsSurrogate(rune(r)):
			fault, syntax = fmt.Sprintf("contains an escaped lone surrogate (\\u%04x), which is not a character", r), false
		default:
			fault = "has an invalid escape sequence"
		}
	case body[off] == '\\':
		fault = "has an invalid escape sequence"
	default:
		fault, syntax = fmt.Sprintf("is not valid UTF-8 (byte 0x%02X at offset %d); send text as UTF-8", body[off], off-pos.stringStart-1), false
	}
	if pos.isName {
		name := shown(pos.text(body))
		if syntax {
			return badRequest(name, "the body is not valid JSON: a field name "+fault)
		}
		return badRequest(name, fmt.Sprintf("the field name %q %s", name, fault))
	}
	subject := pos.member
	if pos.inList && !syntax {
		subject = fmt.Sprintf("%s item %d", pos.member, pos.items)
	}
	if syntax {
		return badRequest(pos.member, "the body is not valid JSON: "+subject+" "+fault)
	}
	return badRequest(pos.member, subject+" "+fault)
}

// position is what was being read at a byte of a body the decoder
// refused: only what the API's problems tell, for bodies that are one
// object of scalars and lists of strings.
type position struct {
	inString    bool
	stringStart int  // the opening quote of the string at the byte
	isName      bool // that string is a field name
	member      string
	inList      bool
	items       int  // the items of the list begun so far
	inObject    int  // how deep in objects within the list
	afterName   bool // a field name was read, and no ':' yet
	afterColon  bool
	afterValue  bool // a value ended, and no ',' yet
	scalar      bool // the byte follows a number or literal, or starts a value
}

// at reads body up to off, as far as telling where off is goes. It
// needs no care for faults before off: the decoder found none.
func at(body []byte, off int) position {
	var p position
	lastSig := byte(0)
	for i := 0; i < off && i < len(body); i++ {
		c := body[i]
		if p.inString {
			switch c {
			case '\\':
				i++
			case '"':
				p.inString = false
				if p.isName {
					p.member = string(jsonText(body[p.stringStart : i+1]))
					p.afterName = true
				} else {
					p.afterValue = true
				}
				lastSig = c
			}
			continue
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '"':
			p.inString, p.stringStart = true, i
			p.isName = !p.inList && (lastSig == '{' || lastSig == ',')
			if p.inList && p.inObject == 0 {
				p.items++
			}
			p.afterColon, p.afterValue = false, false
		case '{':
			if p.inList {
				if p.inObject == 0 {
					p.items++
				}
				p.inObject++
			}
		case '}':
			if p.inObject > 0 {
				p.inObject--
				p.afterColon, p.afterValue = false, p.inObject == 0
			}
		case '[':
			p.inList, p.items, p.afterColon = true, 0, false
		case ']':
			p.inList, p.afterValue = false, true
		case ':':
			p.afterName, p.afterColon = false, true
		case ',':
			p.afterValue = false
		default:
			p.afterColon, p.afterValue = false, true
		}
		lastSig = c
	}
	// The byte at off follows a number or literal directly, or starts a
	// value after ':'.
	p.scalar = p.afterColon || (off > 0 && off <= len(body) && isScalarByte(body[off-1]) && p.afterValue && !p.inString && lastSig != '"' && lastSig != ']')
	return p
}

func isScalarByte(c byte) bool {
	return c == '-' || c == '+' || c == '.' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

// expected is what the body should have held at the position, as a
// phrase.
func (p position) expected() string {
	switch {
	case p.inObject > 0:
		return fmt.Sprintf("a field name, a value, ',' or '}' in %s item %d", p.member, p.items)
	case p.inList && p.afterValue:
		return "',' or ']' in " + p.member
	case p.inList:
		return "a string in " + p.member
	case p.afterName:
		return "':' after the field name"
	case p.afterColon:
		return "the value of " + p.member
	case p.afterValue:
		return "',' or '}' after the value of " + p.member
	}
	return "a field name in double quotes"
}

// text is the string the position is in, as far as the body holds it,
// with what cannot be decoded replaced by U+FFFD (for a problem to show).
func (p position) text(body []byte) string {
	rest := body[p.stringStart:]
	for i := 1; i < len(rest); i++ {
		switch rest[i] {
		case '\\':
			i++
		case '"':
			return string(jsonText(rest[:i+1]))
		}
	}
	return string(jsonText(append(bytes.Clone(rest), '"')))
}

// jsonText decodes a quoted JSON string, replacing what cannot be
// decoded by U+FFFD.
func jsonText(quoted []byte) []byte {
	text, _ := jsontext.AppendUnquote(nil, quoted)
	return bytes.ToValidUTF8(text, []byte("\uFFFD"))
}

// numberAt is the number token that starts at off.
func numberAt(body []byte, off int) string {
	end := off
	for end < len(body) && bytes.IndexByte([]byte("+-.0123456789eE"), body[end]) >= 0 {
		end++
	}
	return string(body[off:end])
}

// describe quotes the character at off, or says the body ended there.
func describe(body []byte, off int) string {
	if off >= len(body) {
		return "the end of the body"
	}
	r, _ := utf8.DecodeRune(body[off:])
	return fmt.Sprintf("%q", r)
}

// listItemProblem says what the decoder refused in item (from 1) of the
// list of objects name, a field of request v: the item itself, or one of
// its fields.
func listItemProblem(v any, name string, item int, sem *json.SemanticError) *problem {
	where := fmt.Sprintf("%s item %d", name, item)
	var path []string
	for tok := range sem.JSONPointer.Tokens() {
		path = append(path, tok)
	}
	if len(path) < 3 {
		return badRequest(name, fmt.Sprintf("%s must be a JSON object, not %s", where, kindPhrase[sem.JSONKind]))
	}
	field, spec := path[2], itemMembers(v, name)
	var text *textFaultError
	switch {
	case errors.As(sem.Err, &text):
		return badRequest(name, fmt.Sprintf("%s: %s %s", where, field, text.fault))
	case errors.Is(sem.Err, json.ErrUnknownName):
		p := unknownName(field, spec)
		p.Field, p.Detail = name, where+": "+p.Detail
		return p
	}
	return badRequest(name, fmt.Sprintf("%s: %s must be %s, not %s", where, field, spec[field], kindPhrase[sem.JSONKind]))
}

// itemMembers are the fields of the objects in the list field name of
// request v, by json name, an embedded struct's lists included.
func itemMembers(v any, name string) map[string]kind {
	out := map[string]kind{}
	for _, f := range reflect.VisibleFields(reflect.TypeOf(v).Elem()) {
		if tag, _, _ := strings.Cut(f.Tag.Get("json"), ","); tag == name && f.Type.Kind() == reflect.Slice {
			addMembers(out, f.Type.Elem())
		}
	}
	return out
}
