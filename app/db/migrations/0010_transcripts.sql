-- Speech transcripts (docs/transcribe-facts.md): one per file, from a subtitle already in the media (a
-- sidecar .srt/.vtt or a subtitle stream), from Amazon Transcribe, or from the offline stand-in.
CREATE TABLE transcripts (
    id               INTEGER PRIMARY KEY,                -- kept when a file's transcript is replaced
    file_id          INTEGER NOT NULL UNIQUE REFERENCES files (id) ON DELETE CASCADE,
    source           TEXT    NOT NULL CHECK (source IN ('aws', 'local', 'subtitle_stream', 'sidecar')),
    source_detail    TEXT,                               -- sidecar name, stream index/codec or the job name
    language         TEXT,                               -- e.g. 'en-US', 'eng', NULL when unknown
    language_score   REAL,
    text             TEXT    NOT NULL,                   -- every segment's text, in order
    note             TEXT,                               -- e.g. why the text is empty
    segment_count    INTEGER NOT NULL,
    speaker_count    INTEGER NOT NULL DEFAULT 0,
    audio_seconds    REAL,                               -- what was transcribed (NULL for subtitles)
    billed_seconds   REAL    NOT NULL DEFAULT 0,
    cost_usd         REAL    NOT NULL DEFAULT 0,
    job_id           INTEGER,                            -- transcription_jobs.id that made it, if any
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL
);

-- Timed lines of a transcript, in order (`seq`).
CREATE TABLE transcript_segments (
    transcript_id    INTEGER NOT NULL REFERENCES transcripts (id) ON DELETE CASCADE,
    seq              INTEGER NOT NULL,
    start_seconds    REAL    NOT NULL,
    end_seconds      REAL    NOT NULL,
    speaker          TEXT,
    text             TEXT    NOT NULL,
    PRIMARY KEY (transcript_id, seq)
) WITHOUT ROWID;

-- One transcription job per requested file: the audio extract staged in the object store, the provider's
-- job (its deterministic name is chosen and stored before the start call, so a crash between the call and
-- recording it is healed by looking the name up), its status, output, cost and a claim for fetching.
-- QUEUED -> SUBMITTED -> IN_PROGRESS -> FETCHING -> COMPLETED | FAILED; STAGING before QUEUED.
CREATE TABLE transcription_jobs (
    id                  INTEGER PRIMARY KEY,
    file_id             INTEGER REFERENCES files (id) ON DELETE SET NULL,   -- kept for the usage report
    backend             TEXT    NOT NULL CHECK (backend IN ('aws', 'local')),
    job_name            TEXT    NOT NULL UNIQUE,
    status              TEXT    NOT NULL DEFAULT 'STAGING'
                        CHECK (status IN ('STAGING', 'QUEUED', 'SUBMITTED', 'IN_PROGRESS', 'FETCHING',
                                          'COMPLETED', 'FAILED')),
    provider_status     TEXT,
    create_uncertain    INTEGER NOT NULL DEFAULT 0,          -- a start call may have created the job
    media_key           TEXT    NOT NULL,                    -- the audio extract in the object store
    output_key          TEXT    NOT NULL,                    -- where the provider writes its JSON
    media_format        TEXT    NOT NULL,
    language_code       TEXT,                                -- NULL: identify the language
    max_speakers        INTEGER,                             -- NULL: no speaker labels
    audio_seconds       REAL,
    media_bytes         INTEGER,
    price_per_minute    REAL    NOT NULL DEFAULT 0,
    estimated_cost_usd  REAL    NOT NULL DEFAULT 0,
    billed_seconds      REAL,
    cost_usd            REAL,
    submit_attempts     INTEGER NOT NULL DEFAULT 0,
    fetch_attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     TEXT,
    last_error          TEXT,
    failure_reason      TEXT,
    task_id             TEXT,
    claimed_by          TEXT,
    claimed_until       TEXT,
    created_at          TEXT    NOT NULL,
    updated_at          TEXT    NOT NULL,
    submitted_at        TEXT,
    last_checked_at     TEXT,
    completed_at        TEXT,
    cleaned_at          TEXT
);
CREATE INDEX transcription_jobs_status ON transcription_jobs (status, next_attempt_at);
CREATE INDEX transcription_jobs_file ON transcription_jobs (file_id, status);
CREATE INDEX transcription_jobs_completed ON transcription_jobs (completed_at);

-- A new or replaced transcript re-indexes its file for search (search_dirty, migration 0005).
CREATE TRIGGER search_transcript_added AFTER INSERT ON transcripts
BEGIN
    INSERT OR IGNORE INTO search_dirty (file_id) VALUES (NEW.file_id);
END;

CREATE TRIGGER search_transcript_changed AFTER UPDATE ON transcripts
BEGIN
    INSERT OR IGNORE INTO search_dirty (file_id) VALUES (NEW.file_id);
END;

CREATE TRIGGER search_transcript_deleted AFTER DELETE ON transcripts
BEGIN
    INSERT OR IGNORE INTO search_dirty (file_id)
    SELECT OLD.file_id WHERE EXISTS (SELECT 1 FROM files WHERE id = OLD.file_id);
END;

-- The offline stand-in for Amazon Transcribe (TRANSCRIBE_BACKEND=local) keeps its own jobs, as the service
-- does; only app/inference/transcribe/local_store.py reads or writes this table.
CREATE TABLE local_transcription_jobs (
    name               TEXT    PRIMARY KEY,
    status             TEXT    NOT NULL DEFAULT 'QUEUED'
                       CHECK (status IN ('QUEUED', 'IN_PROGRESS', 'FAILED', 'COMPLETED')),
    media_uri          TEXT    NOT NULL,
    media_format       TEXT,
    output_bucket      TEXT    NOT NULL,
    output_key         TEXT    NOT NULL,
    language_code      TEXT,
    identify_language  INTEGER NOT NULL DEFAULT 0,
    max_speakers       INTEGER,
    failure_reason     TEXT,
    creation_time      TEXT    NOT NULL,
    start_time         TEXT,
    completion_time    TEXT,
    claimed_by         TEXT,
    claimed_until      TEXT
);
CREATE INDEX local_transcription_jobs_status ON local_transcription_jobs (status, creation_time);
