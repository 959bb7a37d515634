"""SQL for usage reports: analysis runs, submissions and jobs aggregated over a date range; and the tokens
the model used on earlier runs, which estimates learn from (observed_usage).

Days are the UTC date prefix of the stored ISO timestamps; `end` is exclusive (the day after the range).
"""
from __future__ import annotations

import sqlite3
from typing import Any

_RUN_DAY = "substr(COALESCE(completed_at, created_at), 1, 10)"
_RUN_SUMS = (
    "COUNT(*) AS runs,"
    " SUM(status IN ('COMPLETED', 'PARTIAL')) AS completed,"  # PARTIAL: a merged result with a gap
    " SUM(status = 'FAILED') AS failed,"
    " SUM(status NOT IN ('COMPLETED', 'PARTIAL', 'FAILED')) AS pending,"
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
        f"SELECT {_RUN_SUMS}, COUNT(DISTINCT CASE WHEN status IN ('COMPLETED', 'PARTIAL') THEN file_id END)"
        " AS files_analysed"
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


def observed_usage(conn: sqlite3.Connection, model_key: str, media_type: str, *, per_type: int,
                   max_seconds: float) -> list[sqlite3.Row]:
    """Per analysis type, over the latest `per_type` completed results of this model on this media type:
    how many, their mean output tokens, and their input tokens with the seconds of video they saw (each
    video counted up to max_seconds, the longest span the model samples in full). A segmented run counts
    by its segments' answers (each with its segment's seconds), never by its merged result."""
    return conn.execute(
        "SELECT analysis_type, COUNT(*) AS n, AVG(tokens_output) AS output_mean, SUM(tokens_input) AS input_sum,"
        " SUM(seconds) AS seconds_sum FROM ("
        "  SELECT analysis_type, tokens_output, tokens_input, seconds,"
        "   ROW_NUMBER() OVER (PARTITION BY analysis_type ORDER BY completed_at DESC) AS k FROM ("
        "   SELECT res.analysis_type, res.tokens_output, res.tokens_input, res.completed_at,"
        "    MIN(COALESCE(f.duration_seconds, 0), :max_seconds) AS seconds"
        "   FROM analysis_results res JOIN analysis_runs r ON r.id = res.run_id JOIN files f ON f.id = r.file_id"
        "   WHERE r.model_key = :model AND f.media_type = :media AND res.status = 'COMPLETED'"
        "    AND r.segment_seconds IS NULL AND res.tokens_output > 0 AND res.tokens_input > 0"
        "   UNION ALL"
        "   SELECT sr.analysis_type, sr.tokens_output, sr.tokens_input, sr.completed_at,"
        "    MIN(s.end_seconds - s.start_seconds, :max_seconds) AS seconds"
        "   FROM analysis_segment_results sr JOIN analysis_segments s"
        "    ON s.run_id = sr.run_id AND s.segment_index = sr.segment_index"
        "   JOIN analysis_runs r ON r.id = sr.run_id JOIN files f ON f.id = r.file_id"
        "   WHERE r.model_key = :model AND f.media_type = :media AND sr.status = 'COMPLETED'"
        "    AND sr.tokens_output > 0 AND sr.tokens_input > 0)"
        ") WHERE k <= :per_type GROUP BY analysis_type",
        {"model": model_key, "media": media_type, "per_type": per_type, "max_seconds": max_seconds},
    ).fetchall()
