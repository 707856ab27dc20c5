package httpapi_test

import (
	"context"
	"net"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/client"
	"github.com/microsoft/durabletask-go/task"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/dts"
	"github.com/approvals-go/approvals/httpapi"
	"github.com/approvals-go/approvals/internal/testenv"
	"github.com/approvals-go/approvals/scheduler"
)

// notices records what the submit activity tells approvers: the links,
// signed ones included, that a person would find in their mail.
type notices struct {
	mu   sync.Mutex
	list []approval.Notice
}

func (n *notices) NotifyApprover(_ context.Context, note approval.Notice) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.list = append(n.list, note)
	return nil
}

// link waits for the notice of approval id sent to approver and returns
// its link.
func (n *notices) link(t testing.TB, id, approver string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		n.mu.Lock()
		for _, note := range n.list {
			if note.Request.RequestID == id && note.Approver == approver {
				n.mu.Unlock()
				return note.URL
			}
		}
		n.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no notice of %s was sent to %s", id, approver)
	return ""
}

// served is the API on a real loopback port over an in-memory embedded
// scheduler, with an approval worker whose links point at the API and are
// signed with opts.Links, if set.
type served struct {
	url     string
	orch    *counting
	notices *notices
}

func serve(t testing.TB, opts httpapi.Options) *served {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	url := "http://" + srv.Listener.Addr().String()

	ctx, cancel := context.WithCancel(context.Background())
	sched, err := scheduler.New(ctx, scheduler.Options{Logger: testenv.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go sched.Serve(lis)
	cfg, err := dts.Settings{Endpoint: "http://" + lis.Addr().String(), TaskHub: dts.DefaultTaskHub}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	wconn, err := dts.Dial(ctx, cfg, dts.RoleWorker)
	if err != nil {
		t.Fatal(err)
	}
	cconn, err := dts.Dial(ctx, cfg, dts.RoleClient)
	if err != nil {
		t.Fatal(err)
	}
	n := &notices{}
	acts := approval.NewActivities(url, testenv.Quiet())
	acts.Notifier, acts.Links = n, opts.Links
	r := task.NewTaskRegistry()
	if err := approval.Register(r, acts); err != nil {
		t.Fatal(err)
	}
	if err := client.NewTaskHubGrpcClient(wconn, dts.Logger(testenv.Quiet())).StartWorkItemListener(ctx, r); err != nil {
		t.Fatal(err)
	}

	orch := &counting{Orchestrations: httpapi.NewScheduler(cconn, dts.Logger(testenv.Quiet()))}
	if opts.Logger == nil {
		opts.Logger = testenv.Quiet()
	}
	srv.Config.Handler = httpapi.New(orch, opts)
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		cancel()
		wconn.Close()
		cconn.Close()
		closeCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		sched.Close(closeCtx)
	})
	return &served{url: url, orch: orch, notices: n}
}
