"""A file's transcript: saved from subtitles or a transcription job, and read back in the API's shape."""
from __future__ import annotations

import sqlite3
import unicodedata
from datetime import datetime
from typing import Any, Iterable

from app.db import transcription_jobs as jobs_db
from app.db import transcripts as transcripts_db
from app.inference.transcribe.output import ParsedTranscript
from app.media.subtitles import SubtitleTrack
from app.utils.clock import utc

SOURCE_LABELS = {"aws": "Amazon Transcribe", "local": "offline stand-in (no speech recognition)",
                 "subtitle_stream": "subtitle stream in the video", "sidecar": "subtitle file beside the video"}
SUBTITLE_SOURCES = ("sidecar", "subtitle_stream")
MAX_SEGMENT_CHARS = 2_000
MAX_SPEAKER_CHARS = 64


def plain_line(text: Any, limit: int = MAX_SEGMENT_CHARS) -> str:
    """Text as one plain line: control and format characters (bidi overrides included) removed, whitespace
    collapsed. Stored text is never escaped (pages insert it as text), only made a single clean line."""
    if not isinstance(text, str):
        return ""
    kept = (" " if unicodedata.category(ch) in ("Zs", "Zl", "Zp") or ch in "\t\r\n\v\f" else ch for ch in text)
    return " ".join("".join(ch for ch in kept if unicodedata.category(ch) not in ("Cc", "Cf", "Co", "Cs"))
                    .split())[:limit]


def _rows(segments: Iterable[Any]) -> list[transcripts_db.SegmentRow]:
    rows = []
    for segment in segments:
        start, end = float(segment.start), float(segment.end)
        speaker = plain_line(segment.speaker, MAX_SPEAKER_CHARS) or None if segment.speaker else None
        rows.append((round(start, 3), round(max(start, end), 3), speaker, plain_line(segment.text)))
    return rows


def save_subtitles(conn: sqlite3.Connection, file_id: int, source: str, track: SubtitleTrack,
                   now: datetime | None = None) -> int:
    """The file's transcript from subtitles it already has: no job, no cost. Caller owns the transaction."""
    rows = _rows(track.cues)
    values = {"source": source, "source_detail": plain_line(track.detail, 300),
              "language": plain_line(track.language, 32) or None, "text": " ".join(r[3] for r in rows if r[3]),
              "note": None, "audio_seconds": None, "billed_seconds": 0, "cost_usd": 0, "job_id": None}
    return transcripts_db.save_transcript(conn, file_id, values, rows, utc(now))


def save_job_output(conn: sqlite3.Connection, job: sqlite3.Row, parsed: ParsedTranscript, *, billed_seconds: float,
                    cost_usd: float, now: datetime) -> int:
    """The file's transcript from a finished job. Caller owns the transaction."""
    rows = _rows(parsed.segments)
    text = plain_line(parsed.text, 10_000_000) or " ".join(r[3] for r in rows if r[3])
    values = {"source": job["backend"], "source_detail": job["job_name"], "language": plain_line(parsed.language, 32)
              or job["language_code"], "language_score": parsed.language_score, "text": text,
              "note": empty_note(job["backend"], rows) if not text else None, "audio_seconds": job["audio_seconds"],
              "billed_seconds": billed_seconds, "cost_usd": cost_usd, "job_id": job["id"]}
    return transcripts_db.save_transcript(conn, job["file_id"], values, rows, now)


def empty_note(backend: str, rows: list[transcripts_db.SegmentRow]) -> str:
    """Why a transcript has no words."""
    if backend != "local":
        return "Amazon Transcribe found no speech in the audio."
    seconds = sum(end - start for start, end, _, _ in rows)
    found = (f"it marked {len(rows)} stretch{'es' if len(rows) != 1 else ''} of sound ({seconds:.1f} s in all), "
             "measured from the audio level" if rows else "it found no sound above the noise floor")
    return ("No words: the offline stand-in (TRANSCRIBE_BACKEND=local) does not recognise speech; "
            f"{found}. Set TRANSCRIBE_BACKEND=aws to transcribe with Amazon Transcribe.")


def transcript_dict(conn: sqlite3.Connection, file_id: int) -> dict[str, Any] | None:
    """The API shape of the file's transcript with its segments, or None."""
    row = transcripts_db.get_transcript(conn, file_id)
    if row is None:
        return None
    segments = [{"start_seconds": s["start_seconds"], "end_seconds": s["end_seconds"], "speaker": s["speaker"],
                 "text": s["text"]} for s in transcripts_db.list_segments(conn, row["id"])]
    return {
        "id": row["id"], "file_id": file_id, "source": row["source"], "source_label": SOURCE_LABELS[row["source"]],
        "source_detail": row["source_detail"], "language": row["language"], "language_score": row["language_score"],
        "text": row["text"], "note": row["note"], "segment_count": row["segment_count"],
        "speaker_count": row["speaker_count"], "audio_seconds": row["audio_seconds"],
        "billed_seconds": row["billed_seconds"], "cost_usd": row["cost_usd"], "created_at": row["created_at"],
        "updated_at": row["updated_at"], "segments": segments,
    }


def job_dict(row: sqlite3.Row | None) -> dict[str, Any] | None:
    """The API shape of a transcription job."""
    if row is None:
        return None
    return {"id": row["id"], "file_id": row["file_id"], "backend": row["backend"], "job_name": row["job_name"],
            "status": row["status"], "provider_status": row["provider_status"],
            "active": row["status"] in jobs_db.JOB_ACTIVE, "audio_seconds": row["audio_seconds"],
            "estimated_cost_usd": row["estimated_cost_usd"], "cost_usd": row["cost_usd"],
            "failure_reason": row["failure_reason"], "last_error": row["last_error"],
            "created_at": row["created_at"], "submitted_at": row["submitted_at"], "completed_at": row["completed_at"]}


def file_transcript(conn: sqlite3.Connection, file: sqlite3.Row) -> dict[str, Any]:
    """GET /api/files/<id>/transcript: the transcript (or null) and the file's latest job (or null)."""
    return {"file_id": file["id"], "media_type": file["media_type"], "has_audio": bool(file["audio_codec"]),
            "transcript": transcript_dict(conn, file["id"]),
            "job": job_dict(jobs_db.latest_job_for_file(conn, file["id"]))}


def task_jobs(conn: sqlite3.Connection, task_id: str) -> dict[str, Any]:
    """The jobs a `transcribe` task queued: how many are still running, done or failed (with why)."""
    rows = jobs_db.jobs_of_task(conn, task_id)
    return {"total": len(rows), "active": sum(r["status"] in jobs_db.JOB_ACTIVE for r in rows),
            "completed": sum(r["status"] == "COMPLETED" for r in rows),
            "failed": [{"job_name": r["job_name"], "file_id": r["file_id"], "reason": r["failure_reason"]}
                       for r in rows if r["status"] == "FAILED"],
            "cost_usd": round(sum(r["cost_usd"] or 0 for r in rows), 6)}
