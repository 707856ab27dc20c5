// Package azuritetest runs Azurite, the Azure Storage emulator, for tests
// that write blobs: its blob service on a free port of the loopback
// interface, in memory, for the test's lifetime. Azurite is installed
// from the package.json and package-lock.json in testdata/azurite with
// npm (internal/nodetest): without Node a developer's run skips, CI fails.
package azuritetest

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/approvals-go/approvals/dts/dtstest"
	"github.com/approvals-go/approvals/internal/nodetest"
)

// The development account every Azurite serves, with its published key.
const (
	Account    = "devstoreaccount1"
	AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// Azurite is a running blob service.
type Azurite struct {
	// BlobEndpoint is the account's blob endpoint, such as
	// http://127.0.0.1:10000/devstoreaccount1.
	BlobEndpoint string
}

// ConnectionString is the development account's connection string.
func (a Azurite) ConnectionString() string {
	return fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=%s;", Account, AccountKey, a.BlobEndpoint)
}

// ContainerURL is the URL of container in the development account.
func (a Azurite) ContainerURL(container string) string { return a.BlobEndpoint + "/" + container }

// Start runs Azurite's blob service until the test ends.
func Start(t testing.TB) Azurite {
	t.Helper()
	_, self, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(self), "testdata", "azurite")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := nodetest.Command(t, ctx, dir, nil, filepath.Join("node_modules", "azurite", "dist", "src", "blob", "main.js"),
		"--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(port), "--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry")
	out := &dtstest.Logs{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start Azurite: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("--- Azurite ---\n%s", out.String())
		}
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case <-done:
			t.Fatalf("Azurite exited at start:\n%s", out.String())
		default:
		}
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return Azurite{BlobEndpoint: "http://" + addr + "/" + Account}
		}
	}
	t.Fatalf("Azurite did not listen on %s within 30s:\n%s", addr, out.String())
	return Azurite{}
}
