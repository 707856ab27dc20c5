// Package guard holds the gRPC server interceptors that make a scheduler
// built on durabletask-go's gRPC executor behave like the Durable Task
// Scheduler toward its workers and clients:
//
//   - every call must name a configured task hub in the "taskhub" metadata
//     header, or it is answered codes.NotFound;
//   - every work item sent on GetWorkItems carries a fresh completion token
//     (WorkItem field 10), and a completion (CompleteOrchestratorTask,
//     CompleteActivityTask) must echo it (field 4 / field 5) or it is
//     rejected, so the work item stays outstanding and is dispatched again
//     when the stream breaks;
//   - each GetWorkItems stream receives a health ping (WorkItem field 4, an
//     empty message) every PingInterval;
//   - optionally, every call must carry "authorization: Bearer <Token>".
//
// Install it with grpc.NewServer(g.ServerOptions()...) or with the two
// interceptor methods.
package guard

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/approvals-go/approvals/dts/dtsproto"
)

// Environment names for Settings.
const (
	// EnvTaskHubNames is a comma-separated list of task hubs, as the Docker
	// emulator reads it.
	EnvTaskHubNames = "DTS_TASK_HUB_NAMES"
	// EnvPingInterval is the health ping interval (a Go duration; "0s"
	// turns pings off).
	EnvPingInterval = "DTS_HEALTH_PING_INTERVAL"
	// EnvToken is the static bearer secret callers must present. It is the
	// same name the dts package reads on the client side, so one setting
	// serves both ends of an all-in-one deployment.
	EnvToken = "DURABLE_TASK_SCHEDULER_TOKEN"
)

// Defaults.
const (
	DefaultTaskHub      = "default"
	DefaultPingInterval = 10 * time.Second
	// MaxMessageSize matches the limit the clients use.
	MaxMessageSize = 64 << 20
	// KeepaliveMinTime is the shortest client keepalive interval the server
	// tolerates. The clients ping every 2 minutes; grpc-go's default of 5
	// minutes would answer them with GOAWAY "too_many_pings".
	KeepaliveMinTime = 30 * time.Second
)

// Settings is the guard's configuration as it arrives from the
// environment.
type Settings struct {
	TaskHubNames string        `env:"DTS_TASK_HUB_NAMES" envDefault:"default"`
	PingInterval time.Duration `env:"DTS_HEALTH_PING_INTERVAL" envDefault:"10s"`
	Token        string        `env:"DURABLE_TASK_SCHEDULER_TOKEN"`
}

// String keeps the token out of printed settings.
func (s Settings) String() string {
	tok := `""`
	if s.Token != "" {
		tok = "[redacted]"
	}
	return fmt.Sprintf("guard.Settings{TaskHubNames:%s, PingInterval:%s, Token:%s}", s.TaskHubNames, s.PingInterval, tok)
}

// LogValue keeps the token out of structured logs.
func (s Settings) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Options turns Settings into Options, checking the task hub names.
func (s Settings) Options() (Options, error) {
	hubs, err := ParseTaskHubs(s.TaskHubNames)
	if err != nil {
		return Options{}, fmt.Errorf("%s: %w", EnvTaskHubNames, err)
	}
	if s.PingInterval < 0 {
		return Options{}, fmt.Errorf("%s: must not be negative", EnvPingInterval)
	}
	interval := s.PingInterval
	if interval == 0 {
		interval = -1 // "0s" in the environment means off, not the default
	}
	return Options{TaskHubs: hubs, PingInterval: interval, Token: strings.TrimSpace(s.Token)}, nil
}

// ParseTaskHubs splits a comma-separated list of task hub names. An empty
// list means DefaultTaskHub.
func ParseTaskHubs(list string) ([]string, error) {
	var hubs []string
	for i, h := range strings.Split(list, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if !validHub(h) {
			return nil, fmt.Errorf("task hub %d must be 1 to 256 printable ASCII characters without spaces or ';'", i+1)
		}
		hubs = append(hubs, h)
	}
	if len(hubs) == 0 {
		hubs = []string{DefaultTaskHub}
	}
	return hubs, nil
}

func validHub(h string) bool {
	if h == "" || len(h) > 256 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; c <= ' ' || c >= 0x7f || c == ';' {
			return false
		}
	}
	return true
}

// Options configures a Guard.
type Options struct {
	// TaskHubs are the hubs this scheduler serves; names match
	// case-insensitively. Empty means DefaultTaskHub.
	TaskHubs []string
	// PingInterval is how often each GetWorkItems stream gets a health
	// ping. Zero means DefaultPingInterval; negative turns pings off.
	PingInterval time.Duration
	// Token, when set, is the bearer secret every call must present.
	Token string
	// Logger receives the guard's messages. Nil means slog.Default().
	Logger *slog.Logger
}

