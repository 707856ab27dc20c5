-- due_at orders an instance's waiting events: a timer by when it fires,
-- anything else by when the scheduler accepted it. Rows written before
-- this column existed keep their timer times; their other events count as
-- due at the beginning of time, ahead of any timer, which is where an
-- event accepted before its timer's deadline belongs.
ALTER TABLE inbox ADD COLUMN due_at INTEGER NOT NULL DEFAULT 0;
UPDATE inbox SET due_at = visible_at;
