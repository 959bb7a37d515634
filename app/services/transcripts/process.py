"""One pass of the transcription pipeline, run by the batch poller every cycle beside the Bedrock one: submit
queued jobs (at most TRANSCRIBE_MAX_CONCURRENT_JOBS at once), ask the service about running ones, then
fetch, store and clean up finished ones (fetch.py).

Starting is crash-safe: the row says "maybe created" before StartTranscriptionJob is called, and such a
row is looked up by its name (GetTranscriptionJob) before any new start, so a crash or a lost answer never
makes a second job. Status checks list the app's jobs by name prefix, 100 a call, and Get only what the
list missed (docs/transcribe-facts.md §Statuses and polling).
"""
from __future__ import annotations

import logging
import sqlite3
from datetime import datetime, timedelta
from typing import Any, Callable

from app.db import transaction
from app.db import transcription_jobs as jobs_db
from app.inference.base import ConflictError, InferenceError, NotFoundError
from app.inference.transcribe.base import JobRequest, TranscriptionJobInfo, TranscriptionService
from app.services.context import Services
from app.services.pass_steps import check_status_checks, run_steps
from app.services.transcripts.fetch import cleanup_finished, fetch_finished, finish_failed
from app.services.transcripts.staging import JOB_NAME_PREFIX
from app.utils.clock import iso, later, parse_iso, utc
from app.utils.crashpoints import crashpoint

log = logging.getLogger(__name__)

MAX_SUBMIT_ATTEMPTS = 12  # deferred starts (throttling, 5xx) before the job fails with the last error
MAX_LISTED = 1000  # summaries one status walk reads before falling back to Get calls
# Throttling answers mean nothing was started; a 5xx or timeout may hide a job, so it is looked up first.
_NOTHING_STARTED = ("LimitExceededException", "ThrottlingException", "TooManyRequestsException")
STATUS_MAP = {"QUEUED": "SUBMITTED", "IN_PROGRESS": "IN_PROGRESS", "COMPLETED": "FETCHING", "FAILED": "FAILED"}


def backoff_seconds(attempt: int) -> float:
    return min(30.0 * 2 ** max(attempt - 1, 0), 900.0)


def process_transcripts_once(conn: sqlite3.Connection, services: Services, now: datetime | None = None, *,
                             force: bool = False, status_checks: str = "due") -> dict[str, Any]:
    """Every step once at `now` (same contract as process_batches_once); a step that raises is logged and the
    later steps still run. Nothing is asked of the service while no job of its backend is unfinished."""
    check_status_checks(status_checks)
    transcriber = services.transcriber
    current = utc(now)
    steps: list[tuple[str, Callable[[], Any]]] = [("cleanup", lambda: cleanup_finished(conn, services, current))]
    if transcriber is not None:
        steps[:0] = [("submit", lambda: submit_queued(conn, services, transcriber, current, force=force)),
                     ("ingest", lambda: fetch_finished(conn, services, current, force=force))]
        if status_checks != "none":
            steps.insert(1, ("refresh", lambda: refresh_running(conn, services, transcriber, current,
                                                                force=force or status_checks == "all")))
    return run_steps(steps, pipeline="transcription", prefix="transcripts ")


# ---- submit ----------------------------------------------------------------------------------

def submit_queued(conn: sqlite3.Connection, services: Services, transcriber: TranscriptionService,
                  now: datetime, *, force: bool = False) -> dict[str, Any]:
    """Start due QUEUED jobs while fewer than TRANSCRIBE_MAX_CONCURRENT_JOBS run; the rest wait their turn."""
    outcome: dict[str, Any] = {"submitted": 0, "healed": 0, "deferred": 0, "failed": 0, "waiting_for_slot": 0,
                               "failures": []}
    due = [j for j in jobs_db.due_jobs(conn, "QUEUED", None if force else now) if j["backend"] == transcriber.name]
    if not due:
        return outcome
    free = services.settings.TRANSCRIBE_MAX_CONCURRENT_JOBS - jobs_db.count_occupying_slots(conn, transcriber.name)
    for job in due:
        uncertain = bool(job["create_uncertain"])
        if not uncertain and free <= 0:
            outcome["waiting_for_slot"] += 1
            continue
        try:
            result = submit_job(conn, services, transcriber, job, now)
        except Exception as exc:  # the row still says "maybe started": it is looked up next time
            log.exception("starting transcription job %s failed unexpectedly", job["job_name"])
            _defer(conn, job, now, f"start interrupted: {exc}", uncertain=True)
            result = "deferred"
        if not uncertain and result in ("submitted", "deferred"):
            free -= 1
        if result == "failed":
            outcome["failures"].append(f"transcription job {job['job_name']}: "
                                       f"{jobs_db.get_job(conn, job['id'])['failure_reason']}")
        outcome[result] += 1
    return outcome