// Guard enforces the options above. It is safe for concurrent use by all
// of a server's calls.
type Guard struct {
	hubs      []string
	interval  time.Duration
	tokenHash [32]byte
	needAuth  bool
	log       *slog.Logger

	mu sync.Mutex
	// outstanding maps hub + work item identity to the completion token of
	// its latest dispatch.
	outstanding map[string]issuedToken
}

// New returns a Guard for opts.
func New(opts Options) *Guard {
	g := &Guard{
		hubs:        opts.TaskHubs,
		interval:    opts.PingInterval,
		log:         opts.Logger,
		outstanding: map[string]issuedToken{},
	}
	if len(g.hubs) == 0 {
		g.hubs = []string{DefaultTaskHub}
	}
	if g.interval == 0 {
		g.interval = DefaultPingInterval
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	if opts.Token != "" {
		g.needAuth = true
		g.tokenHash = sha256.Sum256([]byte(opts.Token))
	}
	return g
}

// ServerOptions returns the interceptors plus the transport settings the
// clients expect: 64 MiB messages and keepalive pings every 2 minutes.
func (g *Guard) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(g.UnaryInterceptor()),
		grpc.ChainStreamInterceptor(g.StreamInterceptor()),
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.MaxSendMsgSize(MaxMessageSize),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             KeepaliveMinTime,
			PermitWithoutStream: true,
		}),
	}
}

type hubKey struct{}

// TaskHub returns the task hub a call was admitted for (its configured
// spelling), or "" outside a guarded call.
func TaskHub(ctx context.Context) string {
	h, _ := ctx.Value(hubKey{}).(string)
	return h
}

// isDurableTask reports whether method belongs to the task hub service;
// other services (health checks, reflection) need no task hub.
func isDurableTask(method string) bool { return strings.HasPrefix(method, dtsproto.MethodPrefix) }

// isHealthCheck exempts the standard gRPC health service from the bearer
// check, so that load balancers can probe the scheduler.
func isHealthCheck(method string) bool { return strings.HasPrefix(method, "/grpc.health.v1.Health/") }

// admit runs the checks every call passes and returns the context the
// handler sees.
func (g *Guard) admit(ctx context.Context, method string) (context.Context, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if g.needAuth && !isHealthCheck(method) {
		if err := g.checkBearer(md); err != nil {
			return nil, err
		}
	}
	if !isDurableTask(method) {
		return ctx, nil
	}
	hub, err := g.checkHub(md)
	if err != nil {
		return nil, err
	}
	return context.WithValue(ctx, hubKey{}, hub), nil
}

func (g *Guard) checkBearer(md metadata.MD) error {
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return status.Error(codes.Unauthenticated, "missing authorization metadata: this scheduler requires \"authorization: Bearer <token>\"")
	}
	scheme, cred, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return status.Error(codes.Unauthenticated, "authorization metadata is not a bearer token")
	}
	// Comparing hashes keeps the comparison constant-time even in the
	// secret's length.
	got := sha256.Sum256([]byte(strings.TrimSpace(cred)))
	if subtle.ConstantTimeCompare(got[:], g.tokenHash[:]) != 1 {
		return status.Error(codes.Unauthenticated, "bearer token is not valid for this scheduler")
	}
	return nil
}

func (g *Guard) checkHub(md metadata.MD) (string, error) {
	vals := md.Get("taskhub")
	if len(vals) == 0 || strings.TrimSpace(vals[0]) == "" {
		return "", status.Errorf(codes.NotFound,
			"no task hub named: send the \"taskhub\" metadata header; this scheduler serves %s", g.hubList())
	}
	want := strings.TrimSpace(vals[0])
	for _, h := range g.hubs {
		if strings.EqualFold(h, want) {
			return h, nil
		}
	}
	return "", status.Errorf(codes.NotFound, "task hub %s not found; this scheduler serves %s", quoteShort(want), g.hubList())
}

func (g *Guard) hubList() string {
	q := make([]string, len(g.hubs))
	for i, h := range g.hubs {
		q[i] = strconv.Quote(h)
	}
	return strings.Join(q, ", ")
}

// quoteShort quotes a caller-supplied name for an error message, cut short
// so that a stray secret pasted there is not echoed whole.
func quoteShort(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strconv.Quote(s)
}

