-- What the batch pipeline needs beyond 0002: the staging job of a submission, whether a chunk's
-- last CreateModelInvocationJob call may have created a job (so the next attempt looks it up
-- first), and one staging folder per chunk, enforced.
ALTER TABLE batches ADD COLUMN stage_job_id TEXT;
ALTER TABLE bedrock_batch_jobs ADD COLUMN create_uncertain INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX bedrock_batch_jobs_staging_folder ON bedrock_batch_jobs (staging_folder);
