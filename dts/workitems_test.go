package dts

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/microsoft/durabletask-go/backend" // registers the protocol's message types
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/approvals-go/approvals/dts/dtsproto"
	"github.com/approvals-go/approvals/dts/dtstest"
)

func orchestratorWorkItem(t *testing.T, instanceID, token string) proto.Message {
	wi := dtstest.NewMessage(t, "WorkItem")
	req := wi.Mutable(wi.Descriptor().Fields().ByName("orchestratorRequest")).Message()
	dtstest.SetField(req, "instanceId", protoreflect.ValueOfString(instanceID))
	dtsproto.SetString(wi, dtsproto.FieldWorkItemCompletionToken, token)
	return wi.Interface()
}

func activityWorkItem(t *testing.T, instanceID string, taskID int32, token string) proto.Message {
	wi := dtstest.NewMessage(t, "WorkItem")
	req := wi.Mutable(wi.Descriptor().Fields().ByName("activityRequest")).Message()
	dtstest.SetField(req, "name", protoreflect.ValueOfString("act"))
	dtstest.SetField(req, "taskId", protoreflect.ValueOfInt32(taskID))
	inst := req.Mutable(req.Descriptor().Fields().ByName("orchestrationInstance")).Message()
	dtstest.SetField(inst, "instanceId", protoreflect.ValueOfString(instanceID))
	dtsproto.SetString(wi, dtsproto.FieldWorkItemCompletionToken, token)
	return wi.Interface()
}

func healthPing() proto.Message {
	m := &emptypb.Empty{}
	dtsproto.SetEmptyMessage(m.ProtoReflect(), dtsproto.FieldWorkItemHealthPing)
	return m
}

// fakeScheduler plays the service's side of the work item protocol with
// raw messages: the script sends what a test wants on GetWorkItems, and
// completions are recorded with the token they carried.
type fakeScheduler struct {
	script func(ss grpc.ServerStream) error

	mu          sync.Mutex
	request     *emptypb.Empty // the GetWorkItemsRequest, all fields unknown
	streamMD    metadata.MD
	completions []completion
}

type completion struct {
	method, token string
	hasToken      bool
}

func (f *fakeScheduler) handle(_ any, ss grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(ss)
	in := &emptypb.Empty{}
	if err := ss.RecvMsg(in); err != nil {
		return err
	}
	switch method {
	case dtsproto.MethodGetWorkItems:
		md, _ := metadata.FromIncomingContext(ss.Context())
		f.mu.Lock()
		f.request, f.streamMD = in, md
		f.mu.Unlock()
		return f.script(ss)
	case dtsproto.MethodCompleteOrchestratorTask, dtsproto.MethodCompleteActivityTask:
		field := dtsproto.FieldOrchestratorResponseCompletionToken
		if method == dtsproto.MethodCompleteActivityTask {
			field = dtsproto.FieldActivityResponseCompletionToken
		}
		tok, ok := dtsproto.String(in.ProtoReflect(), field)
		f.mu.Lock()
		f.completions = append(f.completions, completion{method, tok, ok})
		f.mu.Unlock()
	}
	return ss.SendMsg(&emptypb.Empty{})
}

func startFake(t *testing.T, f *fakeScheduler) string {
	t.Helper()
	srv := grpc.NewServer(grpc.UnknownServiceHandler(f.handle))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// openWorkItems opens GetWorkItems the way durabletask-go's generated
// client does: send the request, close the send side, then receive.
func openWorkItems(t *testing.T, ctx context.Context, conn *grpc.ClientConn) grpc.ClientStream {
	t.Helper()
	cs, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, dtsproto.MethodGetWorkItems)
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	req := dtstest.NewMessage(t, "GetWorkItemsRequest").Interface()
	if err := cs.SendMsg(req); err != nil {
		t.Fatalf("send request: %v", err)
	}
	if len(req.ProtoReflect().GetUnknown()) != 0 {
		t.Fatalf("the caller's request message was modified")
	}
	if err := cs.CloseSend(); err != nil {
		t.Fatalf("close send: %v", err)
	}
	return cs
}

func recvWorkItem(t *testing.T, cs grpc.ClientStream) protoreflect.Message {
	t.Helper()
	wi := dtstest.NewMessage(t, "WorkItem")
	if err := cs.RecvMsg(wi.Interface()); err != nil {
		t.Fatalf("receive work item: %v", err)
	}
	return wi
}

