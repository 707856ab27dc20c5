package dashboard

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/approvals-go/approvals/dts/mgmt"
)

// The entities pages: a task hub's durable entities in ascending ID order
// (as QueryEntities pages them), and one entity's state.

// entitiesPageSize is how many entities a page of the list shows.
const entitiesPageSize = 50

// entityRow is one entity in the list, or the entity of its page.
type entityRow struct {
	Name, Key string
	URL       string
	*mgmt.Entity
	// StatePretty is the state as indented JSON (or as stored if it is not
	// JSON); StateBrief its first characters for the list.
	StatePretty, StateBrief string
	// LockedByURL links the orchestration holding its lock.
	LockedByURL string
}

type entitiesView struct {
	Hub       string
	Prefix    string
	Transient bool
	Rows      []entityRow
	NextURL   string
	FirstURL  string
}

func entitiesURL(hub string) string { return hubURL(hub) + "entities" }

func entityURL(hub, id string) string { return hubURL(hub) + "entities/" + url.PathEscape(id) }

func (s *Server) entityRow(hub string, e *mgmt.Entity) entityRow {
	r := entityRow{URL: entityURL(hub, e.ID), Entity: e}
	r.Name, r.Key, _ = mgmt.SplitEntityID(e.ID)
	if e.HasState {
		r.StatePretty = prettyJSON(e.State)
		r.StateBrief = truncate(strings.Join(strings.Fields(e.State), " "), 80)
	}
	if e.LockedBy != "" {
		r.LockedByURL = instanceURL(hub, e.LockedBy)
	}
	return r
}

func (s *Server) entitiesPage(ctx context.Context, w http.ResponseWriter, r *http.Request, h Hub) {
	q := r.URL.Query()
	v := entitiesView{Hub: h.Name(), Prefix: strings.TrimSpace(q.Get("prefix")), Transient: q.Get("transient") != ""}
	page, err := h.Entities(ctx, mgmt.EntityQuery{IDPrefix: v.Prefix, IncludeTransient: v.Transient, IncludeState: true,
		PageSize: entitiesPageSize, ContinuationToken: q.Get("after")})
	if err != nil {
		s.fail(w, "list entities", err)
		return
	}
	for _, e := range page.Entities {
		v.Rows = append(v.Rows, s.entityRow(h.Name(), e))
	}
	keep := url.Values{}
	if v.Prefix != "" {
		keep.Set("prefix", v.Prefix)
	}
	if v.Transient {
		keep.Set("transient", "1")
	}
	if q.Get("after") != "" {
		v.FirstURL = entitiesURL(h.Name()) + "?" + keep.Encode()
	}
	if page.ContinuationToken != "" {
		keep.Set("after", page.ContinuationToken)
		v.NextURL = entitiesURL(h.Name()) + "?" + keep.Encode()
	}
	s.render(w, http.StatusOK, "entities", view{Title: "Entities · " + h.Name(), Hub: h.Name(), Refresh: true, Page: v})
}

func (s *Server) entityPage(ctx context.Context, w http.ResponseWriter, r *http.Request, h Hub) {
	e, err := h.Entity(ctx, r.PathValue("id"))
	if errors.Is(err, mgmt.ErrEntityNotFound) {
		s.notFound(w, "Task hub “"+h.Name()+"” has no entity “"+r.PathValue("id")+"”.")
		return
	}
	if err != nil {
		s.fail(w, "read entity", err)
		return
	}
	s.render(w, http.StatusOK, "entity", view{Title: e.ID, Hub: h.Name(), Refresh: true, Page: struct {
		Hub string
		entityRow
	}{h.Name(), s.entityRow(h.Name(), e)}})
}
