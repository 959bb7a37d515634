-- One word per concept: background work is a task, a submission's provider job is a chunk.
-- Tasks get a claim like chunks and local engine jobs, and the poller's lease becomes a row of a
-- general table of named leases, so one claim rule (app/utils/leases.py) serves them all.
ALTER TABLE jobs RENAME TO tasks;
ALTER TABLE tasks ADD COLUMN claimed_by TEXT;
ALTER TABLE tasks ADD COLUMN claimed_until TEXT;
DROP INDEX jobs_status;
CREATE INDEX tasks_status ON tasks (status, created_at);

ALTER TABLE job_failures RENAME TO task_failures;
ALTER TABLE task_failures RENAME COLUMN job_id TO task_id;
DROP INDEX job_failures_job;
CREATE INDEX task_failures_task ON task_failures (task_id, id);

ALTER TABLE bedrock_batch_jobs RENAME TO chunks;
DROP INDEX bedrock_batch_jobs_status;
CREATE INDEX chunks_status ON chunks (status, model_id);
DROP INDEX bedrock_batch_jobs_staging_folder;
CREATE UNIQUE INDEX chunks_staging_folder ON chunks (staging_folder);

ALTER TABLE analysis_runs RENAME COLUMN job_id TO task_id;
ALTER TABLE batches RENAME COLUMN on_demand_job_id TO on_demand_task_id;
ALTER TABLE batches RENAME COLUMN stage_job_id TO stage_task_id;

DROP TABLE poller_lease;
CREATE TABLE leases (
    name          TEXT PRIMARY KEY,
    claimed_by    TEXT,
    claimed_until TEXT
);
