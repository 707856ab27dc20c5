-- Indexes for the management reads: newest-first pages of all instances or
-- of one status, completed instances by completion time (retention), and
-- the tags an instance was started with (a JSON object, NULL for none).
CREATE INDEX instances_by_created ON instances (created_at, id);
CREATE INDEX instances_by_status ON instances (status, created_at, id);
CREATE INDEX instances_by_completed ON instances (completed_at, id);
ALTER TABLE instances ADD COLUMN tags TEXT;
