-- Long videos analysed as segments (app/media/segments.py), merged into one result per (run, type).
--
-- analysis_runs gains the status PARTIAL (a merged result with a gap: some segments failed or were cut
-- off) and the segmentation of a segmented run; its CHECK constraint can only change by rebuilding the
-- table. analysis_results, whose foreign key names analysis_runs, is rebuilt with it: each new table is
-- filled, the old ones dropped (with foreign keys on, dropping analysis_runs first would cascade into the
-- results), and the new ones renamed, which moves the foreign key onto the final analysis_runs. Every
-- column, index, foreign key and search trigger (migration 0005) is kept; rowids of results are kept too.
DROP TRIGGER search_run_completed;
DROP TRIGGER search_run_deleted;

CREATE TABLE analysis_runs_new (
    id               INTEGER PRIMARY KEY,
    file_id          INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    batch_id         INTEGER REFERENCES batches (id) ON DELETE SET NULL,
    chunk_id         INTEGER REFERENCES chunks (id) ON DELETE SET NULL,   -- NULL for a segmented run: see analysis_segments
    task_id          TEXT,                           -- tasks.id for on-demand runs
    mode             TEXT    NOT NULL CHECK (mode IN ('on_demand', 'batch')),
    status           TEXT    NOT NULL DEFAULT 'PENDING'
                     CHECK (status IN ('PENDING', 'RUNNING', 'SUBMITTED', 'COMPLETED', 'PARTIAL', 'FAILED')),
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
    completed_at     TEXT,
    segment_seconds  INTEGER,                        -- a segmented run: segment length and overlap (seconds)
    segment_overlap  INTEGER
);
INSERT INTO analysis_runs_new (id, file_id, batch_id, chunk_id, task_id, mode, status, model_key, model_id,
    analysis_types, options, prompt_version, tokens_input, tokens_output, cost_usd, truncated, error_code,
    error_message, processing_seconds, created_at, started_at, completed_at)
SELECT id, file_id, batch_id, chunk_id, task_id, mode, status, model_key, model_id, analysis_types, options,
    prompt_version, tokens_input, tokens_output, cost_usd, truncated, error_code, error_message,
    processing_seconds, created_at, started_at, completed_at FROM analysis_runs;

-- One row per (run, type). For a segmented run it holds the merged result: PENDING until every segment has
-- answered and the merge ran (merge_task_id: the merge task queued for it, so it is queued once); a merged
-- result with a gap is COMPLETED with error_code 'segments_missing' and the missing minutes in error_message.
CREATE TABLE analysis_results_new (
    run_id        INTEGER NOT NULL REFERENCES analysis_runs_new (id) ON DELETE CASCADE,
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
    merge_task_id TEXT,
    PRIMARY KEY (run_id, analysis_type)
);
INSERT INTO analysis_results_new (rowid, run_id, analysis_type, record_id, status, result, tokens_input,
    tokens_output, cost_usd, truncated, stop_reason, warnings, error_code, error_message, completed_at)
SELECT rowid, run_id, analysis_type, record_id, status, result, tokens_input, tokens_output, cost_usd, truncated,
    stop_reason, warnings, error_code, error_message, completed_at FROM analysis_results;

DROP TABLE analysis_results;
DROP TABLE analysis_runs;
ALTER TABLE analysis_runs_new RENAME TO analysis_runs;
ALTER TABLE analysis_results_new RENAME TO analysis_results;

CREATE INDEX analysis_runs_file ON analysis_runs (file_id, id);
CREATE INDEX analysis_runs_batch ON analysis_runs (batch_id);
CREATE INDEX analysis_runs_chunk ON analysis_runs (chunk_id);
CREATE UNIQUE INDEX analysis_results_record ON analysis_results (record_id) WHERE record_id IS NOT NULL;

-- A PARTIAL run's merged result is useful, so it is searchable like a COMPLETED one (docs/analysis-contract.md).
CREATE TRIGGER search_run_completed AFTER UPDATE OF status ON analysis_runs
WHEN NEW.status IN ('COMPLETED', 'PARTIAL') AND OLD.status IS NOT NEW.status
BEGIN
    INSERT OR IGNORE INTO search_dirty (file_id) VALUES (NEW.file_id);
END;

CREATE TRIGGER search_run_deleted AFTER DELETE ON analysis_runs
WHEN OLD.status IN ('COMPLETED', 'PARTIAL')
BEGIN
    INSERT OR IGNORE INTO search_dirty (file_id) SELECT OLD.file_id WHERE EXISTS (SELECT 1 FROM files WHERE id = OLD.file_id);
END;

-- The segments of a segmented run: bounds in the full video (nominal until the piece is cut, then where
-- the piece really starts and ends), status rolled up from their results, and the chunk whose batch job
-- carries them (NULL: on demand). A file's segments may be spread over several chunks.
CREATE TABLE analysis_segments (
    run_id        INTEGER NOT NULL REFERENCES analysis_runs (id) ON DELETE CASCADE,
    segment_index INTEGER NOT NULL CHECK (segment_index >= 0),
    start_seconds REAL    NOT NULL,
    end_seconds   REAL    NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'PENDING'
                  CHECK (status IN ('PENDING', 'COMPLETED', 'TRUNCATED', 'FAILED')),
    chunk_id      INTEGER REFERENCES chunks (id) ON DELETE SET NULL,
    PRIMARY KEY (run_id, segment_index)
);
CREATE INDEX analysis_segments_chunk ON analysis_segments (chunk_id) WHERE chunk_id IS NOT NULL;

-- One answer per (run, type, segment): the unit a segment's batch record maps back to. reused_from names
-- the earlier run whose answer a retry copied (its tokens and cost stay with that run).
CREATE TABLE analysis_segment_results (
    run_id        INTEGER NOT NULL,
    analysis_type TEXT    NOT NULL,
    segment_index INTEGER NOT NULL,
    record_id     TEXT,
    status        TEXT    NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'COMPLETED', 'FAILED')),
    result        TEXT,                              -- validated JSON, times relative to the segment
    tokens_input  INTEGER NOT NULL DEFAULT 0,
    tokens_output INTEGER NOT NULL DEFAULT 0,
    cost_usd      REAL    NOT NULL DEFAULT 0,
    truncated     INTEGER NOT NULL DEFAULT 0,
    stop_reason   TEXT,
    warnings      TEXT,
    error_code    TEXT,
    error_message TEXT,
    reused_from   INTEGER,
    completed_at  TEXT,
    PRIMARY KEY (run_id, analysis_type, segment_index),
    FOREIGN KEY (run_id, segment_index) REFERENCES analysis_segments (run_id, segment_index) ON DELETE CASCADE
);
CREATE UNIQUE INDEX analysis_segment_results_record ON analysis_segment_results (record_id)
    WHERE record_id IS NOT NULL;
