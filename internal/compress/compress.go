// Package compress gzips HTTP responses for clients that accept it. Both
// servers use it, outermost: the HTTP API (its pages, their assets and its
// JSON) and the scheduler's dashboard.
//
// What is compressed, and what is not:
//   - only when the request's Accept-Encoding accepts gzip, and never for
//     HEAD, a 1xx, 204 or 304, or a partial (206) answer;
//   - only text (HTML, CSS, JavaScript, JSON, SVG, plain text, XML):
//     images, archives and fonts are compressed already;
//   - never a body a handler has encoded itself (Content-Encoding set);
//   - never a body smaller than MinSize, which gzip would only grow; the
//     first MinSize bytes are held back to tell;
//   - never an event stream (text/event-stream), and a handler that
//     flushes gets its bytes to the client at once, compressed or not.
//
// Responses of a compressible type say Vary: Accept-Encoding, compressed
// or not, so that a cache keeps the two apart.
package compress

import (
	"bufio"
	"compress/gzip"
	"errors"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// MinSize is the smallest body worth compressing, in bytes.
const MinSize = 1024

var gzips = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.DefaultCompression)
	return w
}}

// Handler compresses next's answers as the package comment says.
func Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		cw := &writer{ResponseWriter: w, accepts: acceptsGzip(r.Header.Get("Accept-Encoding"))}
		defer cw.close()
		next.ServeHTTP(cw, r)
	})
}

// acceptsGzip reads an Accept-Encoding header: gzip with a q above zero,
// or * when gzip is not named.
func acceptsGzip(header string) bool {
	star := false
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(part, ";")
		name = strings.ToLower(strings.TrimSpace(name))
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(k, "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		switch name {
		case "gzip", "x-gzip":
			return q > 0
		case "*":
			star = q > 0
		}
	}
	return star
}

// compressible types are text of some kind; everything else is passed on.
func compressible(contentType string) bool {
	t, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	if t == "text/event-stream" {
		return false
	}
	if strings.HasPrefix(t, "text/") {
		return true
	}
	switch t {
	case "application/json", "application/problem+json", "application/javascript", "application/xml", "image/svg+xml":
		return true
	}
	return strings.HasSuffix(t, "+json") || strings.HasSuffix(t, "+xml")
}

// writer holds back the start of the body until it knows whether to
// compress it.
type writer struct {
	http.ResponseWriter
	accepts bool
	status  int
	// decided: the header has gone out, through gz or straight.
	decided bool
	gz      *gzip.Writer
	// held is the body so far while undecided; nil when it need not be
	// held (not compressible, or the client does not accept gzip).
	held []byte
	// candidate: compressible and accepted, so held back until MinSize.
	candidate bool
	sniffed   bool
}

func (w *writer) WriteHeader(code int) {
	if w.status != 0 || w.decided {
		return
	}
	if code >= 100 && code < 200 {
		w.ResponseWriter.WriteHeader(code) // informational: pass it on
		return
	}
	w.status = code
	w.sniff()
	if !w.candidate {
		w.decide(false)
	}
}

// sniff looks at the header once the handler is done with it.
func (w *writer) sniff() {
	if w.sniffed {
		return
	}
	w.sniffed = true
	h := w.Header()
	ct := h.Get("Content-Type")
	if ct == "" || !compressible(ct) {
		return
	}
	addVary(h)
	w.candidate = w.accepts && h.Get("Content-Encoding") == "" && h.Get("Content-Range") == "" &&
		w.status != http.StatusNoContent && w.status != http.StatusNotModified && w.status != http.StatusPartialContent
}

func addVary(h http.Header) {
	for _, v := range h.Values("Vary") {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f == "*" || strings.EqualFold(f, "Accept-Encoding") {
				return
			}
		}
	}
	h.Add("Vary", "Accept-Encoding")
}

func (w *writer) Write(p []byte) (int, error) {
	if !w.decided && w.status == 0 {
		// Write without WriteHeader: net/http would sniff the type now.
		if w.Header().Get("Content-Type") == "" && len(p) > 0 {
			w.Header().Set("Content-Type", http.DetectContentType(p))
		}
		w.WriteHeader(http.StatusOK)
	}
	if w.decided {
		if w.gz != nil {
			return w.gz.Write(p)
		}
		return w.ResponseWriter.Write(p)
	}
	w.held = append(w.held, p...)
	if len(w.held) >= MinSize {
		if err := w.decide(true); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// decide sends the header, compressing from here on if gzip, and then
// whatever was held back.
func (w *writer) decide(gzipped bool) error {
	w.decided = true
	h := w.Header()
	if gzipped {
		h.Set("Content-Encoding", "gzip")
		h.Del("Content-Length")
		if etag := h.Get("ETag"); etag != "" && !strings.HasPrefix(etag, "W/") {
			h.Set("ETag", "W/"+etag) // the bytes differ from the identity's
		}
		w.gz = gzips.Get().(*gzip.Writer)
		w.gz.Reset(w.ResponseWriter)
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.ResponseWriter.WriteHeader(w.status)
	held := w.held
	w.held = nil
	if len(held) == 0 {
		return nil
	}
	var err error
	if w.gz != nil {
		_, err = w.gz.Write(held)
	} else {
		_, err = w.ResponseWriter.Write(held)
	}
	return err
}

// close ends the body: a short one goes out as it is.
func (w *writer) close() {
	if !w.decided {
		if w.status == 0 && len(w.held) == 0 {
			return // the handler wrote nothing; net/http answers 200
		}
		_ = w.decide(false)
	}
	if w.gz != nil {
		_ = w.gz.Close()
		w.gz.Reset(nil)
		gzips.Put(w.gz)
		w.gz = nil
	}
}

// Flush sends what there is now: a handler that flushes is streaming, so
// the decision cannot wait for MinSize.
func (w *writer) Flush() {
	if !w.decided {
		if w.status == 0 {
			w.WriteHeader(http.StatusOK)
		}
		if !w.decided {
			_ = w.decide(w.candidate)
		}
	}
	if w.gz != nil {
		_ = w.gz.Flush()
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack hands the connection over, for a handler that upgrades it.
func (w *writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := w.ResponseWriter.(http.Hijacker); ok && !w.decided {
		w.decided = true
		return h.Hijack()
	}
	return nil, nil, errors.New("compress: the connection cannot be hijacked")
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
