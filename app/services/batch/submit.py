"""Submitting staged chunks as batch jobs, crash-safe and within the per-model job quota."""
from __future__ import annotations

import logging
import sqlite3
from datetime import datetime, timedelta
from typing import Any

from app.db import batches as batches_db
from app.db import chunks as chunks_db
from app.db import transaction
from app.inference.base import BatchJobInfo, ConflictError, InferenceError, job_id_from_arn
from app.services.batch import common
from app.services.context import Services
from app.utils.clock import iso, later, parse_iso
from app.utils.crashpoints import crashpoint

log = logging.getLogger(__name__)

# How far before the chunk's creation a lookup searches (clock skew between us and the service).
LOOKUP_MARGIN = timedelta(days=1)
# The local engine checks a role ARN's form like Bedrock does, so it gets a well-formed placeholder.
LOCAL_ROLE_ARN = "arn:aws:iam::000000000000:role/local-batch"


def submit_queued_chunks(conn: sqlite3.Connection, services: Services, now: datetime, *,
                         force: bool = False) -> dict[str, Any]:
    """Create jobs for due QUEUED chunks, at most BATCH_MAX_CONCURRENT_JOBS running per model.

    A chunk whose earlier create call may have succeeded is looked up by name first, so a crash or
    a lost response never leads to a second job. force ignores back-off times (not the quota).
    """
    due = chunks_db.due_chunks(conn, "QUEUED", None if force else now)
    limit = services.settings.BATCH_MAX_CONCURRENT_JOBS
    free: dict[str, int] = {}
    outcome: dict[str, Any] = {"submitted": 0, "healed": 0, "deferred": 0, "failed": 0, "waiting_for_slot": 0,
                               "failures": []}
    for chunk in due:
        batch = batches_db.get_batch(conn, chunk["batch_id"])
        if batch is None or batch["cancel_requested"]:
            continue
        model_id = chunk["model_id"]
        if model_id not in free:
            free[model_id] = limit - chunks_db.count_occupying_slots(conn, model_id)
        uncertain = bool(chunk["create_uncertain"])
        if not uncertain and free[model_id] <= 0:
            outcome["waiting_for_slot"] += 1
            continue
        try:
            result = submit_chunk(conn, services, chunk, now, lookup_first=uncertain)
        except Exception as exc:  # whatever happened, the row still says "maybe created": heal next time
            log.exception("submitting chunk %s failed unexpectedly", chunk["id"])
            _defer(conn, chunk["id"], now, f"submit interrupted: {exc}", attempts=chunk["submit_attempts"] + 1)
            result = "deferred"
        if not uncertain and result in ("submitted", "deferred"):
            free[model_id] -= 1  # a deferred create may still have made a job: keep its slot
        if result == "failed":
            reason = chunks_db.get_chunk(conn, chunk["id"])["failure_message"]
            outcome["failures"].append(f"chunk {chunk['id']}: {reason}")
        outcome[result] += 1
    return outcome


def submit_chunk(conn: sqlite3.Connection, services: Services, chunk: sqlite3.Row, now: datetime, *,
                 lookup_first: bool) -> str:
    """One chunk: look up (when an earlier call may have created it) or create; 'submitted', 'healed',
    'deferred' (stays QUEUED) or 'failed'."""
    backend = services.backend
    if lookup_first:
        found = find_existing_job(services, chunk)
        if found is not None:
            record_submission(conn, chunk["id"], found.job_arn, now, provider_status=found.status)
            log.info("chunk %s: found job %s from an earlier attempt; no new job created", chunk["id"], found.job_arn)
            return "healed"
    attempts = chunk["submit_attempts"] + 1
    with transaction(conn):
        # Written before the call: from here on the job may exist, whatever happens to this process.
        chunks_db.update_chunk(conn, chunk["id"], now, expect_status=("QUEUED",), create_uncertain=1,
                               submit_attempts=attempts)
    store = services.store
    try:
        arn = backend.create_batch_job(
            name=chunk["job_name"], model_id=chunk["model_id"],
            input_uri=common.folder_uri(store, chunk["staging_folder"]),
            output_uri=common.folder_uri(store, chunk["output_prefix"]),
            role_arn=services.settings.BEDROCK_BATCH_ROLE_ARN or LOCAL_ROLE_ARN, client_token=chunk["client_token"],
            timeout_hours=services.settings.BATCH_JOB_TIMEOUT_HOURS)
    except InferenceError as exc:
        return _create_failed(conn, services, chunk, exc, now, attempts)
    crashpoint("after_create")
    record_submission(conn, chunk["id"], arn, now, provider_status="Submitted")
    log.info("chunk %s submitted as %s (%s)", chunk["id"], chunk["job_name"], arn)
    return "submitted"


def find_existing_job(services: Services, chunk: sqlite3.Row) -> BatchJobInfo | None:
    """The job an earlier create call made for this chunk, found by its name and client token."""
    created = parse_iso(chunk["created_at"])
    job = services.backend.find_batch_job(name=chunk["job_name"], submitted_after=created - LOOKUP_MARGIN)
    if job is None:
        return None
    if job.client_token and job.client_token != chunk["client_token"]:
        log.warning("job %s has chunk %s's name but another client token; not ours", job.job_arn, chunk["id"])
        return None
    return job


def record_submission(conn: sqlite3.Connection, chunk_id: int, arn: str, now: datetime, *,
                       provider_status: str) -> None:
    """The ARN is known: the chunk is SUBMITTED and its runs are waiting on the job."""
    with transaction(conn):
        chunks_db.update_chunk(
            conn, chunk_id, now, expect_status=("QUEUED",), status="SUBMITTED", job_arn=arn,
            job_id=job_id_from_arn(arn), provider_status=provider_status, submitted_at=iso(now), create_uncertain=0,
            next_attempt_at=None, last_error=None)
        chunks_db.mark_runs_submitted(conn, chunk_id, now)


def _create_failed(conn: sqlite3.Connection, services: Services, chunk: sqlite3.Row, exc: InferenceError,
                   now: datetime, attempts: int) -> str:
    if exc.transient:
        # Throttling and quota answers mean nothing was created; a timeout or 5xx may hide a job.
        certain = exc.code in ("ThrottlingException", "TooManyRequestsException", "ServiceQuotaExceededException")
        log.warning("chunk %s: create deferred (%s)", chunk["id"], exc)
        _defer(conn, chunk["id"], now, str(exc), attempts=attempts, uncertain=not certain)
        return "deferred"
    if isinstance(exc, ConflictError) or "already exists" in exc.message:
        found = find_existing_job(services, chunk)
        if found is not None:
            record_submission(conn, chunk["id"], found.job_arn, now, provider_status=found.status)
            return "healed"
    log.error("chunk %s: batch job refused: %s", chunk["id"], exc)
    message = f"the batch job could not be created: {exc}"
    with transaction(conn):
        if chunks_db.update_chunk(conn, chunk["id"], now, expect_status=("QUEUED",), status="FAILED",
                                  create_uncertain=0, failure_message=message[:2000], last_error=str(exc)[:2000],
                                  completed_at=iso(now)):
            common.fail_chunk_runs(conn, chunk["id"], code=exc.code, message=message, now=now)
    return "failed"


def _defer(conn: sqlite3.Connection, chunk_id: int, now: datetime, error: str, *, attempts: int,
           uncertain: bool = True) -> None:
    with transaction(conn):
        chunks_db.update_chunk(
            conn, chunk_id, now, expect_status=("QUEUED",), create_uncertain=int(uncertain), submit_attempts=attempts,
            last_error=error[:2000], next_attempt_at=later(now, common.backoff_seconds(attempts)))
