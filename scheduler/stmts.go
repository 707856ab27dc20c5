package scheduler

import (
	"context"
	"database/sql"
	"strings"
	"sync"
)

// SQLite spends more time parsing a statement than running one of these,
// so statements are prepared once per connection and reused.

// maxCachedParams keeps statements with long generated IN lists, whose
// variety is unbounded, out of the cache.
const maxCachedParams = 32

type stmtCache struct {
	db *sql.DB
	// deferred caches for the writer, whose only connection is inside the
	// transaction whenever a statement is wanted: preparing on the DB then
	// would wait for that very connection. Such statements are noted and
	// prepared by prepareWanted once the transaction has ended.
	deferred bool
	mu       sync.Mutex
	m        map[string]*sql.Stmt
	wanted   map[string]bool
}

func newStmtCache(db *sql.DB, deferred bool) *stmtCache {
	return &stmtCache{db: db, deferred: deferred, m: map[string]*sql.Stmt{}, wanted: map[string]bool{}}
}

// get returns the prepared statement for query, or nil when it is not
// cached (and the caller should run the query directly).
func (c *stmtCache) get(ctx context.Context, query string) *sql.Stmt {
	if strings.Count(query, "?") > maxCachedParams {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok {
		return st
	}
	if c.deferred {
		c.wanted[query] = true
		return nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil // running it directly reports the error
	}
	c.m[query] = st
	return st
}

// prepareWanted prepares the statements get was asked for while it could
// not prepare them.
func (c *stmtCache) prepareWanted(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for query := range c.wanted {
		if st, err := c.db.PrepareContext(ctx, query); err == nil {
			c.m[query] = st
		}
		delete(c.wanted, query)
	}
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m = map[string]*sql.Stmt{}
}

// txn is the committer's transaction, running statements from the cache.
type txn struct {
	*sql.Tx
	cache *stmtCache
}

func (t *txn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.cache.get(ctx, query); st != nil {
		return t.Tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, query, args...)
}

func (t *txn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.cache.get(ctx, query); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, query, args...)
}
