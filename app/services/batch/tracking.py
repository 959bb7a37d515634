"""Following submitted chunks: provider status and counters copied beside our own state."""
from __future__ import annotations

import logging
import sqlite3
from datetime import datetime, timedelta
from typing import Any

from app.db import chunks as chunks_db
from app.db import transaction
from app.inference.base import BatchJobInfo, InferenceError
from app.services.batch import common
from app.services.context import Services
from app.utils.clock import iso, parse_iso

log = logging.getLogger(__name__)

# Bedrock status -> chunk status. Every finished job goes to FETCHING, even Failed: whatever output
# it left is read, and only ingestion decides COMPLETED, PARTIAL or FAILED.
STATUS_MAP = {
    "Submitted": "SUBMITTED", "Validating": "SUBMITTED", "Scheduled": "SUBMITTED",
    "InProgress": "IN_PROGRESS", "Stopping": "IN_PROGRESS",
    "Completed": "FETCHING", "PartiallyCompleted": "FETCHING", "Stopped": "FETCHING", "Expired": "FETCHING",
    "Failed": "FETCHING",
}
LIST_MARGIN = timedelta(hours=1)
JOB_NAME_PREFIX = "nova-b"  # every job name the app makes starts so (common.job_name_and_token)


def refresh_active_chunks(conn: sqlite3.Connection, services: Services, now: datetime, *,
                          force: bool = False) -> dict[str, Any]:
    """Ask the service about SUBMITTED/IN_PROGRESS chunks not checked for BATCH_CHECK_INTERVAL (all if force).

    Several chunks are read with one ListModelInvocationJobs walk; chunks it misses get a Get call.
    """
    interval = timedelta(seconds=services.settings.BATCH_CHECK_INTERVAL)
    due = []
    for chunk in chunks_db.chunks_with_status(conn, chunks_db.CHUNK_RUNNING):
        if not chunk["job_arn"]:
            continue
        checked = parse_iso(chunk["last_checked_at"])
        if force or checked is None or checked + interval <= now:
            due.append(chunk)
    outcome: dict[str, Any] = {"checked": 0, "finished": 0, "errors": 0, "failed": 0, "failures": []}
    if not due:
        return outcome
    infos = _list_jobs(services, due) if len(due) > 1 else {}
    for chunk in due:
        info = infos.get(chunk["job_arn"])
        if info is None:
            try:
                info = services.backend.get_batch_job(chunk["job_arn"])
            except InferenceError as exc:
                log.warning("chunk %s: status check failed: %s", chunk["id"], exc)
                if exc.transient:
                    # Throttling, 5xx, timeouts: asked again after BATCH_CHECK_INTERVAL.
                    with transaction(conn):
                        chunks_db.update_chunk(conn, chunk["id"], now, last_error=f"status check failed: {exc}"[:2000],
                                               last_checked_at=iso(now))
                    outcome["errors"] += 1
                else:
                    outcome["failures"].append(f"chunk {chunk['id']}: {_fail_permanently(conn, chunk, exc, now)}")
                    outcome["failed"] += 1
                continue
        outcome["checked"] += 1
        if apply_job_info(conn, chunk, info, now) == "FETCHING":
            outcome["finished"] += 1
    return outcome


def _fail_permanently(conn: sqlite3.Connection, chunk: sqlite3.Row, exc: InferenceError, now: datetime) -> str:
    """Job not found, access denied, validation: asking again cannot help, so the chunk fails now. Why."""
    message = f"the batch job can no longer be read: {exc}"
    with transaction(conn):
        if chunks_db.update_chunk(conn, chunk["id"], now, expect_status=chunks_db.CHUNK_RUNNING, status="FAILED",
                                  failure_message=message[:2000], last_error=str(exc)[:2000],
                                  last_checked_at=iso(now), completed_at=iso(now)):
            common.fail_chunk_runs(conn, chunk["id"], code=exc.code, message=message, now=now)
    return message


def _list_jobs(services: Services, chunks: list[sqlite3.Row]) -> dict[str, BatchJobInfo]:
    """One walk over the jobs submitted since the oldest of these chunks, keyed by ARN."""
    wanted = {c["job_arn"] for c in chunks}
    oldest = min(parse_iso(c["submitted_at"] or c["created_at"]) for c in chunks)
    found: dict[str, BatchJobInfo] = {}
    try:
        for info in services.backend.list_batch_jobs(name_contains=JOB_NAME_PREFIX,
                                                      submitted_after=oldest - LIST_MARGIN):
            if info.job_arn in wanted:
                found[info.job_arn] = info
                if len(found) == len(wanted):
                    break
    except InferenceError as exc:
        log.warning("listing batch jobs failed (%s); checking them one by one", exc)
    return found


def apply_job_info(conn: sqlite3.Connection, chunk: sqlite3.Row, info: BatchJobInfo, now: datetime) -> str:
    """Store what the service says about the chunk's job; returns the chunk's new status."""
    status = STATUS_MAP.get(info.status)
    if status is None:
        log.warning("chunk %s: job %s has unknown status %r; kept %s", chunk["id"], info.job_arn, info.status,
                    chunk["status"])
        status = chunk["status"]
    values: dict[str, Any] = {
        "status": status, "provider_status": info.status, "last_checked_at": iso(now), "last_error": None,
    }
    for column, value in (("records_processed", info.processed_records), ("records_succeeded", info.success_records),
                          ("records_failed", info.error_records)):
        if value is not None:
            values[column] = value
    if info.expiration_time is not None:
        values["expires_at"] = iso(info.expiration_time)
    if status == "IN_PROGRESS" and chunk["started_at"] is None:
        values["started_at"] = iso(now)  # first seen running: the queue wait ends here (see batch/eta.py)
    if status == "FETCHING":
        values["completed_at"] = iso(info.end_time or now)
        values["next_attempt_at"] = None
        if info.message:
            values["failure_message"] = info.message[:2000]
    with transaction(conn):
        changed = chunks_db.update_chunk(conn, chunk["id"], now, expect_status=chunks_db.CHUNK_RUNNING, **values)
        if changed and status == "IN_PROGRESS":
            chunks_db.mark_runs_running(conn, chunk["id"])
    if changed and status != chunk["status"]:
        log.info("chunk %s: %s -> %s (provider %s)", chunk["id"], chunk["status"], status, info.status)
    return status if changed else chunk["status"]
