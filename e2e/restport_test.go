package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// restQuery posts the Azure CLI's orchestrations/query to the task hub JSON
// API at base (the scheduler's endpoint) and returns the instances listed,
// by ID, with their status, and the protocol it was answered over.
func restQuery(t *testing.T, c *http.Client, base string, header http.Header) (map[string]string, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/v1/taskhubs/orchestrations/query",
		strings.NewReader(`{"filter":{},"pagination":{"startIndex":0,"count":100},"sort":[{"column":"LAST_UPDATED_AT","direction":"DESCENDING_SORT"}]}`))
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("query at the scheduler's endpoint: %v", err)
	}
	defer resp.Body.Close()
	var q struct {
		Orchestrations []struct{ InstanceID, OrchestrationStatus string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&q); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("query at the scheduler's endpoint over %s: %d %v", resp.Proto, resp.StatusCode, err)
	}
	listed := map[string]string{}
	for _, o := range q.Orchestrations {
		listed[o.InstanceID] = o.OrchestrationStatus
	}
	return listed, resp.Proto
}

// TestServiceRoutesAtTheSchedulerEndpoint: cmd/scheduler answers the task
// hub JSON API at /v1/taskhubs/ on its gRPC port, as the service does at
// its endpoint, to an HTTP/1.1 client and to an HTTP/2 client with prior
// knowledge, while the worker and the handler use the same port for gRPC.
func TestServiceRoutesAtTheSchedulerEndpoint(t *testing.T) {
	s := newStack(t)
	s.startApproval("rest-1", map[string]any{"timeout": "1h"})
	s.waitSubmitted("rest-1")

	base := fmt.Sprintf("http://127.0.0.1:%d", s.grpcPort)
	h2 := &http.Transport{Protocols: new(http.Protocols)}
	h2.Protocols.SetUnencryptedHTTP2(true)
	for _, c := range []*http.Client{{Timeout: 10 * time.Second}, {Transport: h2, Timeout: 10 * time.Second}} {
		listed, proto := restQuery(t, c, base, http.Header{"X-Taskhub": {"default"}})
		if listed["rest-1"] != "ORCHESTRATION_STATUS_RUNNING" {
			t.Errorf("over %s the query lists %v, want rest-1 running", proto, listed)
		}
		code, body := fetch(t, c, base+"/v1/taskhubs/orchestrations/rest-1/payloads", http.Header{})
		if code != http.StatusOK || !strings.Contains(body, `"input"`) {
			t.Errorf("over %s the payloads: %d %s", proto, code, body)
		}
	}

	// gRPC goes on through the same port: the decision reaches the
	// orchestration, and the query sees the outcome.
	s.decide("rest-1", true, "bob")
	if out := s.outcome("rest-1", 20*time.Second); out["status"] != "Approved" {
		t.Fatalf("the approval ended %v", out)
	}
	if listed, _ := restQuery(t, &http.Client{Timeout: 10 * time.Second}, base, nil); listed["rest-1"] != "ORCHESTRATION_STATUS_COMPLETED" {
		t.Errorf("after the decision the query lists %v", listed)
	}
}

// serviceRoutesOverTLS checks the JSON API at a TLS scheduler's endpoint:
// the token is required, as it is for gRPC.
func serviceRoutesOverTLS(t *testing.T, port int, roots *x509.CertPool, token, id string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}
	base := fmt.Sprintf("https://localhost:%d", port)
	if code, _ := fetch(t, c, base+"/v1/taskhubs/ping", http.Header{}); code != http.StatusUnauthorized {
		t.Errorf("the JSON API at the TLS endpoint without the token: %d, want 401", code)
	}
	listed, proto := restQuery(t, c, base, http.Header{"Authorization": {"Bearer " + token}})
	if _, ok := listed[id]; !ok || proto != "HTTP/2.0" {
		t.Errorf("the JSON API at the TLS endpoint with the token, over %s, lists %v, want %s", proto, listed, id)
	}
}
