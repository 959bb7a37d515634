"""SQL for transcription jobs (table transcription_jobs): one provider job per requested file."""
from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any, Iterable

from app.utils import leases
from app.utils.clock import iso
from app.utils.sqlite import in_batches, sql_list

# STAGING -> QUEUED -> SUBMITTED -> IN_PROGRESS -> FETCHING -> COMPLETED | FAILED
JOB_ACTIVE = ("STAGING", "QUEUED", "SUBMITTED", "IN_PROGRESS", "FETCHING")
JOB_RUNNING = ("SUBMITTED", "IN_PROGRESS")
JOB_TERMINAL = ("COMPLETED", "FAILED")
# Only one process reads a finished job's output at a time.
FETCH_CLAIMS = leases.Claims("transcription_jobs", "id", "status = 'FETCHING'")

_FIELDS = frozenset({
    "status", "provider_status", "create_uncertain", "media_key", "output_key", "audio_seconds", "media_bytes",
    "estimated_cost_usd", "billed_seconds", "cost_usd", "submit_attempts", "fetch_attempts", "next_attempt_at",
    "last_error", "failure_reason", "task_id", "claimed_by", "claimed_until", "submitted_at", "last_checked_at",
    "completed_at", "cleaned_at",
})


def insert_job(conn: sqlite3.Connection, *, file_id: int, backend: str, job_name: str, media_key: str,
               output_key: str, media_format: str, language_code: str | None, max_speakers: int | None,
               price_per_minute: float, task_id: str | None, now: datetime) -> int:
    stamp = iso(now)
    cur = conn.execute(
        "INSERT INTO transcription_jobs (file_id, backend, job_name, status, media_key, output_key, media_format,"
        " language_code, max_speakers, price_per_minute, task_id, created_at, updated_at)"
        " VALUES (?, ?, ?, 'STAGING', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (file_id, backend, job_name, media_key, output_key, media_format, language_code, max_speakers,
         price_per_minute, task_id, stamp, stamp))
    return int(cur.lastrowid)


def get_job(conn: sqlite3.Connection, job_id: int) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM transcription_jobs WHERE id = ?", (job_id,)).fetchone()


def update_job(conn: sqlite3.Connection, job_id: int, now: datetime, *, expect_status: Iterable[str] | None = None,
               **values: Any) -> bool:
    """Set columns (and updated_at); with expect_status only while the job is in one of those states."""
    unknown = set(values) - _FIELDS
    if unknown:
        raise ValueError(f"not transcription job columns: {sorted(unknown)}")
    assignments = ", ".join([f"{name} = ?" for name in values] + ["updated_at = ?"])
    sql = f"UPDATE transcription_jobs SET {assignments} WHERE id = ?"
    params: list[Any] = [*values.values(), iso(now), job_id]
    if expect_status is not None:
        sql += f" AND status IN ({sql_list(expect_status)})"
    return conn.execute(sql, params).rowcount == 1


def jobs_with_status(conn: sqlite3.Connection, statuses: Iterable[str]) -> list[sqlite3.Row]:
    return conn.execute(
        f"SELECT * FROM transcription_jobs WHERE status IN ({sql_list(statuses)}) ORDER BY id").fetchall()


def due_jobs(conn: sqlite3.Connection, status: str, now: datetime | None) -> list[sqlite3.Row]:
    """Jobs in status whose next_attempt_at has come (every one when now is None), oldest first."""
    if now is None:
        return jobs_with_status(conn, (status,))
    return conn.execute(
        "SELECT * FROM transcription_jobs WHERE status = ? AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"
        " ORDER BY id", (status, iso(now))).fetchall()


def count_occupying_slots(conn: sqlite3.Connection, backend: str) -> int:
    """Jobs counting against the concurrent-job limit: running, or maybe created by an unanswered call."""
    return conn.execute(
        f"SELECT COUNT(*) FROM transcription_jobs WHERE backend = ? AND (status IN ({sql_list(JOB_RUNNING)})"
        " OR (status = 'QUEUED' AND create_uncertain = 1))", (backend,)).fetchone()[0]


def active_jobs_by_file(conn: sqlite3.Connection, file_ids: Iterable[int]) -> dict[int, sqlite3.Row]:
    """{file id: its unfinished job} for these files."""
    found: dict[int, sqlite3.Row] = {}
    for part, marks in in_batches(file_ids):
        for row in conn.execute(
                f"SELECT * FROM transcription_jobs WHERE status IN ({sql_list(JOB_ACTIVE)})"
                f" AND file_id IN ({marks}) ORDER BY id", part):
            found[row["file_id"]] = row
    return found


def latest_job_for_file(conn: sqlite3.Connection, file_id: int) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM transcription_jobs WHERE file_id = ? ORDER BY id DESC LIMIT 1",
                        (file_id,)).fetchone()


def uncleaned_terminal_jobs(conn: sqlite3.Connection, limit: int = 200) -> list[sqlite3.Row]:
    """Finished jobs whose staged objects are still in the store."""
    return conn.execute(
        f"SELECT * FROM transcription_jobs WHERE status IN ({sql_list(JOB_TERMINAL)}) AND cleaned_at IS NULL"
        " ORDER BY id LIMIT ?", (limit,)).fetchall()


def jobs_of_task(conn: sqlite3.Connection, task_id: str) -> list[sqlite3.Row]:
    return conn.execute("SELECT * FROM transcription_jobs WHERE task_id = ? ORDER BY id", (task_id,)).fetchall()
