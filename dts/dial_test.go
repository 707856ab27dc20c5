package dts

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/approvals-go/approvals/dts/dtstest"
)

// recorder is a gRPC server that accepts any method, records each call's
// metadata and answers with an empty message or with the status its
// respond function picks.
type recorder struct {
	mu      sync.Mutex
	calls   []metadata.MD
	methods []string
	respond func(method string, attempt int) error
	count   atomic.Int64
}

func (r *recorder) handle(_ any, ss grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(ss)
	md, _ := metadata.FromIncomingContext(ss.Context())
	n := int(r.count.Add(1))
	r.mu.Lock()
	r.calls = append(r.calls, md.Copy())
	r.methods = append(r.methods, method)
	r.mu.Unlock()
	if err := ss.RecvMsg(&emptypb.Empty{}); err != nil {
		return err
	}
	if r.respond != nil {
		if err := r.respond(method, n); err != nil {
			return err
		}
	}
	return ss.SendMsg(&emptypb.Empty{})
}

func (r *recorder) snapshot() []metadata.MD {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]metadata.MD(nil), r.calls...)
}

// startRecorder serves r on 127.0.0.1, over TLS when serverTLS is set, and
// returns the port.
func startRecorder(t *testing.T, r *recorder, serverTLS *tls.Config) string {
	t.Helper()
	opts := []grpc.ServerOption{grpc.UnknownServiceHandler(r.handle)}
	if serverTLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(serverTLS)))
	}
	srv := grpc.NewServer(opts...)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	_, port, _ := net.SplitHostPort(lis.Addr().String())
	return port
}

func dialTest(t *testing.T, cfg Config, role Role) *grpc.ClientConn {
	t.Helper()
	conn, err := Dial(context.Background(), cfg, role)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func hello(ctx context.Context, conn *grpc.ClientConn) error {
	return conn.Invoke(ctx, "/TaskHubSidecarService/Hello", &emptypb.Empty{}, &emptypb.Empty{})
}

func one(t *testing.T, md metadata.MD, key string) string {
	t.Helper()
	v := md.Get(key)
	if len(v) != 1 {
		t.Fatalf("metadata %s = %q, want exactly one value (all: %v)", key, v, md)
	}
	return v[0]
}

func TestMetadataOnEveryCall(t *testing.T) {
	serverTLS, roots := dtstest.SelfSigned(t)
	rec := &recorder{}
	port := startRecorder(t, rec, serverTLS)
	clientCred, workerCred := &dtstest.FakeCredential{}, &dtstest.FakeCredential{}
	base := Config{Address: "localhost:" + port, TLS: true, RootCAs: roots, TaskHub: "hub1"}

	cc, wc := base, base
	cc.Credential, wc.Credential = clientCred, workerCred
	client := dialTest(t, cc, RoleClient)
	worker := dialTest(t, wc, RoleWorker)
	ctx := context.Background()
	for range 3 {
		if err := hello(ctx, client); err != nil {
			t.Fatalf("client call: %v", err)
		}
		if err := hello(ctx, worker); err != nil {
			t.Fatalf("worker call: %v", err)
		}
	}
	// A stream call carries the same metadata.
	cs, err := worker.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, "/TaskHubSidecarService/Other")
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	if err := cs.SendMsg(&emptypb.Empty{}); err != nil {
		t.Fatalf("send: %v", err)
	}
	if err := cs.RecvMsg(&emptypb.Empty{}); err != nil {
		t.Fatalf("recv: %v", err)
	}

	calls := rec.snapshot()
	if len(calls) != 7 {
		t.Fatalf("%d calls recorded, want 7", len(calls))
	}
	var workerIDs []string
	for i, md := range calls {
		if got := one(t, md, "taskhub"); got != "hub1" {
			t.Errorf("call %d: taskhub %q", i, got)
		}
		if got := one(t, md, "authorization"); got != "Bearer token-1" {
			t.Errorf("call %d: authorization %q, want the cached token", i, got)
		}
		ua := one(t, md, "x-user-agent")
		if !strings.HasPrefix(ua, Product+"/") {
			t.Errorf("call %d: x-user-agent %q", i, ua)
		}
		isWorker := strings.HasSuffix(ua, "(DurableTaskWorker)")
		if !isWorker && !strings.HasSuffix(ua, "(DurableTaskClient)") {
			t.Errorf("call %d: x-user-agent %q names no role", i, ua)
		}
		ids := md.Get("workerid")
		switch {
		case isWorker && len(ids) == 1:
			workerIDs = append(workerIDs, ids[0])
		case isWorker:
			t.Errorf("call %d: worker call has workerid %q", i, ids)
		case len(ids) != 0:
			t.Errorf("call %d: client call has workerid %q", i, ids)
		}
	}
	if len(workerIDs) != 4 {
		t.Fatalf("%d worker calls, want 4", len(workerIDs))
	}
	parts := strings.Split(workerIDs[0], ",")
	host, _ := os.Hostname()
	if len(parts) != 3 || parts[0] != host || parts[1] != strconv.Itoa(os.Getpid()) || len(parts[2]) != 36 {
		t.Fatalf("workerid %q is not host,pid,uuid", workerIDs[0])
	}
	for _, id := range workerIDs {
		if id != workerIDs[0] {
			t.Fatalf("workerid changed between calls: %q, %q", workerIDs[0], id)
		}
	}
	if clientCred.Fetches() != 1 || workerCred.Fetches() != 1 {
		t.Fatalf("%d and %d token fetches, want one per connection", clientCred.Fetches(), workerCred.Fetches())
	}
}

