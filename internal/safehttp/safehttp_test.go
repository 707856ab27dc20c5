package safehttp

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// server is a loopback endpoint that counts the requests that reach it.
type server struct {
	*httptest.Server
	hits atomic.Int32
}

func newServer(t *testing.T, tls bool, addr string, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if h != nil {
			h(w, r)
		}
	}))
	if addr != "" {
		lis, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		s.Listener.Close()
		s.Listener = lis
	}
	if tls {
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s
}

var loopback4 = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}

func client(allow []netip.Prefix, servers ...*server) *Client {
	return New(Options{Allow: allow, RootCAs: roots(servers...)})
}

// roots trust the servers' test certificates.
func roots(servers ...*server) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, s := range servers {
		if s.Certificate() != nil {
			pool.AddCert(s.Certificate())
		}
	}
	return pool
}

func post(c *Client, u string) error {
	return c.Post(context.Background(), u, http.Header{"Content-Type": {"application/json"}}, []byte(`{"status":"Approved"}`))
}

func TestRefused(t *testing.T) {
	tlsSrv := newServer(t, true, "", nil)
	plainSrv := newServer(t, false, "", nil)
	port := tlsSrv.Listener.Addr().(*net.TCPAddr).Port
	strict := client(nil, tlsSrv)
	cases := []struct {
		name, url, want string
		c               *Client
	}{
		{"plain http", plainSrv.URL, "plain http", strict},
		{"plain http to a public-looking allow-list miss", plainSrv.URL, "plain http", client([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})},
		{"loopback", tlsSrv.URL, "loopback", strict},
		{"a name that resolves to loopback", "https://localhost:" + strconv.Itoa(port) + "/", "loopback", strict},
		{"IPv6 loopback", "https://[::1]:" + strconv.Itoa(port) + "/", "loopback", strict},
		{"IPv4-mapped loopback", "https://[::ffff:127.0.0.1]:" + strconv.Itoa(port) + "/", "loopback", strict},
		{"private", "https://10.1.2.3/", "private", strict},
		{"private 192.168", "https://192.168.1.1/", "private", strict},
		{"CGNAT", "https://100.100.100.200/", "carrier-grade NAT", strict},
		{"metadata", "http://169.254.169.254/metadata/instance", "plain http", strict},
		{"metadata over https", "https://169.254.169.254/metadata/instance", "metadata", strict},
		{"IPv6 metadata", "https://[fd00:ec2::254]/", "metadata", strict},
		{"unique local", "https://[fd12:3456::1]/", "unique local", strict},
		{"link-local", "https://[fe80::1]/", "link-local", strict},
		{"Azure WireServer", "https://168.63.129.16/", "WireServer", strict},
		{"unspecified", "https://0.0.0.0:" + strconv.Itoa(port) + "/", "unspecified", strict},
		{"other scheme", "ftp://example.com/", "scheme", strict},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := post(tc.c, tc.url)
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v: want a refusal saying %q", err, tc.want)
			}
		})
	}
	if n := tlsSrv.hits.Load() + plainSrv.hits.Load(); n != 0 {
		t.Errorf("%d requests got through", n)
	}
}

func TestAllowListPermitsLoopback(t *testing.T) {
	var body string
	tlsSrv := newServer(t, true, "", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		body = string(b)
	})
	plainSrv := newServer(t, false, "", nil)
	c := client(loopback4, tlsSrv)
	if err := post(c, tlsSrv.URL+"/callback"); err != nil {
		t.Fatal(err)
	}
	if body != `{"status":"Approved"}` {
		t.Errorf("the receiver got %q", body)
	}
	if err := post(c, plainSrv.URL); err != nil {
		t.Fatalf("plain http to an allowed range: %v", err)
	}
	if tlsSrv.hits.Load() != 1 || plainSrv.hits.Load() != 1 {
		t.Errorf("hits: https %d, http %d", tlsSrv.hits.Load(), plainSrv.hits.Load())
	}
}

