package dashboard

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/approvals-go/approvals/dts/mgmt"
	"github.com/approvals-go/approvals/internal/compress"
	"github.com/approvals-go/approvals/internal/exposure"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configures the dashboard.
type Options struct {
	// Hubs are the task hubs shown, in order.
	Hubs []Hub
	// Token, when set, must come with every request: as "Authorization:
	// Bearer <token>" from tools calling the JSON API, or from a browser
	// as the cookie the sign-in page sets. The scheduler sets it to its own
	// bearer token, so the dashboard is guarded like the gRPC port.
	Token string
	// TLS says the dashboard is served over TLS, so the sign-in cookie is
	// sent over TLS only.
	TLS bool
	// Hosts are the host names browsers reach the dashboard under, such as
	// the names of its TLS certificate. A request for any other name but
	// localhost or an IP address is refused (see exposure.Hosts).
	Hosts []string
	// App adds what an application knows of its own orchestrations;
	// without one the dashboard shows them as the scheduler knows them.
	App    App
	Logger *slog.Logger
}

// Server is the dashboard's HTTP handler.
type Server struct {
	hubs    []Hub
	token   string
	tls     bool
	hosts   exposure.Hosts
	log     *slog.Logger
	app     App
	appInfo AppInfo
	// appParts are the app's templates; appActions its actions by name.
	appParts   *template.Template
	appActions map[string]Action
	// notices are the banners an action's redirect may ask for, by code.
	notices map[string]string
	pages   map[string]*template.Template
	assets  map[string]asset // by hashed name
	hashed  map[string]string
	handler http.Handler
	now     func() time.Time
}

type asset struct {
	body []byte
	kind string
}

// New parses the templates and hashes the assets; it fails only if the
// embedded files are broken.
func New(opts Options) (*Server, error) {
	if len(opts.Hubs) == 0 {
		return nil, errors.New("dashboard: no task hubs to show")
	}
	s := &Server{hubs: opts.Hubs, token: opts.Token, tls: opts.TLS, hosts: exposure.NewHosts(opts.Hosts...), log: opts.Logger, now: time.Now,
		app: opts.App, assets: map[string]asset{}, hashed: map[string]string{}}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.app == nil {
		s.app = noApp{}
	}
	if err := s.loadApp(); err != nil {
		return nil, err
	}
	if err := s.loadAssets(); err != nil {
		return nil, err
	}
	if err := s.parseTemplates(); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	s.routes(mux)
	s.routesAPI(mux)
	// Cross-site posts are refused before anything else reads them: a
	// page elsewhere must not be able to terminate or purge through a
	// signed-in browser.
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.log.Warn("dashboard: refused a cross-site request", "method", r.Method, "path", r.URL.Path)
		if isAPI(r) {
			problem(w, http.StatusForbidden, "cross-site requests are refused")
			return
		}
		http.Error(w, "Cross-site requests are refused.", http.StatusForbidden)
	}))
	s.handler = compress.Handler(securityHeaders(s.refuseMisdirected(s.authenticate(csrf.Handler(mux)))))
	return s, nil
}

// refuseMisdirected answers 421 to a request for a host the dashboard
// does not serve, before anything else: a page on a rebinding domain
// would otherwise drive it as a page of its own origin, which the
// cross-site check lets through.
func (s *Server) refuseMisdirected(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.hosts.Serves(r.Host) {
			next.ServeHTTP(w, r)
			return
		}
		s.log.Warn("dashboard: refused a request for a host not served", "host", r.Host, "method", r.Method, "path", r.URL.Path)
		if isAPI(r) {
			problem(w, http.StatusMisdirectedRequest, s.hosts.Refusal(r.Host))
			return
		}
		http.Error(w, s.hosts.Refusal(r.Host), http.StatusMisdirectedRequest)
	})
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// securityHeaders allows scripts, styles and images from this origin
// only: no inline script or style, no framing, forms posting here only.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }

// sessionCookie holds a value derived from the token rather than the token
// itself, so that a cookie that leaks from the browser is not the
// scheduler's credential.
const sessionCookie = "dashboard_session"

func (s *Server) session() string {
	mac := hmac.New(sha256.New, []byte(s.token))
	mac.Write([]byte("approvals dashboard session v1"))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func (s *Server) authorized(r *http.Request) bool {
	if s.token == "" {
		return true
	}
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok &&
		subtle.ConstantTimeCompare([]byte(strings.TrimSpace(bearer)), []byte(s.token)) == 1 {
		return true
	}
	c, err := r.Cookie(sessionCookie)
	return err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(s.session())) == 1
}

