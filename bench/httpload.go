package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// HTTPConfig sizes an HTTP load run.
type HTTPConfig struct {
	N           int
	Concurrency int
	Progress    io.Writer
}

// RouteResult is the load figures of one route.
type RouteResult struct {
	Route      string  `json:"route"`
	Requests   int     `json:"requests"`
	Errors     int     `json:"errors"`
	PerSecond  float64 `json:"requests_per_second"`
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
	P999Ms     float64 `json:"p99_9_ms"`
	FirstError string  `json:"first_error,omitempty"`

	// Refused counts the answers 503 "scheduler busy", each followed by
	// the same request again; they are not timed.
	Refused int `json:"refused_for_load,omitempty"`
}

// HTTPReport is an HTTP load run.
type HTTPReport struct {
	Date        string        `json:"date"`
	CPUs        int           `json:"cpus"`
	Concurrency int           `json:"concurrency"`
	Routes      []RouteResult `json:"routes"`
}

// LoadHTTP starts the embedded scheduler, a worker and the real handler
// binary, then starts N approvals and decides them through the API with
// many connections at once.
func LoadHTTP(ctx context.Context, cfg HTTPConfig) (*HTTPReport, error) {
	t, err := launch(ctx, Ours)
	if err != nil {
		return nil, err
	}
	defer t.close()

	binDir, err := os.MkdirTemp("", "approvals-bench-handler")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(binDir)
	handlerBin := filepath.Join(binDir, "handler")
	if out, err := exec.Command("go", "build", "-o", handlerBin, "github.com/approvals-go/approvals/cmd/handler").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build handler: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	h := exec.Command(handlerBin)
	h.Env = append(os.Environ(), "ENDPOINT=http://"+t.grpcAddr, "TASKHUB=default",
		"FUNCTIONS_CUSTOMHANDLER_PORT="+strconv.Itoa(port), "APPROVALS_LOG_LEVEL=warn")
	h.Stderr = os.Stderr
	if err := h.Start(); err != nil {
		return nil, err
	}
	defer func() {
		h.Process.Signal(syscall.SIGTERM)
		h.Wait()
	}()
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency, MaxConnsPerHost: cfg.Concurrency}, Timeout: 30 * time.Second}
	if err := waitReady(hc, base); err != nil {
		return nil, err
	}

	rep := &HTTPReport{Date: time.Now().UTC().Format("2006-01-02"), CPUs: runtime.NumCPU(), Concurrency: cfg.Concurrency}
	ids := t.ids("http", cfg.N)
	fmt.Fprintf(cfg.Progress, "http: starting %d approvals through the handler\n", cfg.N)
	rep.Routes = append(rep.Routes, hammer(hc, "POST /api/approvals", ids, cfg.Concurrency, http.StatusAccepted, func(id string) (string, any) {
		return base + "/api/approvals", map[string]any{"request_id": id, "requester": "bench", "item": "item", "timeout": "1h"}
	}))
	if _, err := t.await(ctx, ids, waiting, 10*time.Minute); err != nil {
		return nil, err
	}
	// The inbox over every approval pending, one page at a time as a
	// person or a script reads it: the first page, and a page for one
	// approver (the approvals here name none, so anyone may decide).
	fmt.Fprintf(cfg.Progress, "http: reading inbox pages over %d pending approvals\n", cfg.N)
	for _, q := range []string{"?status=Pending", "?status=Pending&approver=bob"} {
		rep.Routes = append(rep.Routes, timeGets(hc, "GET /api/approvals"+q, base+"/api/approvals"+q, inboxSamples))
	}
	fmt.Fprintf(cfg.Progress, "http: deciding %d approvals through the handler\n", cfg.N)
	// 200: with the worker running, each decision is answered with its
	// outcome. The approver is not the requester, who may not decide.
	rep.Routes = append(rep.Routes, hammer(hc, "POST /api/approvals/{id}/decision", ids, cfg.Concurrency, http.StatusOK, func(id string) (string, any) {
		return base + "/api/approvals/" + id + "/decision", map[string]any{"approved": true, "approver": "bob"}
	}))
	if _, err := t.await(ctx, ids, complete, 10*time.Minute); err != nil {
		return nil, err
	}
	return rep, nil
}

