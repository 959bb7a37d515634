-- Analysis runs and their per-type results; batch submissions and their chunks (Bedrock jobs).
CREATE TABLE batches (
    id                 INTEGER PRIMARY KEY,
    status             TEXT    NOT NULL DEFAULT 'PENDING'
                       CHECK (status IN ('PENDING', 'RUNNING', 'COMPLETED', 'PARTIAL', 'FAILED', 'CANCELLED')),
    model_key          TEXT    NOT NULL,
    model_id           TEXT    NOT NULL,
    mode               TEXT    NOT NULL CHECK (mode IN ('auto', 'batch', 'on_demand')),
    analysis_types     TEXT    NOT NULL,            -- JSON list
    options            TEXT    NOT NULL DEFAULT '{}',
    files_total        INTEGER NOT NULL DEFAULT 0,
    records_total      INTEGER NOT NULL DEFAULT 0,
    plan               TEXT,                         -- JSON: what runs how and why
    estimated_cost_usd REAL    NOT NULL DEFAULT 0,
    actual_cost_usd    REAL    NOT NULL DEFAULT 0,
    on_demand_job_id   TEXT,                         -- jobs.id of the on-demand part
    retry_of           INTEGER REFERENCES batches (id) ON DELETE SET NULL,
    cancel_requested   INTEGER NOT NULL DEFAULT 0,
    created_at         TEXT    NOT NULL,
    updated_at         TEXT    NOT NULL,
    completed_at       TEXT
);
CREATE INDEX batches_created ON batches (created_at);

-- One row per chunk, i.e. per Bedrock model invocation job (the earlier system's table name).
CREATE TABLE bedrock_batch_jobs (
    id                     INTEGER PRIMARY KEY,
    batch_id               INTEGER NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    chunk_index            INTEGER NOT NULL,
    total_chunks           INTEGER NOT NULL,
    status                 TEXT    NOT NULL DEFAULT 'QUEUED'
                           CHECK (status IN ('STAGING', 'QUEUED', 'SUBMITTED', 'IN_PROGRESS', 'FETCHING', 'COMPLETED',
                                             'PARTIAL', 'FAILED', 'CANCELLED', 'RESULT_FETCH_FAILED')),
    provider_status        TEXT,                     -- Bedrock's own status
    model_id               TEXT    NOT NULL,
    job_name               TEXT    NOT NULL UNIQUE,
    client_token           TEXT    NOT NULL UNIQUE,
    job_arn                TEXT    UNIQUE,
    job_id                 TEXT,
    staging_folder         TEXT    NOT NULL,
    manifest_key           TEXT    NOT NULL,
    output_prefix          TEXT    NOT NULL,
    files_count            INTEGER NOT NULL DEFAULT 0,
    bytes_total            INTEGER NOT NULL DEFAULT 0,
    records_total          INTEGER NOT NULL DEFAULT 0,
    records_processed      INTEGER,
    records_succeeded      INTEGER,
    records_failed         INTEGER,
    input_tokens           INTEGER NOT NULL DEFAULT 0,
    output_tokens          INTEGER NOT NULL DEFAULT 0,
    estimated_cost_usd     REAL    NOT NULL DEFAULT 0,
    actual_cost_usd        REAL    NOT NULL DEFAULT 0,
    submit_attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at        TEXT,
    results_fetch_attempts INTEGER NOT NULL DEFAULT 0,
    last_error             TEXT,
    failure_message        TEXT,
    manifest_totals        TEXT,                     -- JSON of manifest.json.out
    ingest_stats           TEXT,                     -- JSON: lines read, unknown/duplicate ids, mismatches
    claimed_by             TEXT,
    claimed_until          TEXT,
    created_at             TEXT    NOT NULL,
    submitted_at           TEXT,
    last_checked_at        TEXT,
    completed_at           TEXT,
    results_fetched_at     TEXT,
    cleanup_completed_at   TEXT,
    expires_at             TEXT,
    updated_at             TEXT    NOT NULL,
    UNIQUE (batch_id, chunk_index)
);
CREATE INDEX bedrock_batch_jobs_status ON bedrock_batch_jobs (status, model_id);

CREATE TABLE analysis_runs (
    id               INTEGER PRIMARY KEY,
    file_id          INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    batch_id         INTEGER REFERENCES batches (id) ON DELETE SET NULL,
    chunk_id         INTEGER REFERENCES bedrock_batch_jobs (id) ON DELETE SET NULL,
    job_id           TEXT,                           -- jobs.id for on-demand runs
    mode             TEXT    NOT NULL CHECK (mode IN ('on_demand', 'batch')),
    status           TEXT    NOT NULL DEFAULT 'PENDING'
                     CHECK (status IN ('PENDING', 'RUNNING', 'SUBMITTED', 'COMPLETED', 'FAILED')),
    model_key        TEXT    NOT NULL,
    model_id         TEXT    NOT NULL,
    analysis_types   TEXT    NOT NULL,               -- JSON list as requested
    options          TEXT    NOT NULL DEFAULT '{}',
    prompt_version   TEXT    NOT NULL,
    tokens_input     INTEGER NOT NULL DEFAULT 0,
    tokens_output    INTEGER NOT NULL DEFAULT 0,
    cost_usd         REAL    NOT NULL DEFAULT 0,
    truncated        INTEGER NOT NULL DEFAULT 0,
    error_code       TEXT,
    error_message    TEXT,
    processing_seconds REAL,
    created_at       TEXT    NOT NULL,
    started_at       TEXT,
    completed_at     TEXT
);
CREATE INDEX analysis_runs_file ON analysis_runs (file_id, id);
CREATE INDEX analysis_runs_batch ON analysis_runs (batch_id);
CREATE INDEX analysis_runs_chunk ON analysis_runs (chunk_id);

-- One row per (run, type): the unit a batch record maps back to.
CREATE TABLE analysis_results (
    run_id        INTEGER NOT NULL REFERENCES analysis_runs (id) ON DELETE CASCADE,
    analysis_type TEXT    NOT NULL,
    record_id     TEXT,
    status        TEXT    NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'COMPLETED', 'FAILED')),
    result        TEXT,                              -- validated JSON
    tokens_input  INTEGER NOT NULL DEFAULT 0,
    tokens_output INTEGER NOT NULL DEFAULT 0,
    cost_usd      REAL    NOT NULL DEFAULT 0,
    truncated     INTEGER NOT NULL DEFAULT 0,
    stop_reason   TEXT,
    warnings      TEXT,
    error_code    TEXT,
    error_message TEXT,
    completed_at  TEXT,
    PRIMARY KEY (run_id, analysis_type)
);
CREATE UNIQUE INDEX analysis_results_record ON analysis_results (record_id) WHERE record_id IS NOT NULL;