func TestOneTokenFetchForConcurrentCalls(t *testing.T) {
	serverTLS, roots := dtstest.SelfSigned(t)
	rec := &recorder{}
	port := startRecorder(t, rec, serverTLS)
	cred := &dtstest.FakeCredential{Gate: make(chan struct{})}
	conn := dialTest(t, Config{Address: "127.0.0.1:" + port, TLS: true, RootCAs: roots, TaskHub: "h", Credential: cred}, RoleClient)

	const calls = 20
	var wg sync.WaitGroup
	for range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := hello(context.Background(), conn); err != nil {
				t.Errorf("call: %v", err)
			}
		}()
	}
	close(cred.Gate)
	wg.Wait()
	if cred.Fetches() != 1 {
		t.Fatalf("%d token fetches for %d concurrent calls, want 1", cred.Fetches(), calls)
	}
	for _, md := range rec.snapshot() {
		if got := one(t, md, "authorization"); got != "Bearer token-1" {
			t.Fatalf("authorization %q", got)
		}
	}
}

func TestTokenFailureSurfacesAsUnavailable(t *testing.T) {
	serverTLS, roots := dtstest.SelfSigned(t)
	rec := &recorder{}
	port := startRecorder(t, rec, serverTLS)
	cred := &dtstest.FakeCredential{}
	cred.Fail(dtstest.ErrFake)
	logs := &dtstest.Logs{}
	conn := dialTest(t, Config{Address: "127.0.0.1:" + port, TLS: true, RootCAs: roots, TaskHub: "h", Credential: cred, Logger: logs.Logger()}, RoleClient)

	for range 2 {
		err := hello(context.Background(), conn)
		if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), dtstest.ErrFake.Error()) {
			t.Fatalf("got %v, want Unavailable naming the credential failure", err)
		}
	}
	if rec.count.Load() != 0 {
		t.Fatalf("%d calls reached the server without a token", rec.count.Load())
	}
	if got := cred.Fetches(); got != 2*defaultRetry.attempts {
		t.Fatalf("%d fetches, want one per attempt (%d)", got, 2*defaultRetry.attempts)
	}
	if n := logs.Count("cannot get access token"); n != 1 {
		t.Fatalf("failure logged %d times, want once:\n%s", n, logs)
	}
	cred.Fail(nil)
	if err := hello(context.Background(), conn); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestUnaryRetriesUnavailableOnly(t *testing.T) {
	rec := &recorder{respond: func(method string, n int) error {
		switch {
		case strings.HasSuffix(method, "/Flaky") && n <= 2:
			return status.Error(codes.Unavailable, "restarting")
		case strings.HasSuffix(method, "/Missing"):
			return status.Error(codes.NotFound, "no such thing")
		}
		return nil
	}}
	port := startRecorder(t, rec, nil)
	conn := dialTest(t, Config{Address: "127.0.0.1:" + port, TaskHub: "h"}, RoleClient)

	if err := conn.Invoke(context.Background(), "/TaskHubSidecarService/Flaky", &emptypb.Empty{}, &emptypb.Empty{}); err != nil {
		t.Fatalf("flaky call not retried to success: %v", err)
	}
	if got := rec.count.Load(); got != 3 {
		t.Fatalf("%d attempts, want 3", got)
	}
	err := conn.Invoke(context.Background(), "/TaskHubSidecarService/Missing", &emptypb.Empty{}, &emptypb.Empty{})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("got %v, want NotFound", err)
	}
	if got := rec.count.Load(); got != 4 {
		t.Fatalf("NotFound was retried: %d attempts in all, want 4", got)
	}
}

func TestStaticTokenSent(t *testing.T) {
	serverTLS, roots := dtstest.SelfSigned(t)
	rec := &recorder{}
	port := startRecorder(t, rec, serverTLS)
	conn := dialTest(t, Config{Address: "localhost:" + port, TLS: true, RootCAs: roots, TaskHub: "h", Token: "static-secret"}, RoleClient)
	if err := hello(context.Background(), conn); err != nil {
		t.Fatal(err)
	}
	if got := one(t, rec.snapshot()[0], "authorization"); got != "Bearer static-secret" {
		t.Fatalf("authorization %q", got)
	}
}

func TestTLSVerifiesServer(t *testing.T) {
	serverTLS, roots := dtstest.SelfSigned(t, "localhost")
	port := startRecorder(t, &recorder{}, serverTLS)
	for _, tc := range []struct {
		name  string
		cfg   Config
		works bool
	}{
		{"trusted root and matching name", Config{Address: "localhost:" + port, RootCAs: roots}, true},
		{"name not in the certificate", Config{Address: "127.0.0.1:" + port, RootCAs: roots}, false},
		{"root not trusted", Config{Address: "localhost:" + port}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.TLS, tc.cfg.TaskHub = true, "h"
			err := hello(context.Background(), dialTest(t, tc.cfg, RoleClient))
			if tc.works && err != nil {
				t.Fatalf("call failed: %v", err)
			}
			if !tc.works && (status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "certificate")) {
				t.Fatalf("got %v, want a certificate failure (Unavailable)", err)
			}
		})
	}
}

func TestDialRejectsCredentialsOverPlaintext(t *testing.T) {
	for name, cfg := range map[string]Config{
		"credential": {Address: "h:80", TaskHub: "h", Credential: &dtstest.FakeCredential{}},
		"mode":       {Address: "h:80", TaskHub: "h", Authentication: AuthManagedIdentity},
		"token":      {Address: "h:80", TaskHub: "h", Token: "t"},
		"no hub":     {Address: "h:80"},
		"no port":    {Address: "h", TaskHub: "h"},
		"limits":     {Address: "h:80", TaskHub: "h", MaxActivityWorkItems: -1},
	} {
		if _, err := Dial(context.Background(), cfg, RoleWorker); err == nil {
			t.Errorf("%s: Dial accepted %v", name, cfg)
		} else if strings.Contains(err.Error(), "Bearer") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
