"""Leases on table rows: the one claim rule for every piece of work that only one process may do at a time.

A claimable row has `claimed_by` ('host:pid:random', see holders.py) and `claimed_until` (stored time)
columns. A claim succeeds when the row is free, its lease ran out, or the claimer already holds it; a
holder on this machine whose process is gone loses its claim at once instead of when the lease runs out.
Used by the poller lease, task claims and ingest claims (app/db) and by the local batch engine's jobs.
The caller owns the transaction; table and column names come from `Claims` constants, never from input.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from app.utils.clock import iso, later
from app.utils.holders import is_dead_local_holder


@dataclass(frozen=True)
class Claims:
    """A table whose rows can be claimed: its key column and which rows may be claimed at all (SQL)."""

    table: str
    key: str
    claimable: str = "1"


def claim(conn: sqlite3.Connection, spec: Claims, key: object, holder: str, now: datetime,
          seconds: float) -> bool:
    """Take or renew the claim on one row until now + seconds; False while someone alive holds it."""
    if _take(conn, spec, key, holder, now, seconds):
        return True
    return bool(free_dead_claims(conn, spec, now, key=key)) and _take(conn, spec, key, holder, now, seconds)


def claim_next(conn: sqlite3.Connection, spec: Claims, holder: str, now: datetime, seconds: float, *,
               order_by: str, exclude: Iterable[object] = ()) -> object | None:
    """Claim the first free claimable row in `order_by` order (skipping `exclude`); its key, or None."""
    excluded = list(exclude)
    not_in = f" AND {spec.key} NOT IN ({', '.join('?' * len(excluded))})" if excluded else ""
    row = conn.execute(
        f"SELECT {spec.key} FROM {spec.table} WHERE ({spec.claimable})"
        f" AND (claimed_by IS NULL OR claimed_until <= ?){not_in} ORDER BY {order_by} LIMIT 1",
        (iso(now), *excluded),
    ).fetchone()
    if row is None or not _take(conn, spec, row[0], holder, now, seconds):
        return None
    return row[0]


def renew_all(conn: sqlite3.Connection, spec: Claims, holder: str, now: datetime, seconds: float) -> int:
    """Extend every live claim `holder` has on claimable rows; how many were extended."""
    return conn.execute(
        f"UPDATE {spec.table} SET claimed_until = ? WHERE claimed_by = ? AND ({spec.claimable})",
        (later(now, seconds), holder),
    ).rowcount


def release(conn: sqlite3.Connection, spec: Claims, key: object, holder: str) -> bool:
    """Give the claim up now (only the holder can), so another process need not wait for it to run out."""
    return conn.execute(
        f"UPDATE {spec.table} SET claimed_by = NULL, claimed_until = NULL WHERE {spec.key} = ? AND claimed_by = ?",
        (key, holder),
    ).rowcount == 1


def holder_of(conn: sqlite3.Connection, spec: Claims, key: object, now: datetime) -> str | None:
    """Who holds a live claim on the row, or None."""
    row = conn.execute(
        f"SELECT claimed_by FROM {spec.table} WHERE {spec.key} = ? AND claimed_by IS NOT NULL AND claimed_until > ?",
        (key, iso(now)),
    ).fetchone()
    return row[0] if row else None


def free_dead_claims(conn: sqlite3.Connection, spec: Claims, now: datetime, *, key: object = None) -> list[object]:
    """Release live claims (of one row, or all) whose holder is a process of this machine that is gone."""
    sql = f"SELECT {spec.key}, claimed_by FROM {spec.table} WHERE claimed_by IS NOT NULL AND claimed_until > ?"
    params: list[object] = [iso(now)]
    if key is not None:
        sql += f" AND {spec.key} = ?"
        params.append(key)
    freed = []
    for row_key, holder in conn.execute(sql, params).fetchall():
        if is_dead_local_holder(holder) and release(conn, spec, row_key, holder):
            freed.append(row_key)
    return freed


def _take(conn: sqlite3.Connection, spec: Claims, key: object, holder: str, now: datetime, seconds: float) -> bool:
    return conn.execute(
        f"UPDATE {spec.table} SET claimed_by = ?, claimed_until = ? WHERE {spec.key} = ? AND ({spec.claimable})"
        " AND (claimed_by IS NULL OR claimed_until <= ? OR claimed_by = ?)",
        (holder, later(now, seconds), key, iso(now), holder),
    ).rowcount == 1
