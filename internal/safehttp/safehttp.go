// Package safehttp is the HTTP client for requests to URLs that come from
// outside: approval callbacks (the caller names the URL) and notification
// webhooks. It keeps such a request from reaching the worker's own
// network (server-side request forgery):
//
//   - https only; plain http only to addresses on the allow-list;
//   - no loopback, private, link-local, carrier-grade NAT, unique-local,
//     multicast, unspecified, reserved or cloud metadata address
//     (169.254.169.254, fd00:ec2::254, Azure's 168.63.129.16) unless the
//     allow-list names it;
//   - the address is checked when the connection is made, after DNS
//     resolution, for every address tried, so a name that resolves to a
//     public address when checked and a private one when used (DNS
//     rebinding) cannot slip through;
//   - every redirect is checked the same way; at most a few are followed,
//     never from https to http, and never one that would turn a POST into a
//     GET and drop the body;
//   - timeouts on the whole exchange and a bound on the response body read.
//
// Proxies from the environment (HTTPS_PROXY and the like) are ignored on
// purpose: through a proxy the dialled address is the proxy's, so the check
// would see the proxy and not the destination. Where egress must be
// filtered further, do it in the network (an Azure Firewall or NAT
// gateway), which needs no proxy setting.
//
// Errors never hold a URL's path or query, which often carry a token (a
// Slack or Teams webhook, a Logic Apps callback's sig parameter): only its
// scheme and host.
package safehttp

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// ErrRefused marks a request refused because of where it would go. It is
// final: retrying the same URL is refused again.
var ErrRefused = errors.New("destination refused")

// ErrResponseTooLarge is returned by a response body read past the limit.
var ErrResponseTooLarge = errors.New("response body over the size limit")

// Defaults of Options.
const (
	DefaultTimeout          = 30 * time.Second
	DefaultMaxResponseBytes = 1 << 20
	DefaultMaxRedirects     = 3
)

// Options configure a Client. The zero value is a strict client.
type Options struct {
	// Allow lists ranges that may be reached although they are not
	// public, and by plain http. Tests allow loopback this way.
	Allow []netip.Prefix
	// Timeout bounds a whole exchange, redirects and reading the
	// response body included; zero means DefaultTimeout.
	Timeout time.Duration
	// MaxResponseBytes bounds how much of a response body is read; zero
	// means DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// MaxRedirects is how many redirects are followed; zero means
	// DefaultMaxRedirects, negative none.
	MaxRedirects int
	// RootCAs verify servers' certificates; nil means the system's.
	RootCAs *x509.CertPool
}

// Client sends requests under the rules of the package.
type Client struct {
	hc      *http.Client
	allow   []netip.Prefix
	maxBody int64
}

// New returns a Client for opts.
func New(opts Options) *Client {
	c := &Client{allow: opts.Allow, maxBody: opts.MaxResponseBytes}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxResponseBytes
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	redirects := opts.MaxRedirects
	if redirects == 0 {
		redirects = DefaultMaxRedirects
	}
	// One transport per scheme, each with a dialer that knows what its
	// connections may reach: the check runs on the resolved address, where
	// the scheme is no longer known.
	rt := schemeRoundTripper{
		https: c.transport(c.checkTLS, opts.RootCAs),
		http:  c.transport(c.checkPlain, nil),
	}
	rt.https.ForceAttemptHTTP2 = true
	c.hc = &http.Client{
		Transport: rt,
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			return checkRedirect(req, via, redirects)
		},
	}
	return c
}

func (c *Client) transport(check func(netip.Addr) error, roots *x509.CertPool) *http.Transport {
	d := &net.Dialer{
		Timeout:   10 * time.Second,
		KeepAlive: 30 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: cannot read the address being dialled", ErrRefused)
			}
			return check(ap.Addr())
		},
	}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots},
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 20 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          20,
	}
}

// checkTLS is the rule for https connections: a public address, or one on
// the allow-list.
func (c *Client) checkTLS(ip netip.Addr) error {
	if allowed(c.allow, ip) {
		return nil
	}
	if why := notPublic(ip); why != "" {
		return fmt.Errorf("%w: %s is %s and not on the allow-list", ErrRefused, ip, why)
	}
	return nil
}

// checkPlain is the rule for plain http: only the allow-list, since
// anything on the way could read or change the request.
func (c *Client) checkPlain(ip netip.Addr) error {
	if allowed(c.allow, ip) {
		return nil
	}
	return fmt.Errorf("%w: plain http to %s: plain http goes only to ranges on the allow-list; use https", ErrRefused, ip)
}

type schemeRoundTripper struct{ https, http *http.Transport }

