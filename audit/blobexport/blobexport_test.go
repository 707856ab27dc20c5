package blobexport_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/microsoft/durabletask-go/api"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/audit"
	"github.com/approvals-go/approvals/audit/blobexport"
	"github.com/approvals-go/approvals/dts/mgmt"
	"github.com/approvals-go/approvals/internal/azuritetest"
)

// source is a scheduler holding finished instances, listed two a page in
// the order they finished, as ListInstanceIds lists them.
type source struct {
	order     []string
	instances map[string]*mgmt.Instance
}

func (s *source) add(id, name, output string, completed time.Time) {
	s.order = append(s.order, id)
	s.instances[id] = &mgmt.Instance{CompletedAt: completed, OrchestrationMetadata: api.OrchestrationMetadata{
		InstanceID: api.InstanceID(id), Name: name, RuntimeStatus: api.RUNTIME_STATUS_COMPLETED,
		CreatedAt: completed.Add(-time.Hour), LastUpdatedAt: completed,
		SerializedInput: `{"request_id":"` + id + `","requester":"ana","item":"Laptop"}`, SerializedOutput: output}}
}

func (s *source) ListInstanceIDs(_ context.Context, q mgmt.IDQuery) (mgmt.IDPage, error) {
	var page mgmt.IDPage
	started := q.LastInstanceKey == ""
	for _, id := range s.order {
		if !started {
			started = id == q.LastInstanceKey
			continue
		}
		at := s.instances[id].CompletedAt
		if at.Before(q.CompletedFrom) || !at.Before(q.CompletedTo) {
			continue
		}
		if len(page.IDs) == 2 {
			page.LastInstanceKey = string(page.IDs[1])
			return page, nil
		}
		page.IDs = append(page.IDs, api.InstanceID(id))
	}
	return page, nil
}

func (s *source) Instance(_ context.Context, id api.InstanceID, _ bool) (*mgmt.Instance, error) {
	in, ok := s.instances[string(id)]
	if !ok {
		return nil, api.ErrInstanceNotFound
	}
	return in, nil
}

func read(t *testing.T, c *container.Client, name string) []byte {
	t.Helper()
	resp, err := c.NewBlobClient(name).DownloadStream(context.Background(), nil)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every approval that ended in the period is written once, as its sealed
// trail, to a blob named by its id; what is not an approval is not; a blob
// already there is never overwritten, and a second pass, by another
// process that remembers nothing, writes nothing.
func TestExportToAzurite(t *testing.T) {
	az := azuritetest.Start(t)
	ctx := context.Background()
	c, err := blobexport.NewContainer(az.ContainerURL("audit"), az.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, nil); err != nil {
		t.Fatal(err)
	}
	signer, err := audit.NewSigner(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, audit.KeySize)), "")
	if err != nil {
		t.Fatal(err)
	}
	end := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	src := &source{instances: map[string]*mgmt.Instance{}}
	src.add("req-1", approval.OrchestratorName, `{"request_id":"req-1","status":"Approved","processed_at":"2026-12-01T10:00:00Z","approver":"bob","comments":"","channel":"api","auth":"function_key"}`, end)
	src.add(approval.CallbackInstanceID("req-1"), approval.CallbackOrchestratorName, `null`, end.Add(time.Second))
	src.add("req-2", approval.OrchestratorName, `{"request_id":"req-2","status":"Timeout","timed_out_at":"2026-12-01T10:00:02Z"}`, end.Add(2*time.Second))
	src.add("req-3", approval.OrchestratorName, `{"request_id":"req-3","status":"Rejected","processed_at":"2026-12-01T10:00:03Z","approver":"cy","comments":"no"}`, end.Add(3*time.Second))
	src.add("req-late", approval.OrchestratorName, `{"request_id":"req-late","status":"Rejected","processed_at":"2026-12-01T11:00:00Z","approver":"cy","comments":"no"}`, end.Add(time.Hour))
	// Exported before, by hand or by an older version: left alone.
	if _, err := c.NewBlockBlobClient(blobexport.BlobName("req-3")).UploadBuffer(ctx, []byte("exported before\n"), nil); err != nil {
		t.Fatal(err)
	}

	e := &blobexport.Exporter{Source: src, Container: c, Signer: signer, Log: slog.New(slog.DiscardHandler)}
	next, written, err := e.Pass(ctx, end, end.Add(time.Minute))
	if err != nil || written != 2 {
		t.Fatalf("pass: %d written, %v; want req-1 and req-2", written, err)
	}
	if want := end.Add(time.Minute - blobexport.Overlap); !next.Equal(want) {
		t.Errorf("next pass from %v, want %v", next, want)
	}
	var names []string
	for pager := c.NewListBlobsFlatPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range page.Segment.BlobItems {
			names = append(names, *b.Name)
		}
	}
	if strings.Join(names, ",") != "req-1.json,req-2.json,req-3.json" {
		t.Fatalf("blobs %v", names)
	}
	if got := read(t, c, "req-3.json"); string(got) != "exported before\n" {
		t.Fatalf("req-3.json was overwritten: %q", got)
	}
	var both []byte
	for _, id := range []string{"req-1", "req-2"} {
		got := read(t, c, blobexport.BlobName(id))
		st, _ := approval.StateOf(&src.instances[id].OrchestrationMetadata)
		trail, err := signer.Trail(st)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(trail)
		if string(got) != string(want)+"\n" {
			t.Errorf("%s holds\n%s\nwant the trail the API serves\n%s", id, got, want)
		}
		both = append(both, got...)
	}
	if n, err := audit.VerifyLines(bytes.NewReader(both), signer.PublicKeys()...); n != 2 || err != nil {
		t.Fatalf("the blobs, concatenated, verify %d trails: %v", n, err)
	}

	again := &blobexport.Exporter{Source: src, Container: c, Signer: signer, Log: slog.New(slog.DiscardHandler)}
	if _, written, err := again.Pass(ctx, end, end.Add(time.Minute)); err != nil || written != 0 {
		t.Fatalf("a second pass wrote %d, %v; want none", written, err)
	}
}
