package guard

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/microsoft/durabletask-go/backend" // registers the protocol's message types
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/approvals-go/approvals/dts/dtsproto"
	"github.com/approvals-go/approvals/dts/dtstest"
)

func orchestratorWorkItem(t *testing.T, id string) proto.Message {
	wi := dtstest.NewMessage(t, "WorkItem")
	req := wi.Mutable(wi.Descriptor().Fields().ByName("orchestratorRequest")).Message()
	dtstest.SetField(req, "instanceId", protoreflect.ValueOfString(id))
	return wi.Interface()
}

func orchestratorResponse(t *testing.T, id, token string) proto.Message {
	r := dtstest.NewMessage(t, "OrchestratorResponse")
	dtstest.SetField(r, "instanceId", protoreflect.ValueOfString(id))
	if token != "" {
		dtsproto.SetString(r, dtsproto.FieldOrchestratorResponseCompletionToken, token)
	}
	return r.Interface()
}

func incoming(pairs ...string) context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.Pairs(pairs...))
}

func callUnary(g *Guard, ctx context.Context, method string, req any) (string, error) {
	var hub string
	_, err := g.UnaryInterceptor()(ctx, req, &grpc.UnaryServerInfo{FullMethod: method}, func(ctx context.Context, req any) (any, error) {
		hub = TaskHub(ctx)
		return "ok", nil
	})
	return hub, err
}

