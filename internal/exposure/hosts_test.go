package exposure

import (
	"strings"
	"testing"
)

func TestHostsServeLoopbackAddressesAndTheNamesGiven(t *testing.T) {
	h := NewHosts("Approvals.Example.com", "", " app-1.azurewebsites.net ", "approvals.example.com:443")
	for _, host := range []string{
		"", "localhost", "localhost:7071", "LOCALHOST:8082",
		"127.0.0.1", "127.0.0.1:7071", "127.0.0.2:80", "[::1]", "[::1]:8082",
		// Addresses beyond loopback: a page that names one was loaded
		// from it, never from a rebinding domain.
		"192.168.1.20:7071", "10.0.0.7", "[2001:db8::1]:8443",
		"approvals.example.com", "APPROVALS.EXAMPLE.COM:443", "approvals.example.com:8443",
		"app-1.azurewebsites.net",
	} {
		if !h.Serves(host) {
			t.Errorf("Host %q refused", host)
		}
	}
	for _, host := range []string{
		"evil.example", "evil.example:7071", "localhost.evil.example", "127.0.0.1.evil.example",
		"sub.localhost", "localhost.", "approvals.example.com.evil.example", "example.com",
		"ev!l.example", "evil.example:99999", "2130706433", "0x7f000001", "127.1",
	} {
		if h.Serves(host) {
			t.Errorf("Host %q served", host)
		}
	}
}

func TestHostsWithoutNames(t *testing.T) {
	h := NewHosts("", "  ")
	if h.Named() {
		t.Error("empty names count as names")
	}
	if !h.Serves("localhost:8082") || !h.Serves("[::1]:8082") || h.Serves("rebind.evil.example:8082") {
		t.Error("without names, only localhost and addresses are served")
	}
	if !NewHosts("a.example").Named() {
		t.Error("a name does not count")
	}
}

func TestHostsRefusalSaysWhatIsServed(t *testing.T) {
	msg := NewHosts("approvals.example.com").Refusal("evil.example:7071")
	for _, want := range []string{`Host "evil.example:7071" is not served`, "localhost, IP addresses and approvals.example.com", "DNS rebinding"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q does not say %q", msg, want)
		}
	}
	if msg := NewHosts().Refusal("x.example"); !strings.Contains(msg, "only to localhost and IP addresses,") {
		t.Errorf("without names: %q", msg)
	}
}
