-- Source files, their derived proxy/thumbnail, and background jobs.
CREATE TABLE files (
    id               INTEGER PRIMARY KEY,
    path             TEXT    NOT NULL UNIQUE,          -- absolute POSIX path of the user's original
    folder           TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    size_bytes       INTEGER NOT NULL,
    mtime            REAL    NOT NULL,
    fingerprint      TEXT    NOT NULL,
    media_type       TEXT    NOT NULL CHECK (media_type IN ('video', 'image')),
    mime_type        TEXT,
    container        TEXT,
    duration_seconds REAL,
    width            INTEGER,
    height           INTEGER,
    fps              REAL,
    video_codec      TEXT,
    audio_codec      TEXT,
    audio_channels   INTEGER,
    bitrate          INTEGER,
    created_at       TEXT,                              -- capture/creation date, ISO-8601
    created_source   TEXT,                              -- exif | container | mtime
    gps_latitude     REAL,
    gps_longitude    REAL,
    camera           TEXT,
    orientation      INTEGER,
    origin           TEXT    NOT NULL DEFAULT 'library' CHECK (origin IN ('library', 'upload')),
    status           TEXT    NOT NULL DEFAULT 'ready' CHECK (status IN ('ready', 'failed')),
    error            TEXT,
    -- Denormalised from analysis runs (kept current by the analysis layer) so that listing and
    -- filtering 100,000 files needs no join: none | pending | completed | failed.
    analysis_status  TEXT    NOT NULL DEFAULT 'none'
                     CHECK (analysis_status IN ('none', 'pending', 'completed', 'failed')),
    latest_run_id    INTEGER,
    proxy_bytes      INTEGER,                           -- size of the proxy, NULL when there is none
    imported_at      TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL
);
CREATE INDEX files_fingerprint ON files (fingerprint);
CREATE INDEX files_folder ON files (folder);
CREATE INDEX files_name ON files (name);
CREATE INDEX files_size ON files (size_bytes);
CREATE INDEX files_duration ON files (duration_seconds);
CREATE INDEX files_created ON files (created_at);
CREATE INDEX files_imported ON files (imported_at);
CREATE INDEX files_media_type ON files (media_type);
CREATE INDEX files_analysis ON files (analysis_status);
-- Covering index so the list summary (count, bytes, duration, proxy bytes) never reads the wide rows.
CREATE INDEX files_summary ON files (analysis_status, media_type, size_bytes, duration_seconds, proxy_bytes);

CREATE TABLE derivatives (
    file_id    INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL CHECK (kind IN ('proxy', 'thumbnail')),
    path       TEXT    NOT NULL,                       -- relative to DATA_DIR
    spec       TEXT    NOT NULL,
    size_bytes INTEGER NOT NULL,
    width      INTEGER,
    height     INTEGER,
    created_at TEXT    NOT NULL,
    PRIMARY KEY (file_id, kind)
);
CREATE INDEX derivatives_kind ON derivatives (kind, file_id);

CREATE TABLE jobs (
    id               TEXT    PRIMARY KEY,
    kind             TEXT    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'QUEUED'
                     CHECK (status IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
    params           TEXT    NOT NULL DEFAULT '{}',    -- JSON
    total            INTEGER,
    done             INTEGER NOT NULL DEFAULT 0,
    counters         TEXT    NOT NULL DEFAULT '{}',    -- JSON: kind-specific counts
    current_item     TEXT,
    result           TEXT,                             -- JSON summary when finished
    error            TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT    NOT NULL,
    started_at       TEXT,
    finished_at      TEXT,
    updated_at       TEXT    NOT NULL
);
CREATE INDEX jobs_status ON jobs (status, created_at);

CREATE TABLE job_failures (
    id      INTEGER PRIMARY KEY,
    job_id  TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    item    TEXT NOT NULL,
    reason  TEXT NOT NULL,
    at      TEXT NOT NULL
);
CREATE INDEX job_failures_job ON job_failures (job_id, id);

