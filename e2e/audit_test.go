package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/approvals-go/approvals/audit/blobexport"
	"github.com/approvals-go/approvals/internal/azuritetest"
)

// getRaw fetches path from the handler and returns its status, headers and
// body as sent.
func (s *stack) getRaw(path string) (int, http.Header, []byte) {
	s.t.Helper()
	resp, body := fetchResponse(s.t, http.DefaultClient, s.url(path), nil)
	return resp.StatusCode, resp.Header, body
}

var nextLink = regexp.MustCompile(`^<([^>]+)>; rel="next"$`)

// exportAudit reads every page of GET /api/audit for the period, following
// the Link headers, and returns the lines as one file.
func (s *stack) exportAudit(from, to time.Time, limit string) []byte {
	s.t.Helper()
	path := "/api/audit?from=" + from.UTC().Format(time.RFC3339Nano) + "&to=" + to.UTC().Format(time.RFC3339Nano) + "&limit=" + limit
	var all []byte
	for pages := 0; path != ""; pages++ {
		if pages > 20 {
			s.t.Fatal("the export never ends")
		}
		code, h, body := s.getRaw(path)
		if code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "application/jsonl") {
			s.t.Fatalf("GET %s = %d %s\n%s", path, code, h.Get("Content-Type"), body)
		}
		all = append(all, body...)
		path = ""
		if m := nextLink.FindStringSubmatch(h.Get("Link")); m != nil {
			path = strings.TrimPrefix(m[1], s.url(""))
		}
	}
	return all
}

// runAudit runs cmd/audit as docs/audit.md shows it and returns its exit
// code and output.
func runAudit(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binaries(t), "audit"), args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	return exitCode(cmd.Run()), stdout.String(), stderr.String()
}

// publicKey is what `audit public-key` prints first for the key keyEnv
// sets.
func publicKey(t *testing.T, keyEnv string) string {
	t.Helper()
	code, pub, stderr := runAudit(t, []string{keyEnv}, "public-key")
	if code != 0 || strings.TrimSpace(pub) == "" {
		t.Fatalf("audit public-key: exit %d %s", code, stderr)
	}
	return strings.Fields(pub)[0]
}

