"""SQL for background jobs and their per-item failures."""
from __future__ import annotations

import json
import sqlite3
from typing import Any, Iterable

from app.utils.timeutil import now_iso

ACTIVE_STATUSES = ("QUEUED", "RUNNING")
TERMINAL_STATUSES = ("SUCCEEDED", "FAILED", "CANCELLED")


def insert_job(conn: sqlite3.Connection, job_id: str, kind: str, params: dict[str, Any]) -> None:
    stamp = now_iso()
    conn.execute(
        "INSERT INTO jobs (id, kind, status, params, created_at, updated_at) VALUES (?, ?, 'QUEUED', ?, ?, ?)",
        (job_id, kind, json.dumps(params), stamp, stamp),
    )


def get_job(conn: sqlite3.Connection, job_id: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()


def list_jobs(conn: sqlite3.Connection, *, kind: str | None = None, limit: int = 50) -> list[sqlite3.Row]:
    if kind:
        return conn.execute(
            "SELECT * FROM jobs WHERE kind = ? ORDER BY created_at DESC LIMIT ?", (kind, limit)
        ).fetchall()
    return conn.execute("SELECT * FROM jobs ORDER BY created_at DESC LIMIT ?", (limit,)).fetchall()


def list_unfinished(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT * FROM jobs WHERE status IN ('QUEUED', 'RUNNING') ORDER BY created_at"
    ).fetchall()


def mark_running(conn: sqlite3.Connection, job_id: str) -> bool:
    """QUEUED/RUNNING -> RUNNING; False when the job was cancelled or finished meanwhile."""
    stamp = now_iso()
    cur = conn.execute(
        "UPDATE jobs SET status = 'RUNNING', started_at = COALESCE(started_at, ?), updated_at = ?"
        " WHERE id = ? AND status IN ('QUEUED', 'RUNNING') AND cancel_requested = 0",
        (stamp, stamp, job_id),
    )
    return cur.rowcount == 1


def update_progress(
    conn: sqlite3.Connection,
    job_id: str,
    *,
    total: int | None,
    done: int,
    counters: dict[str, Any],
    current_item: str | None,
) -> None:
    conn.execute(
        "UPDATE jobs SET total = ?, done = ?, counters = ?, current_item = ?, updated_at = ? WHERE id = ?",
        (total, done, json.dumps(counters), current_item, now_iso(), job_id),
    )


def finish_job(
    conn: sqlite3.Connection,
    job_id: str,
    status: str,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    stamp = now_iso()
    conn.execute(
        "UPDATE jobs SET status = ?, result = ?, error = ?, current_item = NULL, finished_at = ?, updated_at = ?"
        " WHERE id = ?",
        (status, json.dumps(result) if result is not None else None, error, stamp, stamp, job_id),
    )


def request_cancel(conn: sqlite3.Connection, job_id: str) -> None:
    conn.execute(
        "UPDATE jobs SET cancel_requested = 1, updated_at = ? WHERE id = ? AND status IN ('QUEUED', 'RUNNING')",
        (now_iso(), job_id),
    )


def cancel_if_queued(conn: sqlite3.Connection, job_id: str) -> bool:
    stamp = now_iso()
    cur = conn.execute(
        "UPDATE jobs SET status = 'CANCELLED', finished_at = ?, updated_at = ? WHERE id = ? AND status = 'QUEUED'",
        (stamp, stamp, job_id),
    )
    return cur.rowcount == 1


def is_cancel_requested(conn: sqlite3.Connection, job_id: str) -> bool:
    row = conn.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return bool(row and row[0])


def add_failures(conn: sqlite3.Connection, job_id: str, failures: Iterable[tuple[str, str]]) -> None:
    stamp = now_iso()
    conn.executemany(
        "INSERT INTO job_failures (job_id, item, reason, at) VALUES (?, ?, ?, ?)",
        [(job_id, item, reason, stamp) for item, reason in failures],
    )


def list_failures(conn: sqlite3.Connection, job_id: str, limit: int = 500) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT item, reason FROM job_failures WHERE job_id = ? ORDER BY id LIMIT ?", (job_id, limit)
    ).fetchall()


def count_failures(conn: sqlite3.Connection, job_id: str) -> int:
    return conn.execute("SELECT COUNT(*) FROM job_failures WHERE job_id = ?", (job_id,)).fetchone()[0]
