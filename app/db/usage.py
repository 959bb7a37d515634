"""SQL for usage reports: analysis runs, submissions and jobs aggregated over a date range.

Days are the UTC date prefix of the stored ISO timestamps; `end` is exclusive (the day after the range).
"""
from __future__ import annotations

import sqlite3
from typing import Any

_RUN_DAY = "substr(COALESCE(completed_at, created_at), 1, 10)"
_RUN_SUMS = (
    "COUNT(*) AS runs,"
    " SUM(status = 'COMPLETED') AS completed,"
    " SUM(status = 'FAILED') AS failed,"
    " SUM(status NOT IN ('COMPLETED', 'FAILED')) AS pending,"
    " COALESCE(SUM(tokens_input), 0) AS tokens_input,"
    " COALESCE(SUM(tokens_output), 0) AS tokens_output,"
    " COALESCE(SUM(cost_usd), 0) AS cost_usd"
)


def runs_per_day(conn: sqlite3.Connection, start: str, end: str) -> list[sqlite3.Row]:
    return conn.execute(
        f"SELECT {_RUN_DAY} AS day, {_RUN_SUMS} FROM analysis_runs"
        f" WHERE {_RUN_DAY} >= ? AND {_RUN_DAY} < ? GROUP BY day ORDER BY day",
        (start, end),
    ).fetchall()


def runs_by(conn: sqlite3.Connection, column: str, start: str, end: str) -> list[sqlite3.Row]:
    if column not in ("model_key", "mode"):
        raise ValueError(column)
    return conn.execute(
        f"SELECT {column} AS key, {_RUN_SUMS} FROM analysis_runs"
        f" WHERE {_RUN_DAY} >= ? AND {_RUN_DAY} < ? GROUP BY {column} ORDER BY cost_usd DESC, runs DESC",
        (start, end),
    ).fetchall()


def run_totals(conn: sqlite3.Connection, start: str, end: str) -> sqlite3.Row:
    return conn.execute(
        f"SELECT {_RUN_SUMS}, COUNT(DISTINCT CASE WHEN status = 'COMPLETED' THEN file_id END) AS files_analysed"
        f" FROM analysis_runs WHERE {_RUN_DAY} >= ? AND {_RUN_DAY} < ?",
        (start, end),
    ).fetchone()


def submissions(conn: sqlite3.Connection, start: str, end: str, limit: int) -> dict[str, Any]:
    where = "substr(created_at, 1, 10) >= ? AND substr(created_at, 1, 10) < ?"
    by_status = {row["status"]: row["n"] for row in conn.execute(
        f"SELECT status, COUNT(*) AS n FROM batches WHERE {where} GROUP BY status", (start, end))}
    sums = conn.execute(
        f"SELECT COUNT(*) AS count, COALESCE(SUM(estimated_cost_usd), 0) AS estimated,"
        f" COALESCE(SUM(actual_cost_usd), 0) AS actual, COALESCE(SUM(files_total), 0) AS files"
        f" FROM batches WHERE {where}", (start, end)).fetchone()
    items = conn.execute(
        "SELECT id, status, model_key, mode, files_total, records_total, estimated_cost_usd, actual_cost_usd,"
        " created_at, completed_at, plan,"
        " (SELECT COALESCE(SUM(r.tokens_input + r.tokens_output), 0) FROM analysis_runs r WHERE r.batch_id = b.id)"
        f" AS actual_tokens FROM batches b WHERE {where} ORDER BY id DESC LIMIT ?", (start, end, limit),
    ).fetchall()
    return {"sums": sums, "by_status": by_status, "items": items}


def tasks_by_kind(conn: sqlite3.Connection, start: str, end: str) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT kind, COUNT(*) AS total, SUM(status = 'SUCCEEDED') AS succeeded, SUM(status = 'FAILED') AS failed,"
        " SUM(status = 'CANCELLED') AS cancelled, SUM(status IN ('QUEUED', 'RUNNING')) AS active"
        " FROM tasks WHERE substr(created_at, 1, 10) >= ? AND substr(created_at, 1, 10) < ?"
        " GROUP BY kind ORDER BY kind",
        (start, end),
    ).fetchall()