func (rt schemeRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	switch req.URL.Scheme {
	case "https":
		return rt.https.RoundTrip(req)
	case "http":
		return rt.http.RoundTrip(req)
	}
	if req.Body != nil {
		req.Body.Close()
	}
	return nil, fmt.Errorf("%w: scheme %q: only https (and http to allowed ranges)", ErrRefused, req.URL.Scheme)
}

func checkRedirect(req *http.Request, via []*http.Request, max int) error {
	if len(via) > max {
		return fmt.Errorf("%w: more than %d redirects", ErrRefused, max)
	}
	for _, prev := range via {
		if prev.URL.Scheme == "https" && req.URL.Scheme != "https" {
			return fmt.Errorf("%w: redirect to %s would leave https", ErrRefused, Redact(req.URL.String()))
		}
	}
	// A 301, 302 or 303 turns a POST into a GET without its body: the
	// GET's success would pass for a delivery that never happened.
	if req.Method != via[0].Method {
		return fmt.Errorf("%w: redirect to %s would turn the %s into a %s and drop its body", ErrRefused, Redact(req.URL.String()), via[0].Method, req.Method)
	}
	return nil
}

// CheckURL refuses, before anything is sent, a URL that can never be
// reached under the rules: not absolute http or https, no host, an address
// that is refused, plain http with an empty allow-list; and one that
// carries user information (user:password@), a credential that would be
// stored in plain sight with the approval and sent as Basic
// authentication, and that makes a URL read as another host
// (https://trusted.example@evil.example/). What a name resolves to is
// checked when a request is made. It suits a start request that names a
// callback, refused at once rather than failing a day later, and Post
// checks every URL with it again. The error does not quote the URL.
func (c *Client) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("%w: not an absolute https URL", ErrRefused)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("%w: scheme %q: only https (and http to allowed ranges)", ErrRefused, u.Scheme)
	}
	if u.User != nil {
		return fmt.Errorf("%w: the URL carries user information (user:password@); give the receiver's credential in its query or path instead", ErrRefused)
	}
	ip, err := netip.ParseAddr(u.Hostname())
	if err != nil {
		// A name: plain http is possible only if it resolves into an
		// allowed range, which the connection will check.
		if u.Scheme == "http" && len(c.allow) == 0 {
			return fmt.Errorf("%w: plain http goes only to ranges on the allow-list, which is empty; use https", ErrRefused)
		}
		return nil
	}
	if u.Scheme == "http" {
		return c.checkPlain(ip)
	}
	return c.checkTLS(ip)
}

// Do sends req. The response body reads at most the configured limit and
// then fails with ErrResponseTooLarge. A refusal wraps ErrRefused; an
// error never holds the URL's path or query.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, redactError(err)
	}
	resp.Body = &limitedBody{rc: resp.Body, left: c.maxBody}
	return resp, nil
}

// StatusError is a response outside 2xx. A 4xx other than 408 and 429
// will most likely be answered again to the same request.
type StatusError struct{ StatusCode int }

func (e *StatusError) Error() string {
	return fmt.Sprintf("answered %d %s", e.StatusCode, http.StatusText(e.StatusCode))
}

// Post sends body to rawURL with POST and the given headers and reports
// whether it was accepted (a 2xx). The response body is read, up to the
// limit, and dropped, so that the connection is kept for the next request;
// it is never quoted in the error, since a receiver may echo what it was
// sent.
func (c *Client) Post(ctx context.Context, rawURL string, header http.Header, body []byte) error {
	// Checked again although the URL was checked when it was given: an
	// orchestration started by another client, or before a rule was
	// added, brings URLs no check has seen.
	if err := c.CheckURL(rawURL); err != nil {
		return fmt.Errorf("post to %s: %w", Redact(rawURL), err)
	}
	// A bytes.Reader body lets a 307 or 308 redirect send it again.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("post to %s: %w", Redact(rawURL), redactError(err))
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("post to %s: %w", Redact(rawURL), &StatusError{StatusCode: resp.StatusCode})
	}
	return nil
}

// Redact is raw reduced to its scheme and host, for messages and logs.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "(a URL that does not parse)"
	case u.Host == "":
		return "(a relative URL)"
	}
	out := u.Scheme + "://" + u.Host
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		out += "/…"
	}
	return out
}

// redactError replaces the URL a *url.Error quotes with its redacted form,
// keeping what it wraps for errors.Is and errors.As.
func redactError(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	return &url.Error{Op: ue.Op, URL: Redact(ue.URL), Err: ue.Err}
}

// limitedBody reads at most left bytes and fails past them, so that a
// receiver cannot make the worker read without end.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, ErrResponseTooLarge
	}
	// One byte more than allowed tells "exactly at the limit" from
	// "over it".
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n - 1, ErrResponseTooLarge
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