// inboxSamples is how many inbox pages are timed.
const inboxSamples = 500

// timeGets reads url n times, one at a time, timing each.
func timeGets(hc *http.Client, route, url string, n int) RouteResult {
	res := RouteResult{Route: route, Requests: n}
	latencies := make([]time.Duration, 0, n)
	began := time.Now()
	for range n {
		t0 := time.Now()
		resp, err := hc.Get(url)
		var status int
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			status = resp.StatusCode
		}
		latencies = append(latencies, time.Since(t0))
		if err != nil || status != http.StatusOK {
			res.Errors++
			if res.FirstError == "" {
				res.FirstError = fmt.Sprintf("status %d, %v", status, err)
			}
		}
	}
	latencies = sortDurations(latencies)
	res.PerSecond = float64(n) / time.Since(began).Seconds()
	res.P50Ms, res.P99Ms, res.P999Ms = percentile(latencies, 50), percentile(latencies, 99), percentile(latencies, 99.9)
	return res
}

func waitReady(hc *http.Client, base string) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := hc.Get(base + "/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("handler at %s never became ready", base)
}

// hammer posts one request per id, c at a time, timing each. A request
// refused because the scheduler is busy is sent again after a short pause.
func hammer(hc *http.Client, route string, ids []string, c, want int, req func(id string) (string, any)) RouteResult {
	var (
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, len(ids))
		res       = RouteResult{Route: route, Requests: len(ids)}
	)
	began := time.Now()
	parallel(ids, c, func(id string) error {
		url, body := req(id)
		b, _ := json.Marshal(body)
		t0 := time.Now()
		status, busy, err := post(hc, url, b)
		for ; busy; status, busy, err = post(hc, url, b) {
			mu.Lock()
			res.Refused++
			mu.Unlock()
			time.Sleep(refusedPause)
			t0 = time.Now()
		}
		d := time.Since(t0)
		mu.Lock()
		defer mu.Unlock()
		latencies = append(latencies, d)
		if err != nil || status != want {
			res.Errors++
			if res.FirstError == "" {
				res.FirstError = fmt.Sprintf("%s: status %d, %v", id, status, err)
			}
		}
		return nil
	})
	elapsed := time.Since(began)
	latencies = sortDurations(latencies)
	res.PerSecond = float64(len(ids)) / elapsed.Seconds()
	res.P50Ms, res.P99Ms, res.P999Ms = percentile(latencies, 50), percentile(latencies, 99), percentile(latencies, 99.9)
	return res
}

// post sends a JSON body and reads the answer; busy reports a refusal
// because the scheduler is busy.
func post(hc *http.Client, url string, body []byte) (status int, busy bool, err error) {
	resp, err := hc.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	busy = resp.StatusCode == http.StatusServiceUnavailable && bytes.Contains(raw, []byte(`"scheduler_busy"`))
	return resp.StatusCode, busy, err
}

// PrintHTTP writes the HTTP load table.
func PrintHTTP(w io.Writer, rep *HTTPReport) {
	fmt.Fprintf(w, "\n%s, %d CPUs, %d concurrent connections\n\n", rep.Date, rep.CPUs, rep.Concurrency)
	fmt.Fprintf(w, "| %-34s | %8s | %6s | %9s | %8s | %8s | %8s |\n", "route", "requests", "errors", "req/s", "p50 ms", "p99 ms", "p99.9 ms")
	fmt.Fprintln(w, "|------------------------------------|---------:|-------:|----------:|---------:|---------:|---------:|")
	for _, r := range rep.Routes {
		fmt.Fprintf(w, "| %-34s | %8d | %6d | %9s | %8s | %8s | %8s |\n", r.Route, r.Requests, r.Errors,
			format(r.PerSecond), format(r.P50Ms), format(r.P99Ms), format(r.P999Ms))
		if r.FirstError != "" {
			fmt.Fprintf(w, "  first error: %s\n", r.FirstError)
		}
		if r.Refused > 0 {
			fmt.Fprintf(w, "  %d answered 503 (scheduler busy) and sent again, untimed\n", r.Refused)
		}
	}
}