def _request(services: Services, job: sqlite3.Row) -> JobRequest:
    store = services.store
    return JobRequest(name=job["job_name"], media_uri=store.uri(job["media_key"]), media_format=job["media_format"],
                      output_bucket=store.bucket, output_key=job["output_key"], language_code=job["language_code"],
                      max_speakers=job["max_speakers"])


def submit_job(conn: sqlite3.Connection, services: Services, transcriber: TranscriptionService, job: sqlite3.Row,
               now: datetime) -> str:
    """'submitted', 'healed' (an earlier call had started it), 'deferred' (stays QUEUED) or 'failed'."""
    request = _request(services, job)
    if job["create_uncertain"]:
        found = _find(transcriber, request)
        if found is not None:
            return _adopt(conn, job, found, now)
    attempts = job["submit_attempts"] + 1
    with transaction(conn):  # from here on the job may exist, whatever happens to this process
        jobs_db.update_job(conn, job["id"], now, expect_status=("QUEUED",), create_uncertain=1,
                           submit_attempts=attempts)
    try:
        info = transcriber.start_job(request)
    except InferenceError as exc:
        return _start_failed(conn, transcriber, job, request, exc, now, attempts)
    crashpoint("after_transcribe_start")
    record_submission(conn, job, info, now)
    return "submitted"


def _find(transcriber: TranscriptionService, request: JobRequest) -> TranscriptionJobInfo | None:
    """The job an earlier start made under this name, if it is this media's (GetTranscriptionJob)."""
    try:
        info = transcriber.get_job(request.name)
    except NotFoundError:
        return None
    if info.media_uri is not None and info.media_uri != request.media_uri:
        log.warning("transcription job %s exists for other media (%s); not ours", request.name, info.media_uri)
        return None
    return info


def _adopt(conn: sqlite3.Connection, job: sqlite3.Row, info: TranscriptionJobInfo, now: datetime) -> str:
    log.info("transcription job %s: found from an earlier start; no second job", job["job_name"])
    record_submission(conn, job, info, now)
    return "healed"


def record_submission(conn: sqlite3.Connection, job: sqlite3.Row, info: TranscriptionJobInfo,
                      now: datetime) -> None:
    """The job exists: SUBMITTED, then whatever the service already said about it."""
    with transaction(conn):
        jobs_db.update_job(conn, job["id"], now, expect_status=("QUEUED",), status="SUBMITTED",
                           provider_status=info.status, create_uncertain=0, submitted_at=iso(now),
                           last_checked_at=iso(now), next_attempt_at=None, last_error=None)
    if STATUS_MAP.get(info.status, "SUBMITTED") != "SUBMITTED":
        apply_info(conn, jobs_db.get_job(conn, job["id"]), info, now)


def _start_failed(conn: sqlite3.Connection, transcriber: TranscriptionService, job: sqlite3.Row,
                  request: JobRequest, exc: InferenceError, now: datetime, attempts: int) -> str:
    if isinstance(exc, ConflictError):
        found = _find(transcriber, request)
        if found is not None:
            return _adopt(conn, job, found, now)
    if exc.transient and attempts < MAX_SUBMIT_ATTEMPTS:
        log.warning("transcription job %s: start deferred (%s)", job["job_name"], exc)
        _defer(conn, job, now, str(exc), uncertain=exc.code not in _NOTHING_STARTED, attempts=attempts)
        return "deferred"
    reason = f"the transcription job could not be started: {exc.message}"
    if exc.transient:
        reason += f" (still refused after {attempts} attempts)"
    with transaction(conn):
        jobs_db.update_job(conn, job["id"], now, expect_status=("QUEUED",), status="FAILED", create_uncertain=0,
                           failure_reason=reason[:2000], last_error=str(exc)[:2000], completed_at=iso(now))
    log.error("transcription job %s: %s", job["job_name"], reason)
    return "failed"