// An approval decided through the real processes has an audit trail: its
// route serves it sealed once it has ended (409 before), the export holds
// it, and `audit verify` with the deployment's public key accepts the
// export, then refuses it with one byte changed, naming the entry.
func TestAuditTrailExportedAndVerified(t *testing.T) {
	seed := make([]byte, 32)
	if _, err := rand.Read(seed); err != nil {
		t.Fatal(err)
	}
	keyEnv := "APPROVALS_AUDIT_KEY=" + base64.StdEncoding.EncodeToString(seed)
	s := newStackWith(t, func(s *stack) { s.handlerEnv = append(s.handlerEnv, keyEnv) })
	from := time.Now().Add(-time.Minute)

	s.startApproval("audit-one", map[string]any{"approver": "Bob"})
	s.startApproval("audit-all", map[string]any{"approvers": []string{"bob", "cy"}, "policy": "all"})
	s.startApproval("audit-open", nil)
	for _, id := range []string{"audit-one", "audit-all", "audit-open"} {
		s.waitSubmitted(id)
	}
	if code, _, body := s.getRaw("/api/approvals/audit-open/audit"); code != http.StatusConflict || !strings.Contains(string(body), "pending") {
		t.Fatalf("the audit of a pending approval = %d %s, want 409", code, body)
	}
	if code, _, body := s.getRaw("/api/approvals/no-such-approval/audit"); code != http.StatusNotFound {
		t.Fatalf("the audit of an unknown approval = %d %s, want 404", code, body)
	}
	s.decide("audit-one", true, "bob")
	s.decide("audit-all", true, "bob")
	s.decide("audit-all", true, "cy")
	for _, id := range []string{"audit-one", "audit-all"} {
		if out := s.outcome(id, 20*time.Second); out["status"] != "Approved" {
			t.Fatalf("%s ended %v", id, out)
		}
	}

	code, _, body := s.getRaw("/api/approvals/audit-one/audit")
	if code != http.StatusOK {
		t.Fatalf("the audit of audit-one = %d %s", code, body)
	}
	var trail struct {
		Entries []map[string]any `json:"entries"`
		Seal    map[string]any   `json:"seal"`
	}
	if err := json.Unmarshal(body, &trail); err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, e := range trail.Entries {
		events = append(events, e["event"].(string))
	}
	if strings.Join(events, ",") != "requested,decided,ended" || trail.Seal["entries"] != 3.0 {
		t.Fatalf("audit-one's trail: %s", body)
	}
	if d := trail.Entries[1]; d["actor"] != "bob" || d["action"] != "approve" || d["channel"] != "api" || d["auth"] != "development" || d["comments"] != "via e2e" {
		t.Errorf("audit-one's decision entry: %v", d)
	}

	// The route's answer is itself a file that verify reads, from
	// standard input.
	cmd := exec.Command(filepath.Join(binaries(t), "audit"), "verify", "-key", publicKey(t, keyEnv))
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "standard input: 1 trail checked") {
		t.Fatalf("audit verify of the route's answer: %v\n%s", err, out)
	}

	// limit=1 pages through one approval at a time.
	export := s.exportAudit(from, time.Now(), "1")
	lines := strings.Split(strings.TrimSpace(string(export)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0]+lines[1], `"approval":"audit-all"`) || !strings.Contains(lines[0]+lines[1], `"approval":"audit-one"`) {
		t.Fatalf("the export holds %d lines, want audit-one's and audit-all's:\n%s", len(lines), export)
	}
	if again := s.exportAudit(from, time.Now(), "100"); !bytes.Equal(again, export) {
		t.Fatalf("exported twice, two exports:\n%s\n%s", export, again)
	}

	// As docs/audit.md says: the public key from the deployment's key,
	// then the export checked with it.
	pub := publicKey(t, keyEnv)
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.WriteFile(file, export, 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runAudit(t, nil, "verify", "-key", pub, file)
	if code != 0 || !strings.Contains(stdout, "2 trails checked") {
		t.Fatalf("audit verify of the export: exit %d\n%s%s", code, stdout, stderr)
	}

	// One byte of the second trail's decision changed: bob becomes cob.
	tampered := []byte(lines[0] + "\n" + strings.Replace(lines[1], `"actor":"bob"`, `"actor":"cob"`, 1) + "\n")
	if bytes.Equal(tampered, export) {
		t.Fatal("the tampering changed nothing")
	}
	if err := os.WriteFile(file, tampered, 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runAudit(t, nil, "verify", "-key", pub, file)
	if code != 1 || !strings.Contains(stderr, "line 2") || !strings.Contains(stderr, "entry 2 was changed after it was chained") {
		t.Fatalf("audit verify of a tampered export: exit %d, want 1 naming line 2's entry 2\n%s%s", code, stdout, stderr)
	}
}

// With a container configured, the worker writes each ended approval's
// sealed trail to a blob named by its id (here in Azurite, with its
// development account's key): the very line the export serves. A pending
// approval has none.
func TestAuditExportedToBlobStorage(t *testing.T) {
	az := azuritetest.Start(t)
	c, err := blobexport.NewContainer(az.ContainerURL("audit"), az.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	seed := make([]byte, 32)
	if _, err := rand.Read(seed); err != nil {
		t.Fatal(err)
	}
	keyEnv := "APPROVALS_AUDIT_KEY=" + base64.StdEncoding.EncodeToString(seed)
	s := newStackWith(t, func(s *stack) {
		s.handlerEnv = append(s.handlerEnv, keyEnv)
		s.workerEnv = append(s.workerEnv, keyEnv, "APPROVALS_AUDIT_CONTAINER_URL="+az.ContainerURL("audit"),
			"APPROVALS_AUDIT_STORAGE_CONNECTION_STRING="+az.ConnectionString(), "APPROVALS_AUDIT_EXPORT_EVERY=100ms")
	})
	from := time.Now().Add(-time.Minute)
	s.startApproval("blob-decided", map[string]any{"approver": "bob"})
	s.startApproval("blob-open", nil)
	s.waitSubmitted("blob-decided")
	s.waitSubmitted("blob-open")
	s.decide("blob-decided", false, "bob")
	if out := s.outcome("blob-decided", 20*time.Second); out["status"] != "Rejected" {
		t.Fatalf("blob-decided ended %v", out)
	}
	export := s.exportAudit(from, time.Now(), "100")

	var blob []byte
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := c.NewBlobClient(blobexport.BlobName("blob-decided")).DownloadStream(context.Background(), nil)
		if err == nil {
			blob, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("blob-decided.json was not written within 20s: %v", err)
		}
	}
	if !bytes.Equal(blob, export) {
		t.Fatalf("the blob holds\n%s\nthe export served\n%s", blob, export)
	}
	if _, err := c.NewBlobClient(blobexport.BlobName("blob-open")).GetProperties(context.Background(), nil); err == nil {
		t.Fatal("a pending approval was exported")
	}
}

var devAuditKeyLine = regexp.MustCompile(`check with: go run ./cmd/audit verify -key (\S+) FILE`)

// cmd/dev seals trails with a key of its own when none is given, kept in
// its data directory so that a restart keeps it, and prints the public key
// that checks them: an approval decided there exports and verifies.
func TestDevAuditTrail(t *testing.T) {
	data := t.TempDir()
	runDev := func() (*proc, int, string) {
		port := freePort(t)
		dev := start(t, "dev", []string{"APPROVALS_AUDIT_KEY="}, "-http", fmt.Sprintf("127.0.0.1:%d", port), "-grpc", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "-dashboard", "", "-data", data)
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if m := devAuditKeyLine.FindStringSubmatch(dev.out.String()); m != nil {
				return dev, port, m[1]
			}
			if time.Now().After(deadline) {
				t.Fatalf("dev never printed its audit key:\n%s", dev.out.String())
			}
		}
	}
	dev, port, public := runDev()
	s := &stack{t: t, httpPort: port, routes: functionRoutes(t)}
	from := time.Now().Add(-time.Minute)
	s.startApproval("dev-audit", map[string]any{"approver": "bob"})
	s.waitSubmitted("dev-audit")
	s.decide("dev-audit", true, "bob")
	s.outcome("dev-audit", 20*time.Second)
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.WriteFile(file, s.exportAudit(from, time.Now(), "100"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := runAudit(t, nil, "verify", "-key", public, file); code != 0 || !strings.Contains(stdout, "1 trail checked") {
		t.Fatalf("audit verify of dev's export: exit %d\n%s%s", code, stdout, stderr)
	}
	dev.stop(t, syscall.SIGINT)
	if _, _, again := runDev(); again != public {
		t.Fatalf("after a restart dev seals with another key: %s, was %s", again, public)
	}
}
