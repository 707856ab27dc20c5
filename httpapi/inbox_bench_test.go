package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/httpapi"
)

// BenchmarkInbox measures inbox pages over 10,000 pending approvals on the
// embedded scheduler (in memory), through the real HTTP handler and gRPC:
//
//	go test ./httpapi -run '^$' -bench Inbox -benchtime 1000x
//
// Each shape reports its p50 and p99 latency. bob is named on every
// approval, dana on one in ten, and nobody on none.
func BenchmarkInbox(b *testing.B) {
	const pending = 10000
	e := serve(b, httpapi.Options{})
	ctx := context.Background()
	began := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < pending; i += 16 {
				approvers := []string{"bob"}
				if i%10 == 0 {
					approvers = append(approvers, "dana")
				}
				req := approval.Request{RequestID: fmt.Sprintf("bench-%05d", i), Requester: "ana", Item: fmt.Sprintf("item %d", i), Approvers: approvers}
				err := e.orch.Start(ctx, req)
				// A start refused while the scheduler's backlog is full
				// is sent again, as a client should.
				for errors.Is(err, httpapi.ErrBusy) {
					time.Sleep(10 * time.Millisecond)
					err = e.orch.Start(ctx, req)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	// The worker submits them in about the order they were started; once
	// the last is submitted, all are waiting for a decision.
	api := &apiEnv{url: e.url, orch: e.orch}
	for i := pending - 16; i < pending; i++ {
		api.until(b, fmt.Sprintf("bench-%05d", i), submitted)
	}
	b.Logf("%d approvals started and submitted in %s", pending, time.Since(began).Round(time.Millisecond))

	for _, shape := range []struct{ name, path, accept string }{
		{"bob-json", "/api/approvals?status=Pending&approver=bob", ""},
		{"bob-page", "/api/review?approver=bob", "text/html"},
		{"dana-json", "/api/approvals?status=Pending&approver=dana", ""},
		{"all-pending-json", "/api/approvals?status=Pending", ""},
		{"nobody-json", "/api/approvals?status=Pending&approver=nobody", ""},
	} {
		b.Run(shape.name, func(b *testing.B) {
			req, err := http.NewRequest(http.MethodGet, e.url+shape.path, nil)
			if err != nil {
				b.Fatal(err)
			}
			if shape.accept != "" {
				req.Header.Set("Accept", shape.accept)
			}
			took := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("%s = %d", shape.path, resp.StatusCode)
				}
				took = append(took, time.Since(start))
			}
			slices.Sort(took)
			b.ReportMetric(ms(took[len(took)/2]), "p50-ms")
			b.ReportMetric(ms(took[len(took)*99/100]), "p99-ms")
		})
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
