// Package mgmt is the management half of the Durable Task protocol: finding
// orchestration instances, reading their history, and terminating,
// suspending, resuming, restarting and purging them.
//
// durabletask-go v0.6.0's client lacks most of these calls and its generated
// types predate several of their messages and fields, so this package
// speaks them itself, from descriptors of the current
// orchestrator_service.proto. Client makes the calls over any connection
// (dts.Dial's, for the Azure service, the emulator or the embedded
// scheduler); Methods serves them, for the embedded scheduler, from a
// Service. Both ends use the same descriptors.
package mgmt

import (
	"time"

	"github.com/microsoft/durabletask-go/api"
)

// Query selects instances for QueryInstances. Zero fields do not filter.
type Query struct {
	// Statuses keeps instances in any of these runtime statuses.
	Statuses []api.OrchestrationStatus
	// CreatedFrom and CreatedTo bound the creation time, both inclusive.
	CreatedFrom, CreatedTo time.Time
	// IDPrefix keeps instances whose ID starts with it.
	IDPrefix string
	// PageSize is the most instances a page holds; zero lets the scheduler
	// choose (the embedded scheduler's default is DefaultPageSize).
	PageSize int
	// ContinuationToken continues from the page that returned it.
	ContinuationToken string
	// FetchPayloads also returns inputs, outputs, custom statuses and
	// failure details.
	FetchPayloads bool
}

// DefaultPageSize is the page size of the embedded scheduler, and of the
// official SDKs, when a query names none.
const DefaultPageSize = 100

// MaxBatch is the most instance IDs one batch purge may name, as the
// protocol defines it.
const MaxBatch = 500

// Instance is an orchestration instance as QueryInstances and GetInstance
// return it: durabletask-go's metadata plus the fields the protocol added
// after v0.6.0.
type Instance struct {
	api.OrchestrationMetadata
	// ExecutionID identifies the current execution; it changes when the
	// orchestration continues as new or is restarted.
	ExecutionID string
	// CompletedAt is when the instance reached a final status; zero while
	// it has not.
	CompletedAt time.Time
	// Tags are the tags the instance was started with.
	Tags map[string]string
}

// Page is one page of a QueryInstances answer.
type Page struct {
	Instances []*Instance
	// ContinuationToken asks for the next page; empty on the last one.
	ContinuationToken string
}

// IDQuery selects instance IDs for ListInstanceIDs. Zero fields do not
// filter.
type IDQuery struct {
	Statuses []api.OrchestrationStatus
	// CompletedFrom (inclusive) and CompletedTo (exclusive) bound the
	// completion time. Only finished instances are listed (completed,
	// failed, terminated), in the order they finished.
	CompletedFrom, CompletedTo time.Time
	// PageSize is the most IDs a page holds; zero lets the scheduler
	// choose.
	PageSize int
	// LastInstanceKey continues after the page that returned it.
	LastInstanceKey string
}

// IDPage is one page of a ListInstanceIDs answer.
type IDPage struct {
	IDs []api.InstanceID
	// LastInstanceKey asks for the next page; empty on the last one.
	LastInstanceKey string
}

// PurgeFilter selects instances to purge. Only instances in a final status
// (completed, failed, terminated) are ever purged, whatever Statuses says.
type PurgeFilter struct {
	// CreatedFrom and CreatedTo bound the creation time, both inclusive.
	CreatedFrom, CreatedTo time.Time
	// Statuses keeps instances in any of these statuses; none means any
	// final status.
	Statuses []api.OrchestrationStatus
}

// PurgeRequest is one PurgeInstances call as a Service receives it: exactly
// one of ID, IDs and Filter is set.
type PurgeRequest struct {
	ID     api.InstanceID
	IDs    []api.InstanceID
	Filter *PurgeFilter
	// Recursive also purges the sub-orchestrations the instances started.
	Recursive bool
}
