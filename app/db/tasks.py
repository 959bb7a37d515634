"""SQL for background tasks (table tasks) and their per-item failures (table task_failures)."""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any, Iterable

from app.utils.clock import iso
from app.utils.leases import Claims

ACTIVE_STATUSES = ("QUEUED", "RUNNING")
TERMINAL_STATUSES = ("SUCCEEDED", "FAILED", "CANCELLED")
# A task is claimed by the process that runs it; a dead or expired claim lets another process resume it.
CLAIMS = Claims("tasks", "id", "status IN ('QUEUED', 'RUNNING') AND cancel_requested = 0")


def insert_task(conn: sqlite3.Connection, task_id: str, kind: str, params: dict[str, Any], now: datetime) -> None:
    stamp = iso(now)
    conn.execute(
        "INSERT INTO tasks (id, kind, status, params, created_at, updated_at) VALUES (?, ?, 'QUEUED', ?, ?, ?)",
        (task_id, kind, json.dumps(params), stamp, stamp),
    )


def get_task(conn: sqlite3.Connection, task_id: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()


def list_tasks(conn: sqlite3.Connection, *, kind: str | None = None, limit: int = 50) -> list[sqlite3.Row]:
    if kind:
        return conn.execute(
            "SELECT * FROM tasks WHERE kind = ? ORDER BY created_at DESC LIMIT ?", (kind, limit)
        ).fetchall()
    return conn.execute("SELECT * FROM tasks ORDER BY created_at DESC LIMIT ?", (limit,)).fetchall()


def mark_running(conn: sqlite3.Connection, task_id: str, now: datetime) -> bool:
    """QUEUED/RUNNING -> RUNNING; False when the task was cancelled or finished meanwhile."""
    stamp = iso(now)
    cur = conn.execute(
        "UPDATE tasks SET status = 'RUNNING', started_at = COALESCE(started_at, ?), updated_at = ?"
        " WHERE id = ? AND status IN ('QUEUED', 'RUNNING') AND cancel_requested = 0",
        (stamp, stamp, task_id),
    )
    return cur.rowcount == 1


def update_progress(conn: sqlite3.Connection, task_id: str, *, total: int | None, done: int,
                    counters: dict[str, Any], current_item: str | None, now: datetime) -> None:
    conn.execute(
        "UPDATE tasks SET total = ?, done = ?, counters = ?, current_item = ?, updated_at = ? WHERE id = ?",
        (total, done, json.dumps(counters), current_item, iso(now), task_id),
    )


def finish_task(conn: sqlite3.Connection, task_id: str, status: str, now: datetime, *,
                result: dict[str, Any] | None = None, error: str | None = None) -> None:
    stamp = iso(now)
    conn.execute(
        "UPDATE tasks SET status = ?, result = ?, error = ?, current_item = NULL, finished_at = ?, updated_at = ?,"
        " claimed_by = NULL, claimed_until = NULL WHERE id = ?",
        (status, json.dumps(result) if result is not None else None, error, stamp, stamp, task_id),
    )


def request_cancel(conn: sqlite3.Connection, task_id: str, now: datetime) -> None:
    conn.execute(
        "UPDATE tasks SET cancel_requested = 1, updated_at = ? WHERE id = ? AND status IN ('QUEUED', 'RUNNING')",
        (iso(now), task_id),
    )


def cancel_if_queued(conn: sqlite3.Connection, task_id: str, now: datetime) -> bool:
    stamp = iso(now)
    cur = conn.execute(
        "UPDATE tasks SET status = 'CANCELLED', finished_at = ?, updated_at = ? WHERE id = ? AND status = 'QUEUED'",
        (stamp, stamp, task_id),
    )
    return cur.rowcount == 1


def is_cancel_requested(conn: sqlite3.Connection, task_id: str) -> bool:
    row = conn.execute("SELECT cancel_requested FROM tasks WHERE id = ?", (task_id,)).fetchone()
    return bool(row and row[0])


def add_failures(conn: sqlite3.Connection, task_id: str, failures: Iterable[tuple[str, str]],
                 now: datetime) -> None:
    stamp = iso(now)
    conn.executemany(
        "INSERT INTO task_failures (task_id, item, reason, at) VALUES (?, ?, ?, ?)",
        [(task_id, item, reason, stamp) for item, reason in failures],
    )


def list_failures(conn: sqlite3.Connection, task_id: str, limit: int = 500) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT item, reason FROM task_failures WHERE task_id = ? ORDER BY id LIMIT ?", (task_id, limit)
    ).fetchall()