func TestRedirects(t *testing.T) {
	// 127.0.0.2 is loopback too, but not on the allow-list.
	elsewhere := newServer(t, true, "127.0.0.2:0", nil)
	plain := newServer(t, false, "", nil)
	target := map[string]string{
		"/to-private":  elsewhere.URL + "/",
		"/to-metadata": "https://169.254.169.254/latest/meta-data/",
		"/to-http":     plain.URL + "/",
		"/loop":        "/loop",
		"/to-ok":       "/ok",
	}
	start := newServer(t, true, "", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			return
		case "/see-other":
			http.Redirect(w, r, "/ok", http.StatusSeeOther)
			return
		}
		http.Redirect(w, r, target[r.URL.Path], http.StatusTemporaryRedirect)
	})
	c := client(loopback4, start, elsewhere)
	for path, want := range map[string]string{
		"/to-private":  "loopback",
		"/to-metadata": "metadata",
		"/to-http":     "would leave https",
		"/loop":        "more than 3 redirects",
		"/see-other":   "drop its body",
	} {
		err := post(c, start.URL+path)
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want a refusal saying %q", path, err, want)
		}
	}
	if elsewhere.hits.Load() != 0 || plain.hits.Load() != 0 {
		t.Errorf("a refused redirect was followed: %d, %d", elsewhere.hits.Load(), plain.hits.Load())
	}
	// A 307 keeps the method and the body, and is followed.
	if err := post(c, start.URL+"/to-ok"); err != nil {
		t.Errorf("an allowed redirect: %v", err)
	}
}

func TestErrorsHoldNoPathOrQuery(t *testing.T) {
	srv := newServer(t, true, "", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, "bad token s3cr3t-path")
	})
	for name, c := range map[string]*Client{"refused": client(nil, srv), "answered 403": client(loopback4, srv)} {
		err := post(c, srv.URL+"/hooks/s3cr3t-path?sig=s3cr3t-query")
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: error %q holds the URL's secrets", name, err)
		}
		if !strings.Contains(err.Error(), strings.TrimPrefix(srv.URL, "https://")) {
			t.Errorf("%s: error %q does not name the host", name, err)
		}
	}
	var se *StatusError
	if err := post(client(loopback4, srv), srv.URL); !errors.As(err, &se) || se.StatusCode != http.StatusForbidden {
		t.Errorf("error %v: want a StatusError 403", err)
	}
}

