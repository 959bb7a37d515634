"""SQL for the batch poller: its lease (a row of the leases table), shared stats and recent errors."""
from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from app.utils import leases
from app.utils.clock import iso

STAT_COUNTERS = ("polls_count", "jobs_checked", "jobs_submitted", "jobs_completed", "jobs_failed",
                 "results_fetched", "cleanups_performed")
KEEP_ERRORS = 10
LEASES = leases.Claims("leases", "name")


def take_lease(conn: sqlite3.Connection, name: str, holder: str, now: datetime, seconds: float) -> bool:
    """Take or renew the named lease until now + seconds; False while another live process holds it."""
    conn.execute("INSERT OR IGNORE INTO leases (name) VALUES (?)", (name,))
    return leases.claim(conn, LEASES, name, holder, now, seconds)


def release_lease(conn: sqlite3.Connection, name: str, holder: str) -> None:
    leases.release(conn, LEASES, name, holder)


def lease_holder(conn: sqlite3.Connection, name: str, now: datetime) -> str | None:
    return leases.holder_of(conn, LEASES, name, now)


def add_stats(conn: sqlite3.Connection, now: datetime, *, cycle_seconds: float | None = None,
              **counts: int) -> None:
    """Add to the shared counters (names from STAT_COUNTERS) and stamp the poll time."""
    unknown = set(counts) - set(STAT_COUNTERS)
    if unknown:
        raise ValueError(f"unknown poller counters: {sorted(unknown)}")
    sets = [f"{name} = {name} + :{name}" for name in counts]
    sets += ["last_poll_time = :stamp", "last_cycle_seconds = COALESCE(:cycle, last_cycle_seconds)"]
    conn.execute(f"UPDATE poller_stats SET {', '.join(sets)} WHERE id = 1",
                 {**counts, "stamp": iso(now), "cycle": cycle_seconds})


def get_stats(conn: sqlite3.Connection) -> dict[str, Any]:
    row = conn.execute("SELECT * FROM poller_stats WHERE id = 1").fetchone()
    return dict(row) if row else {}


def record_error(conn: sqlite3.Connection, message: str, now: datetime) -> None:
    conn.execute("INSERT INTO poller_errors (at, message) VALUES (?, ?)", (iso(now), message[:2000]))
    conn.execute("DELETE FROM poller_errors WHERE id NOT IN (SELECT id FROM poller_errors ORDER BY id DESC LIMIT ?)",
                 (KEEP_ERRORS,))


def recent_errors(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT at, message FROM poller_errors ORDER BY id DESC LIMIT ?", (KEEP_ERRORS,)).fetchall()
    return [{"time": r["at"], "message": r["message"]} for r in rows]
