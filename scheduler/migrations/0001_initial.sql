-- One row per orchestration instance: its metadata as clients read it.
CREATE TABLE IF NOT EXISTS instances (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    execution_id  TEXT NOT NULL DEFAULT '',
    status        INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    completed_at  INTEGER,
    input         TEXT,
    output        TEXT,
    custom_status TEXT,
    failure       BLOB
) WITHOUT ROWID;

-- The replay history of each instance, in order.
CREATE TABLE IF NOT EXISTS history (
    instance_id TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    payload     BLOB NOT NULL,
    PRIMARY KEY (instance_id, seq)
) WITHOUT ROWID;

-- Events waiting for an orchestrator: starts, raised events, activity
-- results and timers. visible_at is 0 for "now", or when a timer is due.
CREATE TABLE IF NOT EXISTS inbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    visible_at  INTEGER NOT NULL DEFAULT 0,
    payload     BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS inbox_by_instance ON inbox (instance_id);

-- Activity invocations waiting for a worker.
CREATE TABLE IF NOT EXISTS tasks (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    payload     BLOB NOT NULL
);
