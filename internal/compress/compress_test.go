package compress_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/approvals-go/approvals/internal/compress"
)

// raw is a client that shows the bytes as sent: Go's transport would
// otherwise ask for gzip itself and undo it out of sight.
var raw = &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 10 * time.Second}

func get(t *testing.T, method, url, acceptEncoding string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if acceptEncoding != "" {
		req.Header.Set("Accept-Encoding", acceptEncoding)
	}
	resp, err := raw.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func gunzip(t *testing.T, b []byte) string {
	t.Helper()
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

var page = strings.Repeat("<li>An approval waiting for a decision</li>\n", 100)

func serve(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(compress.Handler(h))
	t.Cleanup(srv.Close)
	return srv.URL
}

// What is compressed and what is not, as the package comment says.
func TestWhatIsCompressed(t *testing.T) {
	body := map[string]string{"/page": page, "/tiny": "<p>ok</p>", "/json": `{"items":["` + strings.Repeat("x", 4000) + `"]}`,
		"/png": "\x89PNG\r\n\x1a\n" + strings.Repeat("\x00", 4000), "/encoded": page, "/sniffed": page, "/partial": page}
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Vary", "Accept")
		switch r.URL.Path {
		case "/page", "/tiny":
			h.Set("Content-Type", "text/html; charset=utf-8")
			h.Set("Content-Length", "9") // wrong for the page on purpose: it must go when compressed
			if r.URL.Path == "/page" {
				h.Del("Content-Length")
			}
		case "/json":
			h.Set("Content-Type", "application/json")
			h.Set("ETag", `"v1"`)
		case "/png":
			h.Set("Content-Type", "image/png")
		case "/encoded":
			h.Set("Content-Type", "text/html")
			h.Set("Content-Encoding", "br")
		case "/partial":
			h.Set("Content-Type", "text/plain")
			h.Set("Content-Range", "bytes 0-4399/9000")
			w.WriteHeader(http.StatusPartialContent)
		case "/sniffed": // no Content-Type: net/http's sniffing names it text/html
		}
		io.WriteString(w, body[r.URL.Path])
	})
	for _, c := range []struct {
		path, accept string
		gzipped      bool
		vary         string
	}{
		{"/page", "gzip, deflate, br", true, "Accept, Accept-Encoding"},
		{"/page", "br;q=1.0, gzip;q=0.8", true, "Accept, Accept-Encoding"},
		{"/page", "*", true, "Accept, Accept-Encoding"},
		{"/page", "", false, "Accept, Accept-Encoding"},
		{"/page", "gzip;q=0", false, "Accept, Accept-Encoding"},
		{"/page", "br, *;q=0", false, "Accept, Accept-Encoding"},
		{"/sniffed", "gzip", true, "Accept, Accept-Encoding"},
		{"/json", "gzip", true, "Accept, Accept-Encoding"},
		{"/tiny", "gzip", false, "Accept, Accept-Encoding"},
		{"/png", "gzip", false, "Accept"},
		{"/encoded", "gzip", false, "Accept, Accept-Encoding"},
		{"/partial", "gzip", false, "Accept, Accept-Encoding"},
	} {
		resp, got := get(t, http.MethodGet, url+c.path, c.accept)
		if enc := resp.Header.Get("Content-Encoding"); (enc == "gzip") != c.gzipped {
			t.Errorf("%s with Accept-Encoding %q: Content-Encoding %q, want gzip: %v", c.path, c.accept, enc, c.gzipped)
			continue
		}
		if vary := strings.Join(resp.Header.Values("Vary"), ", "); vary != c.vary {
			t.Errorf("%s: Vary %q, want %q", c.path, vary, c.vary)
		}
		text := string(got)
		if c.gzipped {
			text = gunzip(t, got)
			if resp.ContentLength != -1 && resp.ContentLength != int64(len(got)) {
				t.Errorf("%s: Content-Length %d for %d bytes", c.path, resp.ContentLength, len(got))
			}
		}
		if text != body[c.path] {
			t.Errorf("%s with %q: the body changed (%d bytes, want %d)", c.path, c.accept, len(text), len(body[c.path]))
		}
	}
	if resp, _ := get(t, http.MethodGet, url+"/json", "gzip"); resp.Header.Get("ETag") != `W/"v1"` {
		t.Errorf("a compressed body keeps a strong ETag: %q", resp.Header.Get("ETag"))
	}
	if resp, got := get(t, http.MethodHead, url+"/page", "gzip"); resp.Header.Get("Content-Encoding") != "" || len(got) != 0 {
		t.Errorf("HEAD: Content-Encoding %q, %d bytes", resp.Header.Get("Content-Encoding"), len(got))
	}
}

// Bodiless answers stay bodiless, and a handler that writes nothing still
// answers.
func TestNoBody(t *testing.T) {
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/304":
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusNotModified)
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/nothing":
		}
	})
	for path, want := range map[string]int{"/304": 304, "/204": 204, "/nothing": 200} {
		resp, got := get(t, http.MethodGet, url+path, "gzip")
		if resp.StatusCode != want || len(got) != 0 || resp.Header.Get("Content-Encoding") != "" {
			t.Errorf("%s: %d, %d bytes, Content-Encoding %q", path, resp.StatusCode, len(got), resp.Header.Get("Content-Encoding"))
		}
	}
}

// A handler that streams is never held back: an event stream goes out as
// it is, event by event, and a flushed compressible body reaches the
// client compressed but at once.
func TestStreamingIsNotHeldBack(t *testing.T) {
	release := make(chan struct{})
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/events" {
			w.Header().Set("Content-Type", "text/event-stream")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		io.WriteString(w, "data: first\n\n")
		http.NewResponseController(w).Flush()
		<-release
		io.WriteString(w, "data: second\n\n")
	})
	defer close(release)
	for _, c := range []struct {
		path    string
		gzipped bool
	}{{"/events", false}, {"/json", true}} {
		req, _ := http.NewRequest(http.MethodGet, url+c.path, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := raw.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Header.Get("Content-Encoding") == "gzip"; got != c.gzipped {
			t.Fatalf("%s: gzipped %v, want %v", c.path, got, c.gzipped)
		}
		var body io.Reader = resp.Body
		if c.gzipped {
			zr, err := gzip.NewReader(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			body = zr
		}
		// The first event arrives while the handler still waits.
		line, err := bufio.NewReader(body).ReadString('\n')
		if err != nil || line != "data: first\n" {
			t.Fatalf("%s: first line %q, %v", c.path, line, err)
		}
		resp.Body.Close()
	}
}
