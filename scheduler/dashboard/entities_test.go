package dashboard

import (
	"context"
	"testing"

	"github.com/approvals-go/approvals/dts"
	"github.com/approvals-go/approvals/dts/mgmt"
)

// The entities list and an entity's page. No worker here hosts entities,
// so a signalled entity waits with its message and no state: it is listed
// only with "Include entities without state". The state shown once a
// worker has run it is checked end to end in e2e (TestJSSDKEntities).
func TestEntitiesPages(t *testing.T) {
	e := newEnv(t, envOptions{})
	store := e.srv.Store(dts.DefaultTaskHub)
	for _, key := range []string{"a", "b/c"} {
		if err := store.SignalEntity(context.Background(), &mgmt.EntityMessage{Kind: mgmt.EntitySignal, Target: "@Counter@" + key, Operation: "add"}); err != nil {
			t.Fatal(err)
		}
	}
	r := e.get("/hubs/default/entities")
	wantStatus(t, "entities", r, 200)
	wantBody(t, "entities without transient", r, "No entities match.")
	r = e.get("/hubs/default/entities?prefix=counter&transient=1")
	wantBody(t, "entities", r, `href="/hubs/default/entities/@counter@a"`, `href="/hubs/default/entities/@counter@b%2Fc"`, "none")
	inOrder(t, "entities", r.body, "@counter@a", "@counter@b/c")

	r = e.get("/hubs/default/entities/@counter@b%2Fc")
	wantStatus(t, "entity", r, 200)
	wantBody(t, "entity", r, "@counter@b/c", "<dt>Key</dt><dd><code>b/c</code></dd>", "<dt>Messages waiting</dt><dd>1</dd>", "The entity has no state")
	wantStatus(t, "unknown entity", e.get("/hubs/default/entities/@counter@zz"), 404)
	wantBody(t, "list links entities", e.get("/hubs/default/"), `href="/hubs/default/entities"`)
	wantBody(t, "hubs link entities", e.get("/"), `href="/hubs/default/entities"`)
}
