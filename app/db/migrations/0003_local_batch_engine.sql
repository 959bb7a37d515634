-- The offline batch engine's own jobs (INFERENCE_BACKEND=local): what Bedrock would keep per
-- model invocation job, plus a lease (claimed_by/claimed_until) so one worker runs each job.
CREATE TABLE local_batch_jobs (
    job_id             TEXT    PRIMARY KEY CHECK (length(job_id) = 12),
    arn                TEXT    NOT NULL UNIQUE,
    name               TEXT    NOT NULL UNIQUE,
    client_token       TEXT    NOT NULL UNIQUE,
    model_id           TEXT    NOT NULL,
    role_arn           TEXT    NOT NULL,
    input_uri          TEXT    NOT NULL,
    output_uri         TEXT    NOT NULL,
    timeout_hours      INTEGER NOT NULL,
    status             TEXT    NOT NULL DEFAULT 'Submitted'
                       CHECK (status IN ('Submitted', 'Validating', 'Scheduled', 'InProgress', 'Completed',
                                         'PartiallyCompleted', 'Failed', 'Stopping', 'Stopped', 'Expired')),
    message            TEXT,
    total_records      INTEGER,                      -- NULL until validation counted them
    processed_records  INTEGER NOT NULL DEFAULT 0,
    success_records    INTEGER NOT NULL DEFAULT 0,
    error_records      INTEGER NOT NULL DEFAULT 0,
    input_tokens       INTEGER NOT NULL DEFAULT 0,
    output_tokens      INTEGER NOT NULL DEFAULT 0,
    submit_time        TEXT    NOT NULL,
    last_modified_time TEXT    NOT NULL,
    end_time           TEXT,
    expiration_time    TEXT    NOT NULL,
    stop_requested     INTEGER NOT NULL DEFAULT 0,
    claimed_by         TEXT,                         -- 'host:pid:token' of the worker running it
    claimed_until      TEXT
);
CREATE INDEX local_batch_jobs_status ON local_batch_jobs (status, submit_time);
CREATE INDEX local_batch_jobs_submit_time ON local_batch_jobs (submit_time);
