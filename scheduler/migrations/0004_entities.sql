-- Durable entities. An entity has a row once a message is sent to it; its
-- state is NULL while it has none (it never had, or an operation deleted
-- it), locked_by and lock_id name the orchestration and the critical
-- section holding its lock.
CREATE TABLE entities (
    id         TEXT PRIMARY KEY,
    state      TEXT,
    locked_by  TEXT,
    lock_id    TEXT,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Messages waiting for an entity (operations, lock requests and unlocks),
-- as history events; visible_at is 0 for "now", or when a delayed signal
-- is due.
CREATE TABLE entity_inbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    entity_id  TEXT NOT NULL,
    visible_at INTEGER NOT NULL DEFAULT 0,
    payload    BLOB NOT NULL
);
CREATE INDEX entity_inbox_by_entity ON entity_inbox (entity_id, seq);
