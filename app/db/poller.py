"""SQL for the batch poller's lease, stats and recent errors."""
from __future__ import annotations

import sqlite3
from typing import Any

from app.utils.timeutil import now_iso

STAT_COUNTERS = ("polls_count", "jobs_checked", "jobs_submitted", "jobs_completed", "jobs_failed",
                 "results_fetched", "cleanups_performed")
KEEP_ERRORS = 10


def take_lease(conn: sqlite3.Connection, name: str, holder: str, *, now: float, seconds: float) -> bool:
    """Take or renew the lease in one statement; True when `holder` has it until now + seconds."""
    cur = conn.execute(
        "INSERT INTO poller_lease (name, holder, expires_at, acquired_at) VALUES (:name, :holder, :exp, :stamp)"
        " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at,"
        "   acquired_at = CASE WHEN poller_lease.holder = excluded.holder THEN poller_lease.acquired_at"
        "                      ELSE excluded.acquired_at END"
        " WHERE poller_lease.holder = :holder OR poller_lease.expires_at < :now",
        {"name": name, "holder": holder, "exp": now + seconds, "stamp": now_iso(), "now": now},
    )
    return cur.rowcount == 1


def steal_lease(conn: sqlite3.Connection, name: str, old_holder: str, holder: str, *, now: float,
                seconds: float) -> bool:
    """Take the lease from one named holder (known to be dead); False if it changed hands meanwhile."""
    cur = conn.execute(
        "UPDATE poller_lease SET holder = ?, expires_at = ?, acquired_at = ? WHERE name = ? AND holder = ?",
        (holder, now + seconds, now_iso(), name, old_holder),
    )
    return cur.rowcount == 1


def release_lease(conn: sqlite3.Connection, name: str, holder: str) -> None:
    conn.execute("DELETE FROM poller_lease WHERE name = ? AND holder = ?", (name, holder))


def lease_holder(conn: sqlite3.Connection, name: str, *, now: float) -> str | None:
    row = conn.execute("SELECT holder, expires_at FROM poller_lease WHERE name = ?", (name,)).fetchone()
    return row["holder"] if row and row["expires_at"] >= now else None


def add_stats(conn: sqlite3.Connection, *, cycle_seconds: float | None = None, **counts: int) -> None:
    """Add to the shared counters (names from STAT_COUNTERS) and stamp the poll time."""
    unknown = set(counts) - set(STAT_COUNTERS)
    if unknown:
        raise ValueError(f"unknown poller counters: {sorted(unknown)}")
    sets = [f"{name} = {name} + :{name}" for name in counts]
    sets += ["last_poll_time = :stamp", "last_cycle_seconds = COALESCE(:cycle, last_cycle_seconds)"]
    conn.execute(f"UPDATE poller_stats SET {', '.join(sets)} WHERE id = 1",
                 {**counts, "stamp": now_iso(), "cycle": cycle_seconds})


def get_stats(conn: sqlite3.Connection) -> dict[str, Any]:
    row = conn.execute("SELECT * FROM poller_stats WHERE id = 1").fetchone()
    return dict(row) if row else {}


def record_error(conn: sqlite3.Connection, message: str) -> None:
    conn.execute("INSERT INTO poller_errors (at, message) VALUES (?, ?)", (now_iso(), message[:2000]))
    conn.execute("DELETE FROM poller_errors WHERE id NOT IN (SELECT id FROM poller_errors ORDER BY id DESC LIMIT ?)",
                 (KEEP_ERRORS,))


def recent_errors(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT at, message FROM poller_errors ORDER BY id DESC LIMIT ?", (KEEP_ERRORS,)).fetchall()
    return [{"time": r["at"], "message": r["message"]} for r in rows]
