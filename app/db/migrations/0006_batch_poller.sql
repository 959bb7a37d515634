-- The batch poller: one lease row so only one process acts at a time, shared stats and recent errors.
CREATE TABLE poller_lease (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  REAL NOT NULL,                       -- epoch seconds
    acquired_at TEXT NOT NULL
);

CREATE TABLE poller_stats (
    id                 INTEGER PRIMARY KEY CHECK (id = 1),
    polls_count        INTEGER NOT NULL DEFAULT 0,
    jobs_checked       INTEGER NOT NULL DEFAULT 0,
    jobs_submitted     INTEGER NOT NULL DEFAULT 0,
    jobs_completed     INTEGER NOT NULL DEFAULT 0,
    jobs_failed        INTEGER NOT NULL DEFAULT 0,
    results_fetched    INTEGER NOT NULL DEFAULT 0,
    cleanups_performed INTEGER NOT NULL DEFAULT 0,
    last_poll_time     TEXT,
    last_cycle_seconds REAL
);
INSERT INTO poller_stats (id) VALUES (1);

CREATE TABLE poller_errors (
    id      INTEGER PRIMARY KEY,
    at      TEXT NOT NULL,
    message TEXT NOT NULL
);
