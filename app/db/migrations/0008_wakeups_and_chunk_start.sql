-- Wake-ups across processes: a writer bumps a counter when it leaves work for a background engine (a chunk
-- ready to submit, a provider job that finished); the engine reads the counters every second or so.
CREATE TABLE wakeups (
    name    TEXT PRIMARY KEY,
    counter INTEGER NOT NULL DEFAULT 0
);

-- When the provider started running a chunk's job (first seen InProgress): with submitted_at and
-- completed_at it gives each model's queue wait and records per minute, for the ETA of later chunks.
ALTER TABLE chunks ADD COLUMN started_at TEXT;
