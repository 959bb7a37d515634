"""The `transcribe` task: subtitles first, then each remaining video's audio extracted (16 kHz mono FLAC),
checked against Amazon Transcribe's limits, uploaded to the object store and queued as a job for the poller.

The job's name is fixed when its row is written, before any call: `mktx-f<file id>-<time>-<random>`, unique
across installations sharing an account and across database resets (AWS keeps job names for 90 days), so a
lookup by that name always finds this job and no other. A task that dies mid-file leaves a STAGING row that
the resumed task stages again.
"""
from __future__ import annotations

import logging
import secrets
import sqlite3
from pathlib import Path
from typing import Any

from app.db import files as files_db
from app.db import transaction
from app.db import transcription_jobs as jobs_db
from app.inference.transcribe.base import MAX_AUDIO_SECONDS, MAX_MEDIA_BYTES, MIN_AUDIO_SECONDS
from app.media.audio import extract_audio
from app.media.errors import MediaError, ProxyCancelled
from app.services.context import Services
from app.services.signals import BATCH
from app.services.tasks import TaskCancelled, TaskContext
from app.services.transcripts import requests
from app.services.transcripts.subtitles import FolderNames, pick_up
from app.storage.base import StorageError
from app.utils.clock import iso, utcnow

log = logging.getLogger(__name__)

JOB_NAME_PREFIX = "mktx-"  # every transcription job this app starts; listed by it
MEDIA_ROOT = "transcribe/input/"
OUTPUT_ROOT = "transcribe/output/"
MEDIA_FORMAT = "flac"
FAILURES = ("unreadable", "too_long", "too_short", "no_service")


def new_job_name(file_id: int) -> str:
    now = utcnow()
    return f"{JOB_NAME_PREFIX}f{file_id}-{now:%Y%m%d%H%M%S}-{secrets.token_hex(4)}"


def run_transcribe_task(services: Services, ctx: TaskContext, params: dict[str, Any]) -> dict[str, Any]:
    """Task handler: for each selected file, its subtitles, or a queued job, or the reason why neither."""
    conn = ctx.conn
    ids = requests.selected_ids(conn, params)
    for name in ("queued", "subtitles"):
        ctx.counters.setdefault(name, 0)
    ctx.done = 0
    ctx.set_total(len(ids))
    queued = 0
    folders = FolderNames()
    for row, source, active in requests.iter_selected(conn, {"file_ids": ids}):
        ctx.check()
        ctx.set_current(row["name"])
        outcome = _one_file(services, ctx, row, source, active, params, folders)
        if outcome.startswith("failed: "):
            ctx.fail_item(row["name"], outcome[len("failed: "):])
            ctx.advance()
        else:
            ctx.advance(**{outcome: 1})
        if outcome == "queued":
            queued += 1
            if queued % 20 == 0:
                services.signals.notify(BATCH)  # the poller submits while the rest is staged
    ctx.set_current(None)
    if queued:
        services.signals.notify(BATCH)
    return dict(ctx.counters)


def _one_file(services: Services, ctx: TaskContext, row: sqlite3.Row, source: str | None,
              active: sqlite3.Row | None, params: dict[str, Any], folders: FolderNames) -> str:
    """'queued', 'subtitles', 'skipped_<why>' or 'failed: <reason>'."""
    settings = services.settings
    transcriber = services.transcriber
    backend = transcriber.name if transcriber is not None else None
    force = bool(params.get("force"))
    plan = requests.plan_file(settings, backend, row, source, active, force=force)
    if plan != "transcribe":
        return f"failed: {requests.REASONS[plan]}" if plan in FAILURES else f"skipped_{plan}"
    if not force or backend != "aws":  # the stand-in cannot do better than real subtitles
        if pick_up(settings, ctx.conn, row, ctx, folders) is not None:
            return "subtitles"
    if backend is None:
        return f"failed: {requests.REASONS['no_service']}"
    return _stage(services, ctx, row, active, params)


