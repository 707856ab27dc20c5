package exposure

import (
	"net"
	"strings"
	"testing"
)

// listen binds a real socket, so that the address judged is the one the
// kernel resolved, as the commands see it.
func listen(t *testing.T, addr string) net.Addr {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr()
}

func TestLoopback(t *testing.T) {
	for _, c := range []struct {
		listen string
		want   bool
	}{
		{"127.0.0.1:0", true},
		{"localhost:0", true},
		{":0", false},
		{"0.0.0.0:0", false},
	} {
		if got := Loopback(listen(t, c.listen)); got != c.want {
			t.Errorf("listening on %q: Loopback = %v, want %v", c.listen, got, c.want)
		}
	}
	// Addresses this machine may not have, judged as a listener on them
	// would report them.
	for _, c := range []struct {
		ip   string
		want bool
	}{
		{"::1", true},
		{"127.0.0.2", true},
		{"::ffff:127.0.0.1", true},
		{"::", false},
		{"192.168.1.20", false},
		{"10.0.0.7", false},
		{"fe80::1", false},
		{"2001:db8::1", false},
	} {
		addr := &net.TCPAddr{IP: net.ParseIP(c.ip), Port: 8080}
		if got := Loopback(addr); got != c.want {
			t.Errorf("Loopback(%s) = %v, want %v", addr, got, c.want)
		}
	}
	if Loopback(&net.UnixAddr{Name: "/tmp/x.sock", Net: "unix"}) {
		t.Error("a non-TCP address counted as loopback")
	}
}

func grpcListener(addr net.Addr, tls, token bool) Listener {
	return Listener{Name: "gRPC", Flag: "-grpc", Addr: addr, TLS: tls, Token: token,
		Grants: SchedulerGrants, Secure: "give -tls-cert, -tls-key and THE_TOKEN"}
}

func TestCheckLetsLoopbackAndProtectedListenersServe(t *testing.T) {
	local, wild := listen(t, "127.0.0.1:0"), listen(t, "0.0.0.0:0")
	for name, l := range map[string]Listener{
		"loopback, unprotected": grpcListener(local, false, false),
		"wildcard, TLS + token": grpcListener(wild, true, true),
		"loopback, TLS + token": grpcListener(local, true, true),
	} {
		for _, allow := range []bool{false, true} {
			warning, err := Check(allow, l)
			if err != nil || warning != "" {
				t.Errorf("%s (allow %v): warning %q, err %v; want neither", name, allow, warning, err)
			}
		}
	}
}

func TestCheckRefusesUnprotectedRemoteListener(t *testing.T) {
	addr := &net.TCPAddr{IP: net.IPv4zero, Port: 8080}
	for _, c := range []struct {
		name       string
		tls, token bool
		missing    string
	}{
		{"plaintext", false, false, "without TLS and a bearer token"},
		{"TLS, no token", true, false, "without a bearer token"},
		{"token, no TLS", false, true, "without TLS,"},
	} {
		_, err := Check(false, grpcListener(addr, c.tls, c.token))
		if err == nil {
			t.Fatalf("%s on %s was allowed", c.name, addr)
		}
		msg := err.Error()
		t.Logf("%s: %s", c.name, msg)
		for _, want := range []string{"refusing to serve gRPC on 0.0.0.0:8080 " + c.missing, SchedulerGrants,
			"listen on loopback (-grpc 127.0.0.1:8080)", "or give -tls-cert, -tls-key and THE_TOKEN",
			"or pass -allow-insecure-remote to serve it anyway"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: error %q does not say %q", c.name, msg, want)
			}
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("%s: error is more than one line: %q", c.name, msg)
		}
	}
}

func TestCheckWarnsWhenAllowed(t *testing.T) {
	addr := &net.TCPAddr{IP: net.ParseIP("192.168.1.20"), Port: 9000}
	warning, err := Check(true, grpcListener(addr, false, false))
	if err != nil {
		t.Fatalf("allowed exposure refused: %v", err)
	}
	want := "serving gRPC on 192.168.1.20:9000 without TLS and a bearer token, which lets anyone who reaches it " +
		SchedulerGrants + ", as -allow-insecure-remote asks"
	if warning != want {
		t.Errorf("warning = %q\nwant      %q", warning, want)
	}
}

// TestCheckNamesEveryExposedListener is the shape of cmd/dev: two
// listeners, neither of which can be protected.
func TestCheckNamesEveryExposedListener(t *testing.T) {
	httpAddr := &net.TCPAddr{IP: net.IPv6unspecified, Port: 7071}
	grpcAddr := &net.TCPAddr{IP: net.IPv4zero, Port: 8080}
	local := &net.TCPAddr{IP: net.IPv6loopback, Port: 8080}
	api := Listener{Name: "the HTTP API", Flag: "-http", Addr: httpAddr, Grants: HTTPAPIGrants}
	sched := Listener{Name: "gRPC", Flag: "-grpc", Addr: grpcAddr, Grants: SchedulerGrants}

	_, err := Check(false, api, sched)
	if err == nil {
		t.Fatal("two exposed listeners were allowed")
	}
	want := "refusing to serve the HTTP API on [::]:7071 without TLS and a bearer token, which lets anyone who reaches it " +
		HTTPAPIGrants + ", and gRPC on 0.0.0.0:8080 without TLS and a bearer token, which lets anyone who reaches it " +
		SchedulerGrants + "; listen on loopback (-http 127.0.0.1:7071 -grpc 127.0.0.1:8080), or pass -allow-insecure-remote to serve them anyway"
	if err.Error() != want {
		t.Errorf("error = %q\nwant    %q", err, want)
	}

	sched.Addr = local
	_, err = Check(false, api, sched)
	if err == nil || strings.Contains(err.Error(), "gRPC") || !strings.Contains(err.Error(), "(-http 127.0.0.1:7071)") {
		t.Errorf("with only the HTTP API exposed: %v", err)
	}
}
