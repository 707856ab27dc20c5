package portmux

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/approvals-go/approvals/dts/dtstest"
)

// served is a mux on a real port with a gRPC server (the health service)
// and an HTTP server that answers with the protocol it was reached by.
type served struct {
	addr string
	// conns counts the HTTP server's new connections.
	conns atomic.Int32
}

func serve(t *testing.T, tlsConfig *tls.Config) *served {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &served{addr: lis.Addr().String()}
	if tlsConfig != nil {
		cfg := tlsConfig.Clone()
		cfg.NextProtos = []string{"h2", "http/1.1"}
		lis = tls.NewListener(lis, cfg)
	}
	m := New(lis)
	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, health.NewServer())
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", r.Proto, r.URL.Path)
	}), ConnState: func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}}
	hs.Protocols = new(http.Protocols)
	hs.Protocols.SetHTTP1(true)
	hs.Protocols.SetUnencryptedHTTP2(true)
	errc := make(chan error, 3)
	go func() { errc <- gs.Serve(m.GRPC()) }()
	go func() { errc <- hs.Serve(m.HTTP()) }()
	go func() { errc <- m.Serve() }()
	t.Cleanup(func() {
		m.Close()
		hs.Close()
		gs.Stop()
		for range 3 {
			if err := <-errc; err != nil && err != http.ErrServerClosed {
				t.Errorf("serving ended with %v", err)
			}
		}
	})
	return s
}

func get(t *testing.T, c *http.Client, url string) (string, bool) {
	t.Helper()
	reused := false
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }})
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s %v", url, resp.StatusCode, body, err)
	}
	return string(body), reused
}

func h2cClient() *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func checkHealth(t *testing.T, cc *grpc.ClientConn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("gRPC health check: %v, %v", resp, err)
	}
}

func TestHTTPAndGRPCOnOnePort(t *testing.T) {
	s := serve(t, nil)
	base := "http://" + s.addr

	// HTTP/1.1, several requests on one connection.
	h1 := &http.Client{Timeout: 10 * time.Second}
	for i := range 3 {
		body, reused := get(t, h1, base+"/v1/one")
		if body != "HTTP/1.1 /v1/one" || reused != (i > 0) {
			t.Fatalf("HTTP/1.1 request %d: %q, connection reused %v", i, body, reused)
		}
	}

	// HTTP/2 with prior knowledge: the client acknowledges the mux's
	// SETTINGS after its first request, so the acknowledgement must be
	// kept from net/http's server, which would end the connection over it.
	h2 := h2cClient()
	for i := range 3 {
		body, reused := get(t, h2, base+"/v1/two")
		if body != "HTTP/2.0 /v1/two" || reused != (i > 0) {
			t.Fatalf("HTTP/2 request %d: %q, connection reused %v", i, body, reused)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := s.conns.Load(); n != 2 {
		t.Errorf("the HTTP server had %d connections for one HTTP/1.1 and one HTTP/2 client, want 2", n)
	}

	// gRPC, whose client sends nothing before the server's SETTINGS.
	cc, err := grpc.Dial(s.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	for range 3 {
		checkHealth(t, cc)
	}
}

// TestIdleGRPCConnection holds a gRPC connection open with keepalive pings
// before its first call, as a client dialled at start-up does.
func TestIdleGRPCConnection(t *testing.T) {
	s := serve(t, nil)
	cc, err := grpc.Dial(s.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	cc.Connect()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for st := cc.GetState(); st.String() != "READY"; st = cc.GetState() {
		if !cc.WaitForStateChange(ctx, st) {
			t.Fatalf("gRPC connection not ready: %v", st)
		}
	}
	time.Sleep(200 * time.Millisecond)
	checkHealth(t, cc)
}

func TestOverTLS(t *testing.T) {
	cfg, roots := dtstest.SelfSigned(t, "127.0.0.1")
	s := serve(t, cfg)
	// Behind TLS the HTTP server gets the decrypted connection, and reads
	// HTTP/2 from it as unencrypted HTTP/2.
	for _, proto := range []string{"http/1.1", "h2"} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, NextProtos: []string{proto}}, ForceAttemptHTTP2: proto == "h2"}
		body, _ := get(t, &http.Client{Transport: tr, Timeout: 10 * time.Second}, "https://"+s.addr+"/v1/tls")
		want := map[string]string{"http/1.1": "HTTP/1.1 /v1/tls", "h2": "HTTP/2.0 /v1/tls"}[proto]
		if body != want {
			t.Errorf("over TLS with ALPN %s: %q, want %q", proto, body, want)
		}
	}
	cc, err := grpc.Dial(s.addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots})))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	checkHealth(t, cc)
}

// TestShortHTTP1Request: a request shorter than the HTTP/2 preface is
// routed as soon as it cannot be HTTP/2.
func TestShortHTTP1Request(t *testing.T) {
	s := serve(t, nil)
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /x HTTP/1.0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if want := "HTTP/1.0 /x"; !containsLine(string(body), want) {
		t.Fatalf("answer %q, want a body %q", body, want)
	}
}

func containsLine(s, line string) bool {
	return len(s) >= len(line) && s[len(s)-len(line):] == line
}

// BenchmarkGRPC compares gRPC unary calls, 64 in flight, served by
// grpc.Server.Serve on the port itself ("direct"), through the mux ("mux"),
// and through an http.Server handing them to grpc.Server.ServeHTTP
// ("servehttp", the design not taken).
func BenchmarkGRPC(b *testing.B) {
	for _, how := range []string{"direct", "mux", "servehttp"} {
		b.Run(how, func(b *testing.B) {
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			gs := grpc.NewServer()
			healthpb.RegisterHealthServer(gs, health.NewServer())
			switch how {
			case "direct":
				go gs.Serve(lis)
			case "mux":
				m := New(lis)
				go gs.Serve(m.GRPC())
				go m.Serve()
				defer m.Close()
			case "servehttp":
				hs := &http.Server{Handler: gs, Protocols: new(http.Protocols)}
				hs.Protocols.SetUnencryptedHTTP2(true)
				go hs.Serve(lis)
				defer hs.Close()
			}
			defer gs.Stop()
			cc, err := grpc.Dial(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				b.Fatal(err)
			}
			defer cc.Close()
			client := healthpb.NewHealthClient(cc)
			b.SetParallelism(32) // 64 in flight on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// TestCloseEndsConnectionsNotRouted: Close closes a connection that has
// shown itself HTTP/2 and sent no request, as a stopping server closes its
// idle connections.
func TestCloseEndsConnectionsNotRouted(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := New(lis)
	served := make(chan error, 1)
	go func() { served <- m.Serve() }()
	c, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, preface+"\x00\x00\x00\x04\x00\x00\x00\x00\x00"); err != nil { // the preface and an empty SETTINGS
		t.Fatal(err)
	}
	// The mux's SETTINGS show it is reading frames.
	var hdr [9]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil || hdr[3] != 0x4 {
		t.Fatalf("the mux's SETTINGS: % x, %v", hdr, err)
	}
	m.Close()
	if n, err := c.Read(hdr[:]); err != io.EOF {
		t.Fatalf("after Close the connection read %d bytes, %v; want EOF", n, err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve after Close: %v", err)
	}
}
