"""Asking for transcripts: which files a request selects, what it would cost, and the task that starts it.

A request names files (`file_ids`), a library filter (`filter`) or the whole library (`all`). Subtitles a file
already has are always tried first and cost nothing; `force` asks Amazon Transcribe anyway. The estimate
comes from each file's audio duration at TRANSCRIBE_PRICE_PER_MINUTE with TRANSCRIBE_MIN_BILLED_SECONDS
billed at least per job (docs/transcribe-facts.md §Pricing), before anything is started.
"""
from __future__ import annotations

import sqlite3
from typing import Any, Iterator, Mapping

from app.config import Settings
from app.db import files as files_db
from app.db import transcription_jobs as jobs_db
from app.db import transcripts as transcripts_db
from app.errors import BadRequest, Unprocessable
from app.inference.transcribe.base import LANGUAGE_CODE_RE, MAX_AUDIO_SECONDS, MIN_AUDIO_SECONDS
from app.services import library
from app.services.context import Services
from app.services.params import json_bool, text_param
from app.services.transcripts.subtitles import FolderNames, has_sidecar

REQUEST_KEYS = ("file_ids", "filter", "all", "force", "language")
BATCH = 500


def billed_seconds(settings: Settings, audio_seconds: float | None) -> float:
    return max(float(audio_seconds or 0), settings.TRANSCRIBE_MIN_BILLED_SECONDS)


def aws_cost(settings: Settings, audio_seconds: float | None) -> float:
    """What Amazon Transcribe charges for this much audio."""
    return round(billed_seconds(settings, audio_seconds) / 60 * settings.TRANSCRIBE_PRICE_PER_MINUTE, 6)


def job_cost(settings: Settings, backend: str, audio_seconds: float | None) -> float:
    return aws_cost(settings, audio_seconds) if backend == "aws" else 0.0


def parse_request(conn: sqlite3.Connection, body: Mapping[str, Any]) -> dict[str, Any]:
    """Task params from an API body: exactly one of file_ids, filter and all; `force` and `language` optional."""
    unknown = sorted(k for k in body if k not in REQUEST_KEYS)
    if unknown:
        raise BadRequest(f"unknown key(s): {', '.join(unknown)}", code="invalid_parameter",
                         details={"parameter": unknown[0], "allowed": list(REQUEST_KEYS)})
    chosen = [k for k in ("file_ids", "filter", "all") if body.get(k) not in (None, False)]
    if len(chosen) != 1:
        raise BadRequest("give exactly one of 'file_ids', 'filter' and 'all'", code="invalid_parameter",
                         details={"parameter": "file_ids"})
    params: dict[str, Any] = {"force": json_bool("force", body.get("force", False))}
    if chosen[0] == "all":
        json_bool("all", body["all"])
        params["filter"] = {}
    elif chosen[0] == "filter":
        library.resolve_file_ids(conn, {"filter": body["filter"]})  # validates the filter now
        params["filter"] = body["filter"]
    else:
        params["file_ids"] = library.resolve_file_ids(conn, {"file_ids": body["file_ids"]})
    language = body.get("language")
    if language not in (None, "", "auto"):
        code = text_param("language", language, 16)
        if not LANGUAGE_CODE_RE.fullmatch(code):
            raise BadRequest("'language' must be a code such as en-US, or 'auto'", code="invalid_parameter",
                             details={"parameter": "language"})
        params["language"] = code
    return params


def selected_ids(conn: sqlite3.Connection, params: Mapping[str, Any]) -> list[int]:
    if params.get("file_ids") is not None:
        return [int(i) for i in params["file_ids"]]
    return list(files_db.iter_file_ids(conn, library.parse_file_query(params.get("filter") or {}, paged=False)))


def iter_selected(conn: sqlite3.Connection, params: Mapping[str, Any]) -> Iterator[tuple[sqlite3.Row, str | None,
                                                                                         sqlite3.Row | None]]:
    """(file row, its transcript source or None, its unfinished job or None) for every selected file."""
    ids = selected_ids(conn, params)
    for start in range(0, len(ids), BATCH):
        part = ids[start:start + BATCH]
        sources = transcripts_db.sources_by_file(conn, part)
        active = jobs_db.active_jobs_by_file(conn, part)
        for row in files_db.get_files(conn, part):
            yield row, sources.get(row["id"]), active.get(row["id"])


