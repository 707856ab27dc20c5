package httpapi_test

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/microsoft/durabletask-go/client"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/dts"
	"github.com/approvals-go/approvals/httpapi"
	"github.com/approvals-go/approvals/internal/testenv"
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
	// client reaches the scheduler directly, as an operator's tools do.
	client *client.TaskHubGrpcClient
}

func serve(t testing.TB, opts httpapi.Options) *served {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	url := "http://" + srv.Listener.Addr().String()
	n := &notices{}
	env := testenv.StartWith(t, url, testenv.Options{Activities: func(a *approval.Activities) {
		a.Notifier, a.Links = n, opts.Links
	}})
	orch := &counting{Orchestrations: httpapi.NewScheduler(env.Conn, dts.Logger(testenv.Quiet()))}
	if opts.Logger == nil {
		opts.Logger = testenv.Quiet()
	}
	srv.Config.Handler = httpapi.New(orch, opts)
	srv.Start()
	t.Cleanup(srv.Close)
	return &served{url: url, orch: orch, notices: n, client: env.Client}
}
