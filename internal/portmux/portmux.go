// Package portmux serves gRPC and HTTP on one listener, as the Durable Task
// Scheduler does at its endpoint: gRPC for the SDKs, and its REST routes
// (/v1/taskhubs/...) for the tools that append them to the same endpoint.
//
// Each connection is routed once, by what it begins with, to one of two
// listeners: gRPC's own server (grpc.Server.Serve) and an http.Server.
//
//   - HTTP/1.x goes to the HTTP listener.
//   - HTTP/2 with prior knowledge (h2c, or h2 over a TLS listener given to
//     New) goes by the content type of its first request: application/grpc
//     to gRPC, anything else to HTTP.
//
// The alternative, one http.Server handing gRPC requests to
// grpc.Server.ServeHTTP, served about a quarter of the unary calls a
// second that grpc.Server.Serve does (BenchmarkGRPC), and in the grpc-go
// this module uses a GracefulStop with a call in flight through ServeHTTP
// panics. Routing whole connections leaves gRPC's own transport untouched
// once a connection is routed: through the mux, gRPC serves as many calls
// a second as on a port of its own, within the benchmark's noise.
//
// To see the first request's headers the mux must read past the client's
// SETTINGS, and gRPC clients send no request before the server's SETTINGS
// arrive, so the mux sends an empty SETTINGS frame of its own (defaults,
// which the server's SETTINGS then replace), answers PINGs while it waits,
// and keeps the client's acknowledgement of its SETTINGS from reaching the
// server, which did not send them (net/http's HTTP/2 server would end the
// connection over an acknowledgement it does not expect). Everything else
// the client sent is replayed to the server the connection is routed to.
//
// A connection's first request decides for the connection: a client that
// sent gRPC and REST requests over one HTTP/2 connection would have its
// REST requests refused by gRPC (415). No client known does; HTTP clients
// and gRPC channels keep connections of their own.
package portmux

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// preface is what every HTTP/2 connection begins with (RFC 9113, 3.4).
const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// prefaceTimeout bounds how long a new connection may take to send its
// first bytes. Once it has shown itself HTTP/2, it may stay idle before its
// first request as long as it likes, as gRPC channels do; gRPC's server
// holds idle connections the same way.
const prefaceTimeout = 10 * time.Second

// Mux routes the connections of one listener.
type Mux struct {
	lis        net.Listener
	grpc, http *listener
	closeOnce  sync.Once
	closed     chan struct{}
	// routing are the connections not routed yet, which Close closes, as
	// a server closes its idle connections when it stops.
	mu      sync.Mutex
	routing map[net.Conn]bool
}

// New routes lis's connections. Serve accepts them.
func New(lis net.Listener) *Mux {
	return &Mux{lis: lis, grpc: newListener(lis.Addr()), http: newListener(lis.Addr()), closed: make(chan struct{}), routing: map[net.Conn]bool{}}
}

// GRPC is the listener of the connections for gRPC, to pass to
// grpc.Server.Serve.
func (m *Mux) GRPC() net.Listener { return m.grpc }

// HTTP is the listener of the connections for everything else, to pass to
// an http.Server that serves HTTP/1 and unencrypted HTTP/2 (see
// http.Server.Protocols).
func (m *Mux) HTTP() net.Listener { return m.http }

