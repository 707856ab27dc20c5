// Package blobexport writes the sealed audit trail of every approval that
// ends to Azure Blob Storage, one blob per approval, so that the trail
// outlives the scheduler, which purges finished instances.
//
// It adds nothing to the orchestration (approvals already waiting replay
// the histories they recorded): it lists, outside the orchestration, the
// instances the scheduler says finished since the last pass
// (ListInstanceIds, ordered by completion) and writes each approval's
// trail as it would be served by GET /api/approvals/{id}/audit. A blob is
// created, never overwritten, so the container may carry a time-based
// immutability policy; an approval already exported, by this worker or
// another replica, is left as it is.
package blobexport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/microsoft/durabletask-go/api"

	"github.com/approvals-go/approvals/approval"
	"github.com/approvals-go/approvals/audit"
	"github.com/approvals-go/approvals/dts/mgmt"
)

// Source is what the exporter reads from the scheduler; *mgmt.Client
// implements it.
type Source interface {
	ListInstanceIDs(ctx context.Context, q mgmt.IDQuery) (mgmt.IDPage, error)
	Instance(ctx context.Context, id api.InstanceID, fetchPayloads bool) (*mgmt.Instance, error)
}

// Overlap is how far each pass looks back before the end of the last one:
// the scheduler stamps completion with its own clock, which may lag this
// worker's. What the overlap lists again is found already exported.
const Overlap = 5 * time.Minute

// Exporter writes ended approvals' trails to a container.
type Exporter struct {
	Source    Source
	Container *container.Client
	Signer    *audit.Signer
	// Every is the pause between passes; Lookback how far the first pass
	// looks back, since the exporter keeps no state of its own.
	Every, Lookback time.Duration
	Log             *slog.Logger
	// exported remembers what this process wrote, found written or found
	// to be no approval, since the start of the overlap, so that a pass
	// does not ask again.
	exported map[string]time.Time
}

// BlobName is the blob an approval's trail is written to.
func BlobName(id string) string { return id + ".json" }

// Run exports until ctx ends, a pass every Every. A failed pass is logged
// and retried from where it stopped.
func (e *Exporter) Run(ctx context.Context) {
	if e.Log == nil {
		e.Log = slog.Default()
	}
	from := time.Now().Add(-e.Lookback)
	for {
		next, n, err := e.Pass(ctx, from, time.Now())
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			e.Log.Warn("audit export pass failed; retrying", "err", err)
		} else if n > 0 {
			e.Log.Info("audit trails exported", "count", n)
		}
		from = next
		select {
		case <-ctx.Done():
			return
		case <-time.After(e.Every):
		}
	}
}

// Pass exports the approvals that ended in [from, to) and not yet
// exported, and returns how many blobs it wrote and where the next pass
// starts: to less the Overlap, or, when it failed, the completion of the
// last approval it exported, a time of the scheduler's clock like the
// completions it filters, so nothing is skipped.
func (e *Exporter) Pass(ctx context.Context, from, to time.Time) (next time.Time, written int, err error) {
	if e.exported == nil {
		e.exported = map[string]time.Time{}
	}
	for id, at := range e.exported {
		if at.Before(from) {
			delete(e.exported, id)
		}
	}
	done := from
	q := mgmt.IDQuery{CompletedFrom: from, CompletedTo: to}
	for {
		page, err := e.Source.ListInstanceIDs(ctx, q)
		if err != nil {
			return done, written, fmt.Errorf("list ended approvals: %w", err)
		}
		for _, id := range page.IDs {
			wrote, at, err := e.export(ctx, string(id))
			if err != nil {
				return done, written, err
			}
			if wrote {
				written++
			}
			if at.After(done) {
				done = at
			}
		}
		if page.LastInstanceKey == "" {
			return to.Add(-Overlap), written, nil
		}
		q.LastInstanceKey = page.LastInstanceKey
	}
}

// export writes one instance's trail unless it is no approval or was
// exported already, and says when the instance finished.
func (e *Exporter) export(ctx context.Context, id string) (wrote bool, finished time.Time, err error) {
	if at, ok := e.exported[id]; ok {
		return false, at, nil
	}
	in, err := e.Source.Instance(ctx, api.InstanceID(id), true)
	if errors.Is(err, api.ErrInstanceNotFound) {
		return false, time.Time{}, nil // purged since it was listed
	}
	if err != nil {
		return false, time.Time{}, fmt.Errorf("read %s: %w", id, err)
	}
	finished = in.CompletedAt
	st, ok := approval.StateOf(&in.OrchestrationMetadata)
	if !ok {
		e.exported[id] = finished // a callback's orchestration: nothing to write
		return false, finished, nil
	}
	trail, err := e.Signer.Trail(st)
	if err != nil {
		return false, finished, nil // not ended after all: a later pass takes it
	}
	line, err := json.Marshal(trail)
	if err != nil {
		return false, finished, fmt.Errorf("encode the audit trail of %s: %w", id, err)
	}
	etagAny := azcore.ETagAny
	_, err = e.Container.NewBlockBlobClient(BlobName(id)).UploadBuffer(ctx, append(line, '\n'), &blockblob.UploadBufferOptions{
		HTTPHeaders: &blob.HTTPHeaders{BlobContentType: to.Ptr("application/jsonl")},
		// Create only: an existing blob is the trail exported before.
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: &etagAny}},
	})
	switch {
	case bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet, bloberror.BlobImmutableDueToPolicy):
	case err != nil:
		return false, finished, fmt.Errorf("write the audit trail of %s: %w", id, err)
	default:
		wrote = true
	}
	e.exported[id] = finished
	return wrote, finished, nil
}

// NewContainer returns the client of the container at containerURL: with
// the account key of connectionString when it is set (Azurite, or an
// account that allows shared keys), else with cred (the worker's managed
// identity in Azure).
func NewContainer(containerURL, connectionString string, cred azcore.TokenCredential) (*container.Client, error) {
	if connectionString == "" {
		if cred == nil {
			return nil, errors.New("no credential for the audit container: set a connection string, or give the worker an identity")
		}
		return container.NewClient(containerURL, cred, nil)
	}
	var name, key string
	for _, part := range strings.Split(connectionString, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch strings.ToLower(k) {
		case "accountname":
			name = v
		case "accountkey":
			key = v
		}
	}
	if name == "" || key == "" {
		return nil, errors.New("the storage connection string has no AccountName and AccountKey")
	}
	keyCred, err := container.NewSharedKeyCredential(name, key)
	if err != nil {
		return nil, errors.New("the storage connection string's AccountKey is not base64")
	}
	return container.NewClientWithSharedKeyCredential(containerURL, keyCred, nil)
}
