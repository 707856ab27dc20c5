// Package exposure keeps a server that anyone could drive from listening
// beyond this machine by accident. The scheduler's gRPC API decides
// approvals, terminates and purges orchestrations; the HTTP API starts and
// decides approvals. Neither may be reachable from the network without TLS
// and a bearer token unless the operator says so with AllowFlag. Nor may a
// web page reach one through a visitor's browser under a name of its own
// (DNS rebinding), which Hosts refuses.
package exposure

import (
	"fmt"
	"net"
	"strings"
)

// AllowFlag names the flag, in every command that uses Check, with which an
// operator serves an unprotected listener beyond loopback anyway.
const AllowFlag = "allow-insecure-remote"

// What anyone who reaches an unprotected listener can do, for
// Listener.Grants.
const (
	SchedulerGrants = "decide any approval and terminate or purge any orchestration"
	HTTPAPIGrants   = "start and decide any approval"
)

// Listener is one server socket as Check judges it.
type Listener struct {
	// Name says what is served, as in "gRPC" or "the HTTP API".
	Name string
	// Flag is the command-line flag that sets the address, as in "-grpc".
	Flag string
	// Addr is the address the socket is bound to (net.Listener.Addr), so
	// that ":8080" is judged as the wildcard address it is.
	Addr net.Addr
	// TLS and Token report whether callers must use TLS and present a
	// bearer token.
	TLS, Token bool
	// Grants says what anyone who reaches the listener can do when it is
	// unprotected.
	Grants string
	// Secure tells the operator how to require TLS and a token, or is empty
	// when the command cannot.
	Secure string
}

// Check decides whether the listeners may serve. A listener that other
// machines can reach must require both TLS and a bearer token. One that
// does not is refused with an error, unless allow is set, in which case
// Check returns the warning to log instead. Both are one line, naming what
// is exposed; the error also names the ways out.
func Check(allow bool, ls ...Listener) (warning string, err error) {
	var exposed []string
	var loopback, secure []string
	for _, l := range ls {
		if Loopback(l.Addr) || (l.TLS && l.Token) {
			continue
		}
		exposed = append(exposed, fmt.Sprintf("%s on %s without %s, which lets anyone who reaches it %s",
			l.Name, l.Addr, missing(l), l.Grants))
		loopback = append(loopback, l.Flag+" "+loopbackAddr(l.Addr))
		if l.Secure != "" {
			secure = append(secure, l.Secure)
		}
	}
	if len(exposed) == 0 {
		return "", nil
	}
	what := strings.Join(exposed, ", and ")
	if allow {
		return fmt.Sprintf("serving %s, as -%s asks", what, AllowFlag), nil
	}
	ways := "listen on loopback (" + strings.Join(loopback, " ") + ")"
	for _, s := range secure {
		ways += ", or " + s
	}
	them := "it"
	if len(exposed) > 1 {
		them = "them"
	}
	return "", fmt.Errorf("refusing to serve %s; %s, or pass -%s to serve %s anyway", what, ways, AllowFlag, them)
}

// Loopback reports whether addr accepts connections only from this
// machine. The wildcard addresses (0.0.0.0, [::]) and every other address
// do not.
func Loopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

func missing(l Listener) string {
	switch {
	case l.TLS:
		return "a bearer token"
	case l.Token:
		return "TLS"
	default:
		return "TLS and a bearer token"
	}
}

// loopbackAddr is addr's port on the IPv4 loopback address, the flag value
// the operator most likely wants.
func loopbackAddr(addr net.Addr) string {
	if tcp, ok := addr.(*net.TCPAddr); ok {
		return fmt.Sprintf("127.0.0.1:%d", tcp.Port)
	}
	return "127.0.0.1"
}
