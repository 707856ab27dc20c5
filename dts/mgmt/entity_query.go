package mgmt

import (
	"time"
)

// Entity is an entity as GetEntity and QueryEntities return it.
type Entity struct {
	// ID is "@name@key".
	ID           string
	LastModified time.Time
	// Backlog is how many messages wait for it.
	Backlog int
	// LockedBy is the orchestration holding its lock, if any.
	LockedBy string
	// State is its serialized state; HasState is false for an entity
	// without state (transient: it has only messages or a lock).
	State    string
	HasState bool
}

// EntityQuery selects entities for QueryEntities.
type EntityQuery struct {
	// IDPrefix keeps entities whose ID starts with it ("@counter@" for
	// the counters).
	IDPrefix string
	// ModifiedFrom and ModifiedTo bound the last modification, both
	// inclusive.
	ModifiedFrom, ModifiedTo time.Time
	IncludeState             bool
	// IncludeTransient also lists entities without state.
	IncludeTransient  bool
	PageSize          int
	ContinuationToken string
}

// EntityPage is one page of QueryEntities.
type EntityPage struct {
	Entities          []*Entity
	ContinuationToken string
}

// CleanEntities asks CleanEntityStorage to remove entities without state
// or messages, and to release locks held by orchestrations that have
// finished or no longer exist.
type CleanEntities struct {
	RemoveEmpty, ReleaseOrphanedLocks bool
}

// CleanedEntities is what CleanEntityStorage did.
type CleanedEntities struct {
	EmptyRemoved, LocksReleased int
}

func entityMetadata(e *Entity, withState bool) fields {
	m := newMessage(msgEntityMetadata)
	m.setStr("instanceId", e.ID)
	m.setTime("lastModifiedTime", e.LastModified)
	m.setInt32("backlogQueueSize", int32(e.Backlog))
	if e.LockedBy != "" {
		m.setWrapped("lockedBy", e.LockedBy)
	}
	if withState && e.HasState {
		m.setWrapped("serializedState", e.State)
	}
	return m
}

func entityQueryOf(q fields) (EntityQuery, error) {
	out := EntityQuery{
		ModifiedFrom:     q.time("lastModifiedFrom"),
		ModifiedTo:       q.time("lastModifiedTo"),
		IncludeState:     q.boolean("includeState"),
		IncludeTransient: q.boolean("includeTransient"),
	}
	out.IDPrefix, _ = q.wrapped("instanceIdStartsWith")
	out.ContinuationToken, _ = q.wrapped("continuationToken")
	if q.has("pageSize") {
		size, err := requestedSize(q.get("pageSize").int32("value"))
		if err != nil {
			return out, err
		}
		out.PageSize = size
	}
	return out, nil
}