// Serve accepts connections until Close, routing each in a goroutine of its
// own; after Close it returns nil.
func (m *Mux) Serve() error {
	for {
		c, err := m.lis.Accept()
		if err != nil {
			select {
			case <-m.closed:
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		if !m.track(c, true) {
			c.Close()
			continue
		}
		go m.route(c)
	}
}

// track adds c to the connections being routed, or removes it; it refuses
// to add one once the mux is closed.
func (m *Mux) track(c net.Conn, add bool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !add {
		delete(m.routing, c)
		return true
	}
	if m.routing == nil {
		return false
	}
	m.routing[c] = true
	return true
}

// Close stops accepting connections and closes those not routed yet, such
// as a gRPC channel's that has sent no call. The servers close their
// listeners when they stop (grpc.Server.GracefulStop,
// http.Server.Shutdown); a connection routed to a closed listener is
// closed.
func (m *Mux) Close() error {
	var err error
	m.closeOnce.Do(func() {
		close(m.closed)
		err = m.lis.Close()
		m.mu.Lock()
		for c := range m.routing {
			c.Close()
		}
		m.routing = nil
		m.mu.Unlock()
	})
	return err
}

// route reads the start of c and hands it to the listener it is for.
func (m *Mux) route(c net.Conn) {
	defer m.track(c, false)
	c.SetReadDeadline(time.Now().Add(prefaceTimeout))
	start, isH2, err := readPreface(c)
	if err != nil {
		c.Close()
		return
	}
	if !isH2 {
		c.SetReadDeadline(time.Time{})
		m.http.deliver(&conn{Conn: c, replay: start})
		return
	}
	c.SetReadDeadline(time.Time{})
	grpc, replay, acked, err := sniffH2(c)
	if err != nil {
		c.Close()
		return
	}
	routed := &conn{Conn: c, replay: append(start, replay...), dropAck: !acked}
	if grpc {
		m.grpc.deliver(routed)
	} else {
		m.http.deliver(routed)
	}
}

// readPreface reads until what c sent either is the HTTP/2 preface or
// cannot be, and returns what it read.
func readPreface(c net.Conn) ([]byte, bool, error) {
	buf := make([]byte, 0, len(preface))
	for len(buf) < len(preface) {
		n, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if !strings.HasPrefix(preface, string(buf)) {
			return buf, false, nil
		}
		if err != nil {
			return nil, false, err
		}
	}
	return buf, true, nil
}

// sniffH2 reads c's frames up to its first request's headers, and says
// whether that request is gRPC, what to replay to the server, and whether
// the client's acknowledgement of the mux's SETTINGS was among the frames
// read (and left out of the replay).
func sniffH2(c net.Conn) (grpc bool, replay []byte, acked bool, err error) {
	var frame bytes.Buffer
	fr := http2.NewFramer(c, io.TeeReader(c, &frame))
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.MaxHeaderListSize = 1 << 20
	if err := fr.WriteSettings(); err != nil {
		return false, nil, false, err
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return false, nil, false, err
		}
		keep := true
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if f.IsAck() && !acked {
				keep, acked = false, true
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				keep = false
				if err := fr.WritePing(true, f.Data); err != nil {
					return false, nil, false, err
				}
			}
		case *http2.MetaHeadersFrame:
			replay = append(replay, frame.Bytes()...)
			return strings.HasPrefix(contentType(f), "application/grpc"), replay, acked, nil
		}
		if keep {
			replay = append(replay, frame.Bytes()...)
		}
		frame.Reset()
	}
}

func contentType(f *http2.MetaHeadersFrame) string {
	for _, h := range f.RegularFields() {
		if h.Name == "content-type" {
			return h.Value
		}
	}
	return ""
}

// conn is a routed connection: it replays what the mux read, then reads
// from the client, leaving out the client's first SETTINGS acknowledgement
// while dropAck is set.
type conn struct {
	net.Conn
	replay  []byte
	dropAck bool
	// pass is what is left of the frame being passed through while
	// dropAck is set.
	pass uint32
}

func (c *conn) Read(p []byte) (int, error) {
	for {
		if len(c.replay) > 0 {
			n := copy(p, c.replay)
			c.replay = c.replay[n:]
			return n, nil
		}
		if !c.dropAck {
			return c.Conn.Read(p)
		}
		if c.pass > 0 {
			n, err := c.Conn.Read(p[:min(uint32(len(p)), c.pass)])
			c.pass -= uint32(n)
			return n, err
		}
		// At a frame boundary: read the frame's header.
		var hdr [9]byte
		if _, err := io.ReadFull(c.Conn, hdr[:]); err != nil {
			return 0, err
		}
		length := uint32(hdr[0])<<16 | uint32(binary.BigEndian.Uint16(hdr[1:3]))
		if http2.FrameType(hdr[3]) == http2.FrameSettings && http2.Flags(hdr[4]).Has(http2.FlagSettingsAck) && length == 0 {
			c.dropAck = false
			continue
		}
		c.replay, c.pass = hdr[:], length
	}
}

// listener hands out the connections routed to it.
type listener struct {
	addr      net.Addr
	conns     chan net.Conn
	closeOnce sync.Once
	closed    chan struct{}
}

func newListener(addr net.Addr) *listener {
	return &listener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

// deliver waits for the server to accept c, or closes c if the listener is
// closed.
func (l *listener) deliver(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.closed:
		c.Close()
	}
}

func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *listener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

func (l *listener) Addr() net.Addr { return l.addr }