def _defer(conn: sqlite3.Connection, job: sqlite3.Row, now: datetime, error: str, *, uncertain: bool,
           attempts: int | None = None) -> None:
    attempts = attempts if attempts is not None else job["submit_attempts"] + 1
    with transaction(conn):
        jobs_db.update_job(conn, job["id"], now, expect_status=("QUEUED",), create_uncertain=int(uncertain),
                           submit_attempts=attempts, last_error=error[:2000],
                           next_attempt_at=later(now, backoff_seconds(attempts)))


# ---- refresh ---------------------------------------------------------------------------------

def refresh_running(conn: sqlite3.Connection, services: Services, transcriber: TranscriptionService,
                    now: datetime, *, force: bool = False) -> dict[str, Any]:
    """Ask about SUBMITTED/IN_PROGRESS jobs not checked for BATCH_CHECK_INTERVAL (every one with force)."""
    interval = timedelta(seconds=services.settings.BATCH_CHECK_INTERVAL)
    due = []
    for job in jobs_db.jobs_with_status(conn, jobs_db.JOB_RUNNING):
        checked = parse_iso(job["last_checked_at"])
        if job["backend"] == transcriber.name and (force or checked is None or checked + interval <= now):
            due.append(job)
    outcome: dict[str, Any] = {"checked": 0, "finished": 0, "errors": 0, "failed": 0, "listed": 0, "failures": []}
    if not due:
        return outcome
    infos = _list(transcriber, due, outcome) if len(due) > 1 else {}
    for job in due:
        info = infos.get(job["job_name"])
        if info is None:
            try:
                info = transcriber.get_job(job["job_name"])
            except InferenceError as exc:
                _check_failed(conn, job, exc, now, outcome)
                continue
        outcome["checked"] += 1
        status = apply_info(conn, job, info, now)
        if status in ("FETCHING", "FAILED"):
            outcome["finished"] += 1
        if status == "FAILED":
            outcome["failed"] += 1
            outcome["failures"].append(f"transcription job {job['job_name']}: {info.failure_reason or 'failed'}")
    return outcome


def _list(transcriber: TranscriptionService, jobs: list[sqlite3.Row], outcome: dict[str, Any]
          ) -> dict[str, TranscriptionJobInfo]:
    """One walk over the app's jobs (newest first), stopped once every wanted one was seen."""
    wanted = {j["job_name"] for j in jobs}
    found: dict[str, TranscriptionJobInfo] = {}
    try:
        for info in transcriber.list_jobs(name_contains=JOB_NAME_PREFIX):
            outcome["listed"] += 1
            if info.name in wanted:
                found[info.name] = info
            if len(found) == len(wanted) or outcome["listed"] >= MAX_LISTED:
                break
    except InferenceError as exc:
        log.warning("listing transcription jobs failed (%s); asking for each", exc)
    return found


def _check_failed(conn: sqlite3.Connection, job: sqlite3.Row, exc: InferenceError, now: datetime,
                  outcome: dict[str, Any]) -> None:
    log.warning("transcription job %s: status check failed: %s", job["job_name"], exc)
    if exc.transient:  # asked again after the interval
        with transaction(conn):
            jobs_db.update_job(conn, job["id"], now, last_error=f"status check failed: {exc}"[:2000],
                               last_checked_at=iso(now))
        outcome["errors"] += 1
        return
    reason = f"the transcription job can no longer be read: {exc.message}"
    finish_failed(conn, job, reason, now, expect=jobs_db.JOB_RUNNING, last_error=str(exc))
    outcome["failed"] += 1
    outcome["failures"].append(f"transcription job {job['job_name']}: {reason}")


def apply_info(conn: sqlite3.Connection, job: sqlite3.Row, info: TranscriptionJobInfo, now: datetime) -> str:
    """Store what the service says about the job; its new status."""
    status = STATUS_MAP.get(info.status)
    if status is None:
        log.warning("transcription job %s: unknown status %r; kept %s", job["job_name"], info.status, job["status"])
        status = job["status"]
    if status == "FAILED":
        finish_failed(conn, job, info.failure_reason or "Amazon Transcribe reported the job as failed", now,
                      expect=jobs_db.JOB_RUNNING, provider_status=info.status)
        return status
    values: dict[str, Any] = {"status": status, "provider_status": info.status, "last_checked_at": iso(now),
                              "last_error": None}
    if status == "FETCHING":
        values["next_attempt_at"] = None
    with transaction(conn):
        changed = jobs_db.update_job(conn, job["id"], now, expect_status=jobs_db.JOB_RUNNING, **values)
    return status if changed else job["status"]
