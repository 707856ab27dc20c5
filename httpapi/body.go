package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
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
)

func (k kind) String() string {
	switch k {
	case kindNumber:
		return "a number"
	case kindBool:
		return "true or false"
	default:
		return "a string"
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

// readFields decodes a JSON or form body into the fields of spec. Both
// encodings use the same names; unknown fields are refused so that a typo
// does not silently fall back to a default.
func readFields(w http.ResponseWriter, r *http.Request, spec map[string]kind) (fields, *problem) {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	isJSON := err == nil && (mediaType == "application/json" || strings.HasSuffix(mediaType, "+json"))
	isForm := err == nil && mediaType == "application/x-www-form-urlencoded"
	if !isJSON && !isForm {
		w.Header().Set("Accept-Post", acceptedTypes)
		return nil, &problem{Status: http.StatusUnsupportedMediaType,
			Detail: fmt.Sprintf("Content-Type %q is not supported; send %s", r.Header.Get("Content-Type"), acceptedTypes)}
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

func jsonFields(body []byte, spec map[string]kind) (fields, *problem) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, &problem{Status: http.StatusBadRequest, Detail: "the body is empty; send a JSON object"}
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil || raw == nil {
		return nil, &problem{Status: http.StatusBadRequest, Detail: "the body is not a JSON object"}
	}
	if dec.More() {
		return nil, &problem{Status: http.StatusBadRequest, Detail: "the body holds more than one JSON value"}
	}
	out := fields{}
	for _, name := range sortedKeys(raw) {
		k, known := spec[name]
		if !known {
			return nil, unknownField(name, spec)
		}
		value := raw[name]
		if string(value) == "null" {
			continue
		}
		var err error
		switch k {
		case kindString:
			var s string
			err = json.Unmarshal(value, &s)
			out[name] = s
		case kindNumber:
			var n float64
			err = json.Unmarshal(value, &n)
			out[name] = n
		case kindBool:
			var b bool
			err = json.Unmarshal(value, &b)
			out[name] = b
		}
		if err != nil {
			return nil, &problem{Status: http.StatusBadRequest, Field: name, Detail: fmt.Sprintf("%s must be %s", name, k)}
		}
	}
	return out, nil
}

func formFields(body []byte, spec map[string]kind) (fields, *problem) {
	values, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, &problem{Status: http.StatusBadRequest, Detail: "the form body is malformed: " + err.Error()}
	}
	out := fields{}
	for _, name := range sortedKeys(values) {
		k, known := spec[name]
		if !known {
			return nil, unknownField(name, spec)
		}
		if len(values[name]) > 1 {
			return nil, &problem{Status: http.StatusBadRequest, Field: name, Detail: name + " is given more than once"}
		}
		v := strings.TrimSpace(values[name][0])
		if v == "" {
			continue // an empty form input means "not given"
		}
		switch k {
		case kindString:
			out[name] = values[name][0]
		case kindNumber:
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, &problem{Status: http.StatusBadRequest, Field: name, Detail: fmt.Sprintf("%s must be %s", name, k)}
			}
			out[name] = n
		case kindBool:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, &problem{Status: http.StatusBadRequest, Field: name, Detail: fmt.Sprintf("%s must be %s", name, k)}
			}
			out[name] = b
		}
	}
	return out, nil
}

func unknownField(name string, spec map[string]kind) *problem {
	return &problem{Status: http.StatusBadRequest, Field: name,
		Detail: fmt.Sprintf("unknown field %q; accepted fields are %s", name, strings.Join(sortedKeys(spec), ", "))}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