func TestParseTaskHubs(t *testing.T) {
	for in, want := range map[string]string{
		"":              "default",
		" , ":           "default",
		"a":             "a",
		" a , b ,, c  ": "a|b|c",
	} {
		got, err := ParseTaskHubs(in)
		if err != nil || strings.Join(got, "|") != want {
			t.Errorf("ParseTaskHubs(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseTaskHubs("ok,bad hub"); err == nil || strings.Contains(err.Error(), "bad hub") {
		t.Errorf("invalid hub: %v", err)
	}
}

func TestSettingsOptions(t *testing.T) {
	o, err := Settings{TaskHubNames: "x,y", PingInterval: 0, Token: " s "}.Options()
	if err != nil {
		t.Fatal(err)
	}
	if New(o).interval > 0 {
		t.Error("PingInterval 0s in the environment should turn pings off")
	}
	if o.Token != "s" || strings.Join(o.TaskHubs, ",") != "x,y" {
		t.Errorf("options %+v", o)
	}
	if _, err := (Settings{PingInterval: -time.Second}).Options(); err == nil {
		t.Error("negative interval accepted")
	}
	if s := (Settings{Token: "hidden"}).String(); strings.Contains(s, "hidden") {
		t.Errorf("token printed: %s", s)
	}
	if New(Options{}).interval != DefaultPingInterval {
		t.Error("zero Options.PingInterval should mean the default")
	}
}

func TestTaskHubAndBearerChecks(t *testing.T) {
	g := New(Options{TaskHubs: []string{"default", "Sales"}, Token: "s3cret"})
	const hello = "/TaskHubSidecarService/Hello"
	tests := []struct {
		name    string
		ctx     context.Context
		method  string
		code    codes.Code
		hub     string
		message string
	}{
		{"ok", incoming("taskhub", "default", "authorization", "Bearer s3cret"), hello, codes.OK, "default", ""},
		{"hub names match case-insensitively", incoming("taskhub", "sales", "authorization", "bearer s3cret"), hello, codes.OK, "Sales", ""},
		{"no taskhub", incoming("authorization", "Bearer s3cret"), hello, codes.NotFound, "", `send the "taskhub" metadata header; this scheduler serves "default", "Sales"`},
		{"unknown taskhub", incoming("taskhub", "nope", "authorization", "Bearer s3cret"), hello, codes.NotFound, "", `task hub "nope" not found`},
		{"no token", incoming("taskhub", "default"), hello, codes.Unauthenticated, "", "missing authorization"},
		{"wrong token", incoming("taskhub", "default", "authorization", "Bearer s3cre"), hello, codes.Unauthenticated, "", "not valid"},
		{"not bearer", incoming("taskhub", "default", "authorization", "Basic s3cret"), hello, codes.Unauthenticated, "", "not a bearer token"},
		{"no metadata", context.Background(), hello, codes.Unauthenticated, "", ""},
		{"health checks need no token", context.Background(), "/grpc.health.v1.Health/Check", codes.OK, "", ""},
		{"other services need no task hub", incoming("authorization", "Bearer s3cret"), "/grpc.reflection.v1.ServerReflection/Info", codes.OK, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hub, err := callUnary(g, tc.ctx, tc.method, nil)
			if status.Code(err) != tc.code {
				t.Fatalf("got %v, want %v", err, tc.code)
			}
			if hub != tc.hub {
				t.Fatalf("TaskHub(ctx) = %q, want %q", hub, tc.hub)
			}
			if tc.message != "" && !strings.Contains(status.Convert(err).Message(), tc.message) {
				t.Fatalf("message %q lacks %q", status.Convert(err).Message(), tc.message)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("error repeats the secret: %v", err)
			}
		})
	}
}

// fakeStream is a grpc.ServerStream that records sends and fails the test
// if two sends overlap.
type fakeStream struct {
	grpc.ServerStream
	ctx      context.Context
	inSend   atomic.Int32
	overlaps atomic.Int32
	mu       sync.Mutex
	sent     []proto.Message
	done     atomic.Bool
	late     atomic.Int32
}

func (f *fakeStream) Context() context.Context { return f.ctx }

func (f *fakeStream) SendMsg(m any) error {
	if f.inSend.Add(1) > 1 {
		f.overlaps.Add(1)
	}
	defer f.inSend.Add(-1)
	if f.done.Load() {
		f.late.Add(1)
	}
	time.Sleep(50 * time.Microsecond) // widen the window for overlaps
	f.mu.Lock()
	f.sent = append(f.sent, proto.Clone(m.(proto.Message)))
	f.mu.Unlock()
	return nil
}

func (f *fakeStream) RecvMsg(any) error { return nil }

func TestWorkItemStream(t *testing.T) {
	g := New(Options{PingInterval: time.Millisecond})
	ctx, cancel := context.WithCancel(incoming("taskhub", "default"))
	defer cancel()
	fs := &fakeStream{ctx: ctx}
	var tokens []string
	handler := func(_ any, ss grpc.ServerStream) error {
		if TaskHub(ss.Context()) != "default" {
			t.Errorf("handler context lacks the task hub")
		}
		for i := range 200 {
			if i == 100 {
				// Make sure pings really interleave with work items.
				waitForPing(t, fs)
			}
			wi := orchestratorWorkItem(t, "inst-"+string(rune('a'+i%26))+string(rune('a'+i/26)))
			if err := ss.SendMsg(wi); err != nil {
				return err
			}
			tok, ok := dtsproto.String(wi.ProtoReflect(), dtsproto.FieldWorkItemCompletionToken)
			if !ok || len(tok) < 16 {
				t.Errorf("work item %d has token %q", i, tok)
			}
			tokens = append(tokens, tok)
		}
		return nil
	}
	err := g.StreamInterceptor()(nil, fs, &grpc.StreamServerInfo{FullMethod: dtsproto.MethodGetWorkItems, IsServerStream: true}, handler)
	fs.done.Store(true)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	if n := fs.overlaps.Load(); n != 0 {
		t.Fatalf("%d overlapping SendMsg calls", n)
	}
	if g.Outstanding() != 0 {
		t.Fatalf("%d tokens outstanding after the stream ended, want 0", g.Outstanding())
	}
	seen := map[string]bool{}
	for _, tok := range tokens {
		if seen[tok] {
			t.Fatalf("token %q issued twice", tok)
		}
		seen[tok] = true
	}
	// Wait a few ping intervals: nothing may be sent after the handler
	// returned.
	time.Sleep(20 * time.Millisecond)
	if n := fs.late.Load(); n != 0 {
		t.Fatalf("%d sends after the handler returned", n)
	}
}

func isPing(t *testing.T, m proto.Message) bool {
	wi := dtstest.Reread(t, m, "WorkItem")
	return dtsproto.HasMessage(wi, dtsproto.FieldWorkItemHealthPing) && dtsproto.WorkItemKey(wi) == ""
}

func waitForPing(t *testing.T, fs *fakeStream) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		fs.mu.Lock()
		sent := append([]proto.Message(nil), fs.sent...)
		fs.mu.Unlock()
		for _, m := range sent {
			if isPing(t, m) {
				return
			}
		}
		time.Sleep(time.Millisecond)
	}
	t.Error("no health ping sent within 10s")
}