// authenticate lets through the assets, the sign-in page and requests
// that carry the token; it sends other browsers to sign in.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.authorized(r) || strings.HasPrefix(r.URL.Path, "/static/") || r.URL.Path == "/signin" {
			next.ServeHTTP(w, r)
			return
		}
		if isAPI(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="approvals scheduler"`)
			problem(w, http.StatusUnauthorized, "a bearer token is required")
			return
		}
		http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
	})
}

func (s *Server) loadAssets() error {
	return fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		name := path.Base(p)
		ext := path.Ext(name)
		hashed := strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:6]) + ext
		s.assets[hashed] = asset{body: body, kind: mime.TypeByExtension(ext)}
		s.hashed[name] = "/static/" + hashed
		return nil
	})
}

// serveAsset serves an embedded file under its hashed name, which changes
// whenever the file does, so it can be cached for good.
func (s *Server) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := s.assets[r.PathValue("file")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", a.kind)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Write(a.body)
}

// funcs are the functions of the dashboard's templates and the app's.
func (s *Server) funcs() template.FuncMap {
	return template.FuncMap{
		"asset": func(name string) (string, error) {
			if p, ok := s.hashed[name]; ok {
				return p, nil
			}
			return "", fmt.Errorf("no asset %q", name)
		},
		"hubURL":      hubURL,
		"instanceURL": instanceURL,
		"actionURL":   actionURL,
		"label":       mgmt.StatusName,
		"slug":        statusSlug,
		"time":        formatTime,
		"span":        span,
		"since": func(d time.Duration) string {
			if d < 0 {
				return "−" + span(-d)
			}
			return "+" + span(d)
		},
		"commas": commas,
		"ago":    func(t time.Time) string { return Ago(s.now(), t) },
		"iso":    func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
		"sizes":  func() []int { return []int{25, defaultListSize, 100, maxListSize} },
	}
}

func (s *Server) parseTemplates() error {
	funcs := s.funcs()
	// part renders a piece the app supplies with its own template.
	funcs["part"] = s.part
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return fmt.Errorf("dashboard templates: %w", err)
	}
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	s.pages = map[string]*template.Template{}
	for _, f := range files {
		name := path.Base(f)
		if name == "layout.html" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, f)
		if err != nil {
			return fmt.Errorf("dashboard template %s: %w", name, err)
		}
		s.pages[strings.TrimSuffix(name, ".html")] = t
	}
	return nil
}

// view is what every page's layout needs.
type view struct {
	Title string
	// Hub is the task hub the page belongs to, if any, for the
	// breadcrumbs.
	Hub string
	// Notice and Error are banners.
	Notice, Error string
	// Refresh offers the auto-refresh control.
	Refresh bool
	// Signed says the dashboard asks for a token, so a sign-out is
	// offered.
	Signed bool
	Page   any
}

// render writes a page, or a clean 500 if its template fails half way.
func (s *Server) render(w http.ResponseWriter, status int, name string, v view) {
	v.Signed = s.token != ""
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout.html", v); err != nil {
		s.log.Error("dashboard: render page", "page", name, "err", err)
		http.Error(w, "The page could not be rendered.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *Server) hub(name string) (Hub, bool) {
	for _, h := range s.hubs {
		if strings.EqualFold(h.Name(), name) {
			return h, true
		}
	}
	return nil, false
}

func hubURL(hub string) string { return "/hubs/" + url.PathEscape(hub) + "/" }

func instanceURL(hub, id string) string {
	return "/hubs/" + url.PathEscape(hub) + "/instances/" + url.PathEscape(id)
}

func actionURL(hub, id, action string) string { return instanceURL(hub, id) + "/" + action }

// signIn takes the scheduler's token once and remembers the browser with a
// cookie derived from it.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	next := r.FormValue("next")
	if !localPath(next) {
		next = "/"
	}
	type form struct{ Next string }
	if s.token == "" {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	if r.Method != http.MethodPost {
		s.render(w, http.StatusOK, "signin", view{Title: "Sign in", Page: form{next}})
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue("token")), []byte(s.token)) != 1 {
		s.render(w, http.StatusUnauthorized, "signin", view{Title: "Sign in", Error: "That is not the scheduler's token.", Page: form{next}})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: s.session(), Path: "/", HttpOnly: true,
		Secure: s.tls, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// localPath reports whether next, where sign-in sends the browser, is a
// path on this origin, written so that no browser reads it otherwise. A
// browser drops tabs and newlines from a URL and reads a backslash as
// "/", so "/<tab>/evil.example" and "/<backslash>evil.example" lead
// off-site as "//evil.example" does. The path is checked again as it
// decodes, so that no encoded form of these passes either.
func localPath(next string) bool {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return false
	}
	for _, p := range []string{next, u.Path} {
		if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsRune(p, '\\') ||
			strings.ContainsFunc(p, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) || !utf8.ValidString(p) {
			return false
		}
	}
	return true
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.tls, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}