func TestWorkItemProtocol(t *testing.T) {
	f := &fakeScheduler{script: func(ss grpc.ServerStream) error {
		for _, m := range []proto.Message{
			healthPing(),
			orchestratorWorkItem(t, "inst-1", "tok-orch"),
			healthPing(), healthPing(),
			activityWorkItem(t, "inst-1", 3, "tok-act"),
		} {
			if err := ss.SendMsg(m); err != nil {
				return err
			}
		}
		<-ss.Context().Done()
		return nil
	}}
	addr := startFake(t, f)
	conn := dialTest(t, Config{Address: addr, TaskHub: "h", MaxOrchestrationWorkItems: 7, MaxActivityWorkItems: 11}, RoleWorker)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cs := openWorkItems(t, ctx, conn)

	// Pings never reach the caller: the first two messages it sees are the
	// two work items.
	first := recvWorkItem(t, cs)
	if got := dtsproto.WorkItemKey(first); got != dtsproto.OrchestratorKey("inst-1") {
		t.Fatalf("first work item %q, want the orchestrator request", got)
	}
	second := recvWorkItem(t, cs)
	if got := dtsproto.WorkItemKey(second); got != dtsproto.ActivityKey("inst-1", 3) {
		t.Fatalf("second work item %q, want the activity request", got)
	}

	f.mu.Lock()
	req, md := f.request, f.streamMD
	f.mu.Unlock()
	if n, ok := dtsproto.Int32(req.ProtoReflect(), dtsproto.FieldMaxConcurrentOrchestrationWorkItems); !ok || n != 7 {
		t.Errorf("maxConcurrentOrchestrationWorkItems = %d, %v; want 7", n, ok)
	}
	if n, ok := dtsproto.Int32(req.ProtoReflect(), dtsproto.FieldMaxConcurrentActivityWorkItems); !ok || n != 11 {
		t.Errorf("maxConcurrentActivityWorkItems = %d, %v; want 11", n, ok)
	}
	if len(md.Get("workerid")) != 1 || md.Get("taskhub")[0] != "h" {
		t.Errorf("stream metadata %v lacks workerid or taskhub", md)
	}

	complete := func(method string, resp protoreflect.Message) {
		t.Helper()
		if err := conn.Invoke(ctx, method, resp.Interface(), &emptypb.Empty{}); err != nil {
			t.Fatalf("%s: %v", method, err)
		}
	}
	orch := dtstest.NewMessage(t, "OrchestratorResponse")
	dtstest.SetField(orch, "instanceId", protoreflect.ValueOfString("inst-1"))
	act := dtstest.NewMessage(t, "ActivityResponse")
	dtstest.SetField(act, "instanceId", protoreflect.ValueOfString("inst-1"))
	dtstest.SetField(act, "taskId", protoreflect.ValueOfInt32(3))
	complete(dtsproto.MethodCompleteActivityTask, act)
	complete(dtsproto.MethodCompleteOrchestratorTask, orch)
	// A second completion of the same work item has no token left to send.
	orch2 := dtstest.NewMessage(t, "OrchestratorResponse")
	dtstest.SetField(orch2, "instanceId", protoreflect.ValueOfString("inst-1"))
	complete(dtsproto.MethodCompleteOrchestratorTask, orch2)

	f.mu.Lock()
	defer f.mu.Unlock()
	want := []completion{
		{dtsproto.MethodCompleteActivityTask, "tok-act", true},
		{dtsproto.MethodCompleteOrchestratorTask, "tok-orch", true},
		{dtsproto.MethodCompleteOrchestratorTask, "", false},
	}
	if len(f.completions) != len(want) {
		t.Fatalf("completions %+v, want %+v", f.completions, want)
	}
	for i := range want {
		if f.completions[i] != want[i] {
			t.Errorf("completion %d = %+v, want %+v", i, f.completions[i], want[i])
		}
	}
}

func TestSilentStreamIsBroken(t *testing.T) {
	f := &fakeScheduler{script: func(ss grpc.ServerStream) error {
		if err := ss.SendMsg(healthPing()); err != nil {
			return err
		}
		<-ss.Context().Done() // then silence
		return nil
	}}
	addr := startFake(t, f)
	logs := &dtstest.Logs{}
	conn := dialTest(t, Config{Address: addr, TaskHub: "h", WorkItemStreamTimeout: 100 * time.Millisecond, Logger: logs.Logger()}, RoleWorker)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs := openWorkItems(t, ctx, conn)
	err := cs.RecvMsg(dtstest.NewMessage(t, "WorkItem").Interface())
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "silent") {
		t.Fatalf("got %v, want Unavailable saying the stream went silent", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("the caller's context was affected: %v", ctx.Err())
	}
	if logs.Count("work item stream silent") != 1 {
		t.Fatalf("broken stream not logged once:\n%s", logs)
	}
}

func TestStreamWithoutPingsIsNotBroken(t *testing.T) {
	f := &fakeScheduler{script: func(ss grpc.ServerStream) error {
		<-ss.Context().Done() // a scheduler that never pings
		return nil
	}}
	addr := startFake(t, f)
	conn := dialTest(t, Config{Address: addr, TaskHub: "h", WorkItemStreamTimeout: 20 * time.Millisecond}, RoleWorker)
	ctx, cancel := context.WithCancel(context.Background())
	cs := openWorkItems(t, ctx, conn)
	done := make(chan error, 1)
	go func() { done <- cs.RecvMsg(dtstest.NewMessage(t, "WorkItem").Interface()) }()
	select {
	case err := <-done:
		t.Fatalf("stream of a scheduler that never pings was broken: %v", err)
	case <-time.After(time.Second): // fifty timeouts' worth of silence
	}
	cancel()
	if err := <-done; status.Code(err) != codes.Canceled {
		t.Fatalf("after cancel: %v, want Canceled", err)
	}
}

func TestStreamEndPassesThrough(t *testing.T) {
	f := &fakeScheduler{script: func(ss grpc.ServerStream) error { return nil }}
	addr := startFake(t, f)
	conn := dialTest(t, Config{Address: addr, TaskHub: "h"}, RoleWorker)
	cs := openWorkItems(t, context.Background(), conn)
	if err := cs.RecvMsg(dtstest.NewMessage(t, "WorkItem").Interface()); !errors.Is(err, io.EOF) {
		t.Fatalf("got %v, want io.EOF", err)
	}
}