def plan_file(settings: Settings, backend: str | None, row: sqlite3.Row, source: str | None,
              active: sqlite3.Row | None, *, force: bool) -> str:
    """What a request does with one file, before looking for subtitles: 'transcribe' or why not."""
    if row["media_type"] != "video":
        return "not_video"
    if row["status"] != "ready":
        return "unreadable"
    if active is not None and active["status"] != "STAGING":
        return "in_progress"
    if source is not None and not force and not (source == "local" and backend == "aws"):
        return "has_transcript"
    if not row["audio_codec"]:
        return "no_audio"
    duration = row["duration_seconds"]
    if duration is not None and duration > MAX_AUDIO_SECONDS:
        return "too_long"
    if duration is not None and duration < MIN_AUDIO_SECONDS:
        return "too_short"
    return "transcribe"


REASONS = {
    "not_video": "not a video", "unreadable": "could not be read at import", "in_progress": "already being transcribed",
    "has_transcript": "already has a transcript", "no_audio": "no audio track",
    "too_long": f"longer than Amazon Transcribe's {MAX_AUDIO_SECONDS // 3600} h limit",
    "too_short": f"shorter than {MIN_AUDIO_SECONDS} s", "subtitles": "has subtitles (used for free)",
    "no_service": "no transcription service (TRANSCRIBE_BACKEND=none) and no subtitles",
}


def estimate(services: Services, conn: sqlite3.Connection, params: Mapping[str, Any]) -> dict[str, Any]:
    """POST /api/transcripts/estimate: what a request would do and cost, changing nothing."""
    settings = services.settings
    backend = services.transcriber.name if services.transcriber is not None else None
    force = bool(params.get("force"))
    counts: dict[str, int] = {}
    audio = 0.0
    billed = 0.0
    folders = FolderNames()
    for row, source, active in iter_selected(conn, params):
        plan = plan_file(settings, backend, row, source, active, force=force)
        if plan == "transcribe" and (not force or backend != "aws") and has_sidecar(settings, row["path"], folders):
            plan = "subtitles"
        if plan == "transcribe" and backend is None:
            plan = "no_service"
        counts[plan] = counts.get(plan, 0) + 1
        if plan == "transcribe":
            audio += float(row["duration_seconds"] or 0)
            billed += billed_seconds(settings, row["duration_seconds"])
    files = sum(counts.values())
    to_transcribe = counts.pop("transcribe", 0)
    aws_usd = round(billed / 60 * settings.TRANSCRIBE_PRICE_PER_MINUTE, 6)
    return {
        "backend": backend or "none", "force": force, "files": files, "to_transcribe": to_transcribe,
        "audio_seconds": round(audio, 3), "billed_seconds": round(billed, 3),
        "minutes": round(audio / 60, 2), "price_per_minute": settings.TRANSCRIBE_PRICE_PER_MINUTE,
        "min_billed_seconds": settings.TRANSCRIBE_MIN_BILLED_SECONDS,
        "cost_usd": aws_usd if backend == "aws" else 0.0, "aws_cost_usd": aws_usd,
        "skipped": counts,
        "reasons": [f"{n} file(s): {REASONS[k]}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1])],
    }


def start(services: Services, conn: sqlite3.Connection, params: dict[str, Any]) -> dict[str, Any]:
    """POST /api/transcripts: the estimate, then the `transcribe` task that looks for subtitles and stages jobs."""
    body = estimate(services, conn, params)
    subtitles = body["skipped"].get("subtitles", 0)
    if not body["to_transcribe"] and not subtitles:
        raise Unprocessable("nothing to transcribe in this selection: " + "; ".join(body["reasons"] or
                                  ["no files"]), code="nothing_to_transcribe", details={"estimate": body})
    body["task_id"] = services.tasks.submit(conn, "transcribe", params)
    return body
