"""SQL for the offline transcription stand-in's jobs (table local_transcription_jobs): its own data, kept apart
from the app's data layer as Amazon Transcribe keeps its jobs apart from the app."""
from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from app.utils import leases

# A worker that dies loses its jobs (app/utils/leases.py); finished jobs cannot be claimed.
CLAIMS = leases.Claims("local_transcription_jobs", "name", "status IN ('QUEUED', 'IN_PROGRESS')")


def insert_job(conn: sqlite3.Connection, *, name: str, media_uri: str, media_format: str | None,
               output_bucket: str, output_key: str, language_code: str | None, identify_language: bool,
               max_speakers: int | None, creation_time: str) -> None:
    """Record a QUEUED job; raises sqlite3.IntegrityError when the name is taken."""
    conn.execute(
        "INSERT INTO local_transcription_jobs (name, status, media_uri, media_format, output_bucket, output_key,"
        " language_code, identify_language, max_speakers, creation_time) VALUES (?, 'QUEUED', ?, ?, ?, ?, ?, ?, ?, ?)",
        (name, media_uri, media_format, output_bucket, output_key, language_code, int(identify_language),
         max_speakers, creation_time))


def get_job(conn: sqlite3.Connection, name: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM local_transcription_jobs WHERE name = ?", (name,)).fetchone()


def list_jobs(conn: sqlite3.Connection, *, name_contains: str, status: str | None) -> list[sqlite3.Row]:
    """Jobs whose name contains the text (case-insensitive, as AWS matches), newest first."""
    sql = "SELECT * FROM local_transcription_jobs WHERE instr(lower(name), lower(?)) > 0"
    params: list[Any] = [name_contains]
    if status is not None:
        sql += " AND status = ?"
        params.append(status)
    return conn.execute(sql + " ORDER BY creation_time DESC, rowid DESC", params).fetchall()


def claim_next(conn: sqlite3.Connection, owner: str, now: datetime, seconds: float,
               exclude: set[str]) -> sqlite3.Row | None:
    name = leases.claim_next(conn, CLAIMS, owner, now, seconds, order_by="creation_time, rowid", exclude=exclude)
    return get_job(conn, name) if name is not None else None


def finish(conn: sqlite3.Connection, name: str, owner: str, *, status: str, now: str,
           failure_reason: str | None = None) -> bool:
    """COMPLETED or FAILED, and the claim given up; False when the claim was lost."""
    return conn.execute(
        "UPDATE local_transcription_jobs SET status = ?, failure_reason = ?, completion_time = ?,"
        " start_time = COALESCE(start_time, ?), claimed_by = NULL, claimed_until = NULL"
        " WHERE name = ? AND claimed_by = ?",
        (status, failure_reason, now, now, name, owner)).rowcount == 1


def mark_started(conn: sqlite3.Connection, name: str, owner: str, now: str) -> bool:
    return conn.execute(
        "UPDATE local_transcription_jobs SET status = 'IN_PROGRESS', start_time = COALESCE(start_time, ?)"
        " WHERE name = ? AND claimed_by = ?", (now, name, owner)).rowcount == 1
