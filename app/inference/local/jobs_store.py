"""SQL for the local batch engine's jobs (table local_batch_jobs): the engine's own data, kept apart from the
app's data layer as Bedrock keeps its jobs apart from the app. Times are stored ISO-8601 UTC strings."""
from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any, Iterable

from app.utils import leases

TERMINAL = ("Completed", "PartiallyCompleted", "Failed", "Stopped", "Expired")
RUNNABLE = ("Submitted", "Validating", "Scheduled", "InProgress", "Stopping")
UNSTARTED = ("Submitted", "Scheduled")

_TERMINAL_SQL = ", ".join(f"'{s}'" for s in TERMINAL)
_RUNNABLE_SQL = ", ".join(f"'{s}'" for s in RUNNABLE)
_UNSTARTED_SQL = ", ".join(f"'{s}'" for s in UNSTARTED)
# One engine worker runs a job at a time; a worker whose process died loses its jobs (app/utils/leases.py).
CLAIMS = leases.Claims("local_batch_jobs", "job_id", f"status IN ({_RUNNABLE_SQL})")


def insert_job(conn: sqlite3.Connection, *, job_id: str, arn: str, name: str, client_token: str, model_id: str,
               role_arn: str, input_uri: str, output_uri: str, timeout_hours: int, submit_time: str,
               expiration_time: str) -> None:
    """Record a new Submitted job; raises sqlite3.IntegrityError on a taken name or token."""
    conn.execute(
        "INSERT INTO local_batch_jobs (job_id, arn, name, client_token, model_id, role_arn, input_uri, output_uri,"
        " timeout_hours, status, submit_time, last_modified_time, expiration_time)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'Submitted', ?, ?, ?)",
        (job_id, arn, name, client_token, model_id, role_arn, input_uri, output_uri, timeout_hours,
         submit_time, submit_time, expiration_time),
    )


def get_job(conn: sqlite3.Connection, job_id: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM local_batch_jobs WHERE job_id = ?", (job_id,)).fetchone()


def get_job_by_token(conn: sqlite3.Connection, client_token: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM local_batch_jobs WHERE client_token = ?", (client_token,)).fetchone()


def get_job_by_name(conn: sqlite3.Connection, name: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM local_batch_jobs WHERE name = ?", (name,)).fetchone()


def list_jobs(conn: sqlite3.Connection, *, name_contains: str | None = None, status: str | None = None,
              submitted_after: str | None = None) -> list[sqlite3.Row]:
    """Jobs matching every given filter, newest submission first."""
    where, params = [], []
    if name_contains is not None:
        where.append("instr(name, ?) > 0")
        params.append(name_contains)
    if status is not None:
        where.append("status = ?")
        params.append(status)
    if submitted_after is not None:
        where.append("submit_time > ?")
        params.append(submitted_after)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return conn.execute(
        f"SELECT * FROM local_batch_jobs{clause} ORDER BY submit_time DESC, rowid DESC", params
    ).fetchall()


def request_stop(conn: sqlite3.Connection, job_id: str, now: str) -> bool:
    """Flag a running job to stop and show it as Stopping; False when it is already terminal."""
    cur = conn.execute(
        f"UPDATE local_batch_jobs SET stop_requested = 1, status = 'Stopping', last_modified_time = ?"
        f" WHERE job_id = ? AND status NOT IN ({_TERMINAL_SQL})",
        (now, job_id),
    )
    return cur.rowcount == 1


def expire_unstarted(conn: sqlite3.Connection, now: str) -> list[str]:
    """Mark unclaimed Submitted/Scheduled jobs past their expiration time Expired; return their ids."""
    rows = conn.execute(
        f"SELECT job_id FROM local_batch_jobs WHERE status IN ({_UNSTARTED_SQL}) AND expiration_time <= ?"
        " AND stop_requested = 0 AND (claimed_by IS NULL OR claimed_until <= ?)",
        (now, now),
    ).fetchall()
    ids = [row["job_id"] for row in rows]
    for job_id in ids:
        conn.execute(
            "UPDATE local_batch_jobs SET status = 'Expired', end_time = ?, last_modified_time = ?,"
            " message = 'The job was not started before its timeout of ' || timeout_hours || ' hours.',"
            " claimed_by = NULL, claimed_until = NULL WHERE job_id = ?",
            (now, now, job_id),
        )
    return ids


def claim_next_job(conn: sqlite3.Connection, owner: str, now: datetime, seconds: float,
                   exclude: Iterable[str] = ()) -> sqlite3.Row | None:
    """Claim the oldest runnable job nobody holds a live lease on; run inside a transaction."""
    job_id = leases.claim_next(conn, CLAIMS, owner, now, seconds, order_by="submit_time, rowid", exclude=exclude)
    return get_job(conn, job_id) if job_id is not None else None


def advance(conn: sqlite3.Connection, job_id: str, owner: str, status: str, now: str, lease_until: str,
            **fields: Any) -> bool:
    """Move a claimed job on to status (and set fields); False when stop was requested or the claim lost."""
    assignments = "".join(f", {name} = ?" for name in fields)
    cur = conn.execute(
        f"UPDATE local_batch_jobs SET status = ?, last_modified_time = ?, claimed_until = ?{assignments}"
        " WHERE job_id = ? AND claimed_by = ? AND stop_requested = 0",
        (status, now, lease_until, *fields.values(), job_id, owner),
    )
    return cur.rowcount == 1


def record_progress(conn: sqlite3.Connection, job_id: str, owner: str, now: str, lease_until: str, *,
                    processed: int, success: int, error: int, input_tokens: int, output_tokens: int) -> bool:
    """Store the counters and extend the lease; False when the claim was lost."""
    cur = conn.execute(
        "UPDATE local_batch_jobs SET processed_records = ?, success_records = ?, error_records = ?,"
        " input_tokens = ?, output_tokens = ?, last_modified_time = ?, claimed_until = ?"
        " WHERE job_id = ? AND claimed_by = ?",
        (processed, success, error, input_tokens, output_tokens, now, lease_until, job_id, owner),
    )
    return cur.rowcount == 1


def stop_requested(conn: sqlite3.Connection, job_id: str) -> bool:
    row = conn.execute("SELECT stop_requested FROM local_batch_jobs WHERE job_id = ?", (job_id,)).fetchone()
    return bool(row and row["stop_requested"])


def finish(conn: sqlite3.Connection, job_id: str, owner: str, status: str, now: str,
           message: str | None = None) -> bool:
    """Put a claimed job in a terminal status and drop the lease; False when the claim was lost."""
    cur = conn.execute(
        "UPDATE local_batch_jobs SET status = ?, message = ?, end_time = ?, last_modified_time = ?,"
        " claimed_by = NULL, claimed_until = NULL WHERE job_id = ? AND claimed_by = ?",
        (status, message, now, now, job_id, owner),
    )
    return cur.rowcount == 1
