"""Finished transcription jobs: the output JSON read back from the object store, stored as the file's
transcript with its cost, and the job's objects (the audio extract and the JSON) deleted once it is stored.

One process reads a job at a time (a claim, app/utils/leases.py). A storage fault is retried with back-off
up to BATCH_RESULT_FETCH_MAX_RETRIES times; output that is not a transcript fails the job with the reason.
"""
from __future__ import annotations

import json
import logging
import sqlite3
from datetime import datetime
from typing import Any, Iterable

from app.db import files as files_db
from app.db import transaction
from app.db import transcription_jobs as jobs_db
from app.inference.transcribe.output import OutputError, parse_output
from app.services.context import Services
from app.services.transcripts.requests import billed_seconds
from app.services.transcripts.store import save_job_output
from app.storage.base import ObjectStore, StorageError
from app.utils import leases
from app.utils.clock import iso, later
from app.utils.holders import holder_id

log = logging.getLogger(__name__)

CLAIM_SECONDS = 300.0
MAX_OUTPUT_BYTES = 128 * 1024 * 1024  # a 4 h transcript with speaker labels is a few tens of MB


def fetch_finished(conn: sqlite3.Connection, services: Services, now: datetime, *,
                   force: bool = False) -> dict[str, Any]:
    """Read and store every FETCHING job whose retry time has come (all of them with force)."""
    outcome: dict[str, Any] = {"ingested": 0, "retrying": 0, "fetch_failed": 0, "skipped": 0, "failures": []}
    for job in jobs_db.due_jobs(conn, "FETCHING", None if force else now):
        result = fetch_job(conn, services, job, now)
        outcome[result] += 1
        if result == "fetch_failed":
            outcome["failures"].append(f"transcription job {job['job_name']}: "
                                       f"{jobs_db.get_job(conn, job['id'])['failure_reason']}")
    return outcome


def fetch_job(conn: sqlite3.Connection, services: Services, job: sqlite3.Row, now: datetime) -> str:
    """'ingested', 'retrying', 'fetch_failed' or 'skipped' (another process holds it)."""
    holder = holder_id()
    with transaction(conn):
        claimed = leases.claim(conn, jobs_db.FETCH_CLAIMS, job["id"], holder, now, CLAIM_SECONDS)
    if not claimed:
        return "skipped"
    attempts = job["fetch_attempts"] + 1
    try:
        parsed = parse_output(_read_json(services.store, job["output_key"]))
    except StorageError as exc:
        if exc.transient or exc.code == "NotFound":
            if attempts < services.settings.BATCH_RESULT_FETCH_MAX_RETRIES:
                with transaction(conn):
                    jobs_db.update_job(conn, job["id"], now, fetch_attempts=attempts, last_error=str(exc)[:2000],
                                       next_attempt_at=later(now, 30.0 * 2 ** (attempts - 1)), claimed_by=None,
                                       claimed_until=None)
                return "retrying"
        finish_failed(conn, job, f"the transcript could not be read: {exc}", now, expect=("FETCHING",),
                      fetch_attempts=attempts)
        return "fetch_failed"
    except (OutputError, ValueError) as exc:
        finish_failed(conn, job, f"the transcript is not readable: {exc}", now, expect=("FETCHING",),
                      fetch_attempts=attempts)
        return "fetch_failed"
    billed = billed_seconds(services.settings, job["audio_seconds"]) if job["backend"] == "aws" else 0.0
    cost = round(billed / 60 * job["price_per_minute"], 6)
    with transaction(conn):
        if job["file_id"] is not None and files_db.get_file(conn, job["file_id"]) is not None:
            save_job_output(conn, job, parsed, billed_seconds=billed, cost_usd=cost, now=now)
        jobs_db.update_job(conn, job["id"], now, expect_status=("FETCHING",), status="COMPLETED",
                           billed_seconds=billed, cost_usd=cost, fetch_attempts=attempts, last_error=None,
                           completed_at=iso(now), claimed_by=None, claimed_until=None)
    log.info("transcription job %s stored (%d lines)", job["job_name"], len(parsed.segments))
    _clean(services.store, conn, [jobs_db.get_job(conn, job["id"])], now)
    return "ingested"


def _read_json(store: ObjectStore, key: str) -> Any:
    size = store.head(key).size
    if size > MAX_OUTPUT_BYTES:
        raise OutputError(f"the output is {size} bytes; at most {MAX_OUTPUT_BYTES} are read")
    with store.open_read(key) as stream:
        data = stream.read(MAX_OUTPUT_BYTES + 1)
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise OutputError(f"the output is not JSON ({exc})") from None


def finish_failed(conn: sqlite3.Connection, job: sqlite3.Row, reason: str, now: datetime, *,
                  expect: Iterable[str], **extra: Any) -> bool:
    """The job failed for good, with the reason shown to the user; nothing is billed."""
    with transaction(conn):
        changed = jobs_db.update_job(conn, job["id"], now, expect_status=tuple(expect), status="FAILED",
                                     failure_reason=reason[:2000], completed_at=iso(now), billed_seconds=0,
                                     cost_usd=0, claimed_by=None, claimed_until=None, last_checked_at=iso(now),
                                     **extra)
    if changed:
        log.warning("transcription job %s failed: %s", job["job_name"], reason)
    return changed


def cleanup_finished(conn: sqlite3.Connection, services: Services, now: datetime) -> dict[str, Any]:
    """Delete the staged audio and output of finished jobs not cleaned yet (a fault is retried next pass)."""
    return _clean(services.store, conn, jobs_db.uncleaned_terminal_jobs(conn), now)


def _clean(store: ObjectStore, conn: sqlite3.Connection, jobs: list[sqlite3.Row], now: datetime) -> dict[str, Any]:
    outcome: dict[str, Any] = {"cleaned": 0, "objects_deleted": 0, "errors": 0}
    for job in jobs:
        try:
            outcome["objects_deleted"] += store.delete_many([job["media_key"], job["output_key"]])
        except StorageError as exc:
            log.warning("transcription job %s: cleanup failed (%s); retried next pass", job["job_name"], exc)
            outcome["errors"] += 1
            continue
        with transaction(conn):
            jobs_db.update_job(conn, job["id"], now, cleaned_at=iso(now))
        outcome["cleaned"] += 1
    return outcome