func TestResponseBodyIsBounded(t *testing.T) {
	srv := newServer(t, true, "", func(w http.ResponseWriter, r *http.Request) {
		w.Write(make([]byte, 3000))
	})
	c := New(Options{Allow: loopback4, RootCAs: roots(srv), MaxResponseBytes: 1000})
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if !errors.Is(err, ErrResponseTooLarge) || len(b) != 1000 {
		t.Fatalf("read %d bytes, error %v: want 1000 and ErrResponseTooLarge", len(b), err)
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := newServer(t, true, "", func(w http.ResponseWriter, r *http.Request) { <-release })
	defer close(release)
	c := New(Options{Allow: loopback4, RootCAs: roots(srv), Timeout: 300 * time.Millisecond})
	start := time.Now()
	err := post(c, srv.URL)
	var ue *url.Error
	if !errors.As(err, &ue) || !ue.Timeout() {
		t.Fatalf("error %v: want a timeout", err)
	}
	t.Logf("a silent receiver was given up after %v", time.Since(start))
}

func TestCheckURL(t *testing.T) {
	strict := New(Options{})
	allowing := New(Options{Allow: loopback4})
	for _, tc := range []struct {
		c    *Client
		url  string
		want string // "" means accepted
	}{
		{strict, "https://prod-00.westus.logic.azure.com/workflows/x/triggers/manual/paths/invoke?sig=abc", ""},
		{strict, "https://203.0.114.7/hook", ""},
		{strict, "http://example.com/hook", "allow-list"},
		{strict, "https://127.0.0.1/hook", "loopback"},
		{strict, "https://[::1]/hook", "loopback"},
		{strict, "https://10.0.0.5/", "private"},
		{strict, "https://169.254.169.254/", "metadata"},
		{strict, "/relative", "absolute"},
		{strict, "https:///no-host", "absolute"},
		{strict, "javascript:alert(1)", "absolute"},
		{strict, "gopher://example.com/", "scheme"},
		{allowing, "http://127.0.0.1:8080/cb", ""},
		{allowing, "http://localhost:8080/cb", ""},
		{allowing, "http://10.0.0.1/cb", "plain http"},
		{strict, "https://user:s3cret@prod-00.westus.logic.azure.com/workflows/x", "user information"},
		{strict, "https://user@example.com/hook", "user information"},
		{strict, "https://@example.com/hook", "user information"},
		{strict, "https://:s3cret@example.com/hook", "user information"},
		{strict, "https://trusted.example@evil.example/hook", "user information"},
		{strict, "https://trusted.example%40evil.example/hook", "absolute"},
		{allowing, "http://user:pw@127.0.0.1:8080/cb", "user information"},
	} {
		err := tc.c.CheckURL(tc.url)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s refused: %v", tc.url, err)
		case tc.want != "" && (!errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want a refusal saying %q", tc.url, err, tc.want)
		}
	}
}

func TestNotPublic(t *testing.T) {
	for addr, public := range map[string]bool{
		"8.8.8.8": true, "20.50.2.1": true, "2606:4700:4700::1111": true, "64:ff9b::808:808": true,
		"127.0.0.1": false, "127.255.0.1": false, "10.0.0.1": false, "172.16.0.1": false, "172.31.255.255": false,
		"192.168.0.1": false, "100.64.0.1": false, "169.254.169.254": false, "169.254.1.1": false,
		"168.63.129.16": false, "0.0.0.0": false, "224.0.0.1": false, "255.255.255.255": false,
		"::": false, "::1": false, "::ffff:10.0.0.1": false, "64:ff9b::a00:1": false, "fd00:ec2::254": false,
		"fc00::1": false, "fe80::1%eth0": false, "ff02::1": false, "2001:db8::1": false, "2002:a00:1::1": false,
	} {
		ip := netip.MustParseAddr(addr)
		if got := notPublic(ip) == ""; got != public {
			t.Errorf("%s: public %v, want %v (%s)", addr, got, public, notPublic(ip))
		}
	}
}

func TestParseAllow(t *testing.T) {
	got, err := ParseAllow(" 10.20.0.0/16, 127.0.0.1 ,::1, fd12::1/64,")
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, p := range got {
		s = append(s, p.String())
	}
	if strings.Join(s, " ") != "10.20.0.0/16 127.0.0.1/32 ::1/128 fd12::/64" {
		t.Errorf("parsed %v", s)
	}
	for _, bad := range []string{"10.0.0.0/33", "localhost", "10.0.0.0/8,example.com", "fe80::1%eth0"} {
		if _, err := ParseAllow(bad); err == nil || !strings.Contains(err.Error(), "entry") {
			t.Errorf("%q: error %v", bad, err)
		}
	}
	if got, err := ParseAllow(""); err != nil || len(got) != 0 {
		t.Errorf("empty: %v %v", got, err)
	}
}

// TestPostRefusesUserInformation: the worker checks a URL before it sends
// anything, so a callback URL that no start checked (an orchestration
// started by another client) never has its credential sent, nor quoted.
func TestPostRefusesUserInformation(t *testing.T) {
	srv := newServer(t, true, "", nil)
	c := client(loopback4, srv)
	withUser := strings.Replace(srv.URL, "https://", "https://user:s3cr3t@", 1) + "/cb"
	err := post(c, withUser)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "user information") {
		t.Fatalf("error %v, want a refusal saying user information", err)
	}
	if strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), strings.TrimPrefix(srv.URL, "https://")) {
		t.Errorf("error %q must name the host and not the password", err)
	}
	if n := srv.hits.Load(); n != 0 {
		t.Errorf("the receiver was reached %d times", n)
	}
	// The same receiver without user information is reached.
	if err := post(c, srv.URL+"/cb"); err != nil || srv.hits.Load() != 1 {
		t.Errorf("without user information: %v, %d hits", err, srv.hits.Load())
	}
}