def _stage(services: Services, ctx: TaskContext, row: sqlite3.Row, active: sqlite3.Row | None,
           params: dict[str, Any]) -> str:
    settings, conn = services.settings, ctx.conn
    job = active if active is not None else _new_job(services, ctx, row, params)
    folder = settings.DATA_DIR / "tmp" / "transcribe"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{job['job_name']}.{MEDIA_FORMAT}"
    try:
        extract = extract_audio(_source(settings.DATA_DIR, conn, row), target, should_cancel=ctx.should_stop)
        reason = _over_limits(extract.duration_seconds, extract.size_bytes)
        if reason is None:
            services.store.put_file(job["media_key"], target, content_type="audio/flac")
    except ProxyCancelled:
        try:
            ctx.check()  # raises; on shutdown the job stays STAGING and is staged again when the task resumes
        except TaskCancelled:
            _fail(conn, job, "the request was cancelled before the job was started")
            raise
        raise
    except (MediaError, StorageError) as exc:
        reason = exc.reason if isinstance(exc, MediaError) else f"the audio could not be stored: {exc}"
        extract = None
    finally:
        target.unlink(missing_ok=True)
    if reason is not None:
        _fail(conn, job, reason)
        return f"failed: {reason}"
    now = utcnow()
    with transaction(conn):
        jobs_db.update_job(conn, job["id"], now, expect_status=("STAGING",), status="QUEUED",
                           audio_seconds=round(extract.duration_seconds, 3), media_bytes=extract.size_bytes,
                           estimated_cost_usd=requests.job_cost(settings, job["backend"], extract.duration_seconds))
    log.info("file %s: transcription job %s queued", row["id"], job["job_name"])
    return "queued"


def _fail(conn: sqlite3.Connection, job: sqlite3.Row, reason: str) -> None:
    now = utcnow()
    with transaction(conn):
        jobs_db.update_job(conn, job["id"], now, expect_status=("STAGING",), status="FAILED",
                           failure_reason=reason[:2000], completed_at=iso(now))


def _new_job(services: Services, ctx: TaskContext, row: sqlite3.Row, params: dict[str, Any]) -> sqlite3.Row:
    settings = services.settings
    name = new_job_name(row["id"])
    language = params.get("language") or settings.TRANSCRIBE_LANGUAGE or None
    with transaction(ctx.conn):
        job_id = jobs_db.insert_job(
            ctx.conn, file_id=row["id"], backend=services.transcriber.name, job_name=name,
            media_key=f"{MEDIA_ROOT}{name}.{MEDIA_FORMAT}", output_key=f"{OUTPUT_ROOT}{name}.json",
            media_format=MEDIA_FORMAT, language_code=language,
            max_speakers=settings.TRANSCRIBE_MAX_SPEAKERS if settings.TRANSCRIBE_SPEAKER_LABELS else None,
            price_per_minute=settings.TRANSCRIBE_PRICE_PER_MINUTE if services.transcriber.name == "aws" else 0.0,
            task_id=ctx.task_id, now=utcnow())
    return jobs_db.get_job(ctx.conn, job_id)


def _source(data_dir: Path, conn: sqlite3.Connection, row: sqlite3.Row) -> Path:
    """The original, or its proxy (same audio, AAC) when the original is gone."""
    original = Path(row["path"])
    if original.exists():
        return original
    proxy = files_db.get_derivatives(conn, row["id"]).get("proxy")
    return data_dir / proxy["path"] if proxy is not None else original


def _over_limits(seconds: float, size: int) -> str | None:
    """Which of Amazon Transcribe's fixed quotas the audio breaks (docs/transcribe-facts.md §Limits)."""
    if seconds > MAX_AUDIO_SECONDS:
        return f"the audio lasts {seconds:.0f} s: Amazon Transcribe takes at most {MAX_AUDIO_SECONDS} s"
    if seconds < MIN_AUDIO_SECONDS:
        return f"the audio lasts {seconds:.2f} s: Amazon Transcribe needs at least {MIN_AUDIO_SECONDS} s"
    if size > MAX_MEDIA_BYTES:
        return f"the audio is {size} bytes: Amazon Transcribe takes at most {MAX_MEDIA_BYTES} bytes"
    return None