func TestPingsAreSent(t *testing.T) {
	g := New(Options{PingInterval: time.Millisecond})
	ctx, cancel := context.WithCancel(incoming("taskhub", "default"))
	defer cancel()
	fs := &fakeStream{ctx: ctx}
	handler := func(_ any, ss grpc.ServerStream) error {
		for {
			fs.mu.Lock()
			n := len(fs.sent)
			fs.mu.Unlock()
			if n >= 3 {
				return nil
			}
			time.Sleep(time.Millisecond)
		}
	}
	if err := g.StreamInterceptor()(nil, fs, &grpc.StreamServerInfo{FullMethod: dtsproto.MethodGetWorkItems}, handler); err != nil {
		t.Fatal(err)
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, m := range fs.sent {
		if !isPing(t, m) {
			t.Fatalf("sent %v, want only health pings", m)
		}
	}
}

func TestCompletionTokens(t *testing.T) {
	g := New(Options{TaskHubs: []string{"default", "other"}, PingInterval: -1})
	ctx, cancel := context.WithCancel(incoming("taskhub", "default"))
	defer cancel()
	fs := &fakeStream{ctx: ctx}
	complete := func(hub, id, token string) error {
		_, err := callUnary(g, incoming("taskhub", hub), dtsproto.MethodCompleteOrchestratorTask, orchestratorResponse(t, id, token))
		return err
	}

	handler := func(_ any, ss grpc.ServerStream) error {
		first := orchestratorWorkItem(t, "i1")
		if err := ss.SendMsg(first); err != nil {
			return err
		}
		tok1, _ := dtsproto.String(first.ProtoReflect(), dtsproto.FieldWorkItemCompletionToken)

		if err := complete("default", "i1", ""); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "completion token missing") {
			t.Errorf("missing token: %v", err)
		}
		if err := complete("default", "i1", "forged"); status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "completion token unknown") {
			t.Errorf("wrong token: %v", err)
		}
		if err := complete("other", "i1", tok1); status.Code(err) != codes.FailedPrecondition {
			t.Errorf("token accepted on another task hub: %v", err)
		}

		// A second dispatch of the same work item replaces the token.
		second := orchestratorWorkItem(t, "i1")
		if err := ss.SendMsg(second); err != nil {
			return err
		}
		tok2, _ := dtsproto.String(second.ProtoReflect(), dtsproto.FieldWorkItemCompletionToken)
		if err := complete("default", "i1", tok1); status.Code(err) != codes.FailedPrecondition {
			t.Errorf("stale token accepted: %v", err)
		}
		if err := complete("default", "i1", tok2); err != nil {
			t.Errorf("right token rejected: %v", err)
		}
		if err := complete("default", "i1", tok2); status.Code(err) != codes.FailedPrecondition {
			t.Errorf("token accepted twice: %v", err)
		}

		act := dtstest.NewMessage(t, "WorkItem")
		req := act.Mutable(act.Descriptor().Fields().ByName("activityRequest")).Message()
		dtstest.SetField(req, "taskId", protoreflect.ValueOfInt32(2))
		inst := req.Mutable(req.Descriptor().Fields().ByName("orchestrationInstance")).Message()
		dtstest.SetField(inst, "instanceId", protoreflect.ValueOfString("i1"))
		if err := ss.SendMsg(act.Interface()); err != nil {
			return err
		}
		tokA, _ := dtsproto.String(act, dtsproto.FieldWorkItemCompletionToken)
		resp := dtstest.NewMessage(t, "ActivityResponse")
		dtstest.SetField(resp, "instanceId", protoreflect.ValueOfString("i1"))
		dtstest.SetField(resp, "taskId", protoreflect.ValueOfInt32(2))
		dtsproto.SetString(resp, dtsproto.FieldActivityResponseCompletionToken, tokA)
		if _, err := callUnary(g, incoming("taskhub", "default"), dtsproto.MethodCompleteActivityTask, resp.Interface()); err != nil {
			t.Errorf("activity completion rejected: %v", err)
		}
		return nil
	}
	if err := g.StreamInterceptor()(nil, fs, &grpc.StreamServerInfo{FullMethod: dtsproto.MethodGetWorkItems}, handler); err != nil {
		t.Fatal(err)
	}
}
