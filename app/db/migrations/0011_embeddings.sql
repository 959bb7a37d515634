-- Semantic search: vectors of images, video segments and analysis text (docs/embeddings-facts.md).
-- `space` is model + dimension: only vectors of one space are comparable; the search uses the configured one.
CREATE TABLE embeddings (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,       -- never reused: the vector index appends by id
    file_id        INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    kind           TEXT    NOT NULL CHECK (kind IN ('image', 'video', 'audio', 'summary', 'chapter', 'transcript')),
    start_seconds  REAL,
    end_seconds    REAL,
    source         TEXT    NOT NULL,                        -- 'media', 'analysis:<run id>', 'transcript:<id>'
    label          TEXT,                                    -- what a moment shows (a chapter's title)
    content_hash   TEXT    NOT NULL,                        -- what was embedded, to skip unchanged text
    backend        TEXT    NOT NULL,                        -- 'bedrock' | 'local'
    model          TEXT    NOT NULL,
    dimension      INTEGER NOT NULL,
    vector         BLOB    NOT NULL,                        -- float32 little-endian, unit length
    created_at     TEXT    NOT NULL
);
CREATE INDEX embeddings_file ON embeddings (file_id, model, dimension);
CREATE INDEX embeddings_space ON embeddings (model, dimension, id);

-- Bumped by every delete, so a vector index built before it knows it holds rows that are gone.
CREATE TABLE embedding_index_state (
    name    TEXT PRIMARY KEY,
    version INTEGER NOT NULL DEFAULT 0
);
INSERT INTO embedding_index_state (name, version) VALUES ('deletes', 0);

CREATE TRIGGER embeddings_deleted AFTER DELETE ON embeddings
BEGIN
    UPDATE embedding_index_state SET version = version + 1 WHERE name = 'deletes';
END;

-- Files whose vectors must be made or refreshed; claimed by the embed task like any other work.
CREATE TABLE embedding_pending (
    file_id       INTEGER PRIMARY KEY REFERENCES files (id) ON DELETE CASCADE,
    queued_at     TEXT NOT NULL,
    claimed_by    TEXT,
    claimed_until TEXT
);

-- A PARTIAL run (a long video with a segment missing) has a merged result worth embedding too.
CREATE TRIGGER embedding_run_completed AFTER UPDATE OF status ON analysis_runs
WHEN NEW.status IN ('COMPLETED', 'PARTIAL') AND OLD.status NOT IN ('COMPLETED', 'PARTIAL')
BEGIN
    INSERT OR IGNORE INTO embedding_pending (file_id, queued_at)
    VALUES (NEW.file_id, strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now'));
END;

-- A new or changed transcript is embedded too (its windows of speech become text vectors).
CREATE TRIGGER embedding_transcript_saved AFTER INSERT ON transcripts
BEGIN
    INSERT OR IGNORE INTO embedding_pending (file_id, queued_at)
    VALUES (NEW.file_id, strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now'));
END;

CREATE TRIGGER embedding_transcript_changed AFTER UPDATE OF text ON transcripts
WHEN NEW.text IS NOT OLD.text
BEGIN
    INSERT OR IGNORE INTO embedding_pending (file_id, queued_at)
    VALUES (NEW.file_id, strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now'));
END;

-- One asynchronous (segmented) video embedding per row, followed by the batch poller like a chunk.
CREATE TABLE embedding_invocations (
    id              INTEGER PRIMARY KEY,
    file_id         INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    status          TEXT    NOT NULL DEFAULT 'QUEUED'
                    CHECK (status IN ('QUEUED', 'IN_PROGRESS', 'FETCHING', 'COMPLETED', 'FAILED')),
    provider_status TEXT,
    model           TEXT    NOT NULL,
    dimension       INTEGER NOT NULL,
    segment_seconds INTEGER NOT NULL,
    embedding_mode  TEXT    NOT NULL,
    client_token    TEXT    NOT NULL UNIQUE,               -- chosen and stored before StartAsyncInvoke
    invocation_arn  TEXT    UNIQUE,
    input_key       TEXT    NOT NULL,                      -- the video as staged in the object store
    output_prefix   TEXT    NOT NULL,                      -- where the output was asked to go
    output_uri      TEXT,                                  -- where the service says it went
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_error      TEXT,
    failure_message TEXT,
    claimed_by      TEXT,
    claimed_until   TEXT,
    created_at      TEXT    NOT NULL,
    submitted_at    TEXT,
    last_checked_at TEXT,
    completed_at    TEXT,
    updated_at      TEXT    NOT NULL
);
CREATE INDEX embedding_invocations_status ON embedding_invocations (status, next_attempt_at);
CREATE INDEX embedding_invocations_file ON embedding_invocations (file_id);

-- Objects of invocations whose file was deleted while they ran: the poller removes them.
CREATE TABLE embedding_orphans (
    prefix TEXT PRIMARY KEY
);

CREATE TRIGGER embedding_invocation_deleted AFTER DELETE ON embedding_invocations
WHEN OLD.status NOT IN ('COMPLETED', 'FAILED')
BEGIN
    INSERT OR IGNORE INTO embedding_orphans (prefix) VALUES (OLD.input_key);
    INSERT OR IGNORE INTO embedding_orphans (prefix) VALUES (OLD.output_prefix);
END;