// UnaryInterceptor checks the bearer token and task hub of every call, and
// the completion token of completions.
func (g *Guard) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := g.admit(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		switch info.FullMethod {
		case dtsproto.MethodCompleteOrchestratorTask:
			err = g.consume(TaskHub(ctx), req, dtsproto.FieldOrchestratorResponseCompletionToken, dtsproto.OrchestratorResponseKey)
		case dtsproto.MethodCompleteActivityTask:
			err = g.consume(TaskHub(ctx), req, dtsproto.FieldActivityResponseCompletionToken, dtsproto.ActivityResponseKey)
		}
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// consume checks a completion's token against the one issued with its
// work item and retires it, so that each dispatch completes at most once.
func (g *Guard) consume(hub string, req any, field protowire.Number, keyOf func(protoreflect.Message) string) error {
	msg, ok := req.(proto.Message)
	if !ok {
		return status.Error(codes.Internal, "completion request is not a protobuf message")
	}
	r := msg.ProtoReflect()
	key := hub + "\x00" + keyOf(r)
	got, present := dtsproto.String(r, field)
	if !present || got == "" {
		return status.Errorf(codes.InvalidArgument,
			"completion token missing: echo the work item's completionToken (WorkItem field 10) in field %d of the response", field)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	want, ok := g.outstanding[key]
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(want.token)) != 1 {
		return status.Error(codes.FailedPrecondition,
			"completion token unknown: the work item was already completed, or was dispatched again with a new token")
	}
	delete(g.outstanding, key)
	return nil
}

// issuedToken is the completion token of a work item's latest dispatch and
// the stream it went out on.
type issuedToken struct {
	token string
	owner *workItemStream
}

func (g *Guard) issue(key string, owner *workItemStream) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate completion token: %w", err)
	}
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	g.mu.Lock()
	g.outstanding[key] = issuedToken{token: tok, owner: owner}
	g.mu.Unlock()
	return tok, nil
}

// retire drops the tokens a stream issued that are still outstanding: the
// executor abandons those work items when the stream ends, and they come
// back with new tokens. Completed work items were removed by consume, so
// nothing grows with the life of a stream.
func (g *Guard) retire(owner *workItemStream) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for k, t := range g.outstanding {
		if t.owner == owner {
			delete(g.outstanding, k)
		}
	}
}

// Outstanding returns how many work items await completion (for tests and
// metrics).
func (g *Guard) Outstanding() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.outstanding)
}

// StreamInterceptor checks the bearer token and task hub of every stream;
// on GetWorkItems it also issues completion tokens and sends health pings.
func (g *Guard) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := g.admit(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		if info.FullMethod != dtsproto.MethodGetWorkItems {
			if isDurableTask(info.FullMethod) {
				ss = &contextStream{ServerStream: ss, ctx: ctx}
			}
			return handler(srv, ss)
		}
		ws := &workItemStream{ServerStream: ss, ctx: ctx, g: g, hub: TaskHub(ctx)}
		stop := make(chan struct{})
		var pinger sync.WaitGroup
		if g.interval > 0 {
			pinger.Add(1)
			go func() {
				defer pinger.Done()
				ws.pingLoop(g.interval, stop)
			}()
		}
		err = handler(srv, ws)
		close(stop)
		ws.close()
		pinger.Wait()
		g.retire(ws)
		return err
	}
}

// contextStream gives a handler the admitted context, so TaskHub works in
// stream handlers too.
type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *contextStream) Context() context.Context { return s.ctx }

// workItemStream serializes the handler's sends with the health pings
// (grpc.ServerStream.SendMsg must not be called concurrently) and stamps
// each work item with a completion token.
type workItemStream struct {
	grpc.ServerStream
	ctx context.Context
	g   *Guard
	hub string

	mu     sync.Mutex
	closed bool
}

func (s *workItemStream) Context() context.Context { return s.ctx }

func (s *workItemStream) SendMsg(m any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return status.Error(codes.Canceled, "work item stream closed")
	}
	if msg, ok := m.(proto.Message); ok {
		r := msg.ProtoReflect()
		if id := dtsproto.WorkItemKey(r); id != "" {
			key := s.hub + "\x00" + id
			// The token is recorded before the work item leaves, so a fast
			// worker's completion cannot arrive ahead of it.
			tok, err := s.g.issue(key, s)
			if err != nil {
				return status.Error(codes.Internal, err.Error())
			}
			dtsproto.SetString(r, dtsproto.FieldWorkItemCompletionToken, tok)
		}
	}
	return s.ServerStream.SendMsg(m)
}

func (s *workItemStream) pingLoop(every time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		if err := s.ping(); err != nil {
			// The handler's next send fails the same way and ends the
			// stream; nothing more to do here.
			s.g.log.Debug("health ping not sent", "error", err)
			return
		}
	}
}

// ping sends a WorkItem whose only field is healthPing (4), an empty
// message. Any message type encodes the same bytes once the field is set as
// an unknown field, so an Empty carries it without depending on the
// generated WorkItem type.
func (s *workItemStream) ping() error {
	msg := &emptypb.Empty{}
	dtsproto.SetEmptyMessage(msg.ProtoReflect(), dtsproto.FieldWorkItemHealthPing)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	return s.ServerStream.SendMsg(msg)
}

// close stops all further sends; it waits for a ping in progress.
func (s *workItemStream) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}
