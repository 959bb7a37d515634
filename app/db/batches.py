"""SQL for batch submissions (table batches): what was asked, its runs and its roll-up."""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from app.db.chunks import CHUNK_TERMINAL
from app.utils.clock import iso
from app.utils.sqlite import sql_list

BATCH_TERMINAL = ("COMPLETED", "PARTIAL", "FAILED", "CANCELLED")

_BATCH_FIELDS = frozenset({
    "status", "plan", "estimated_cost_usd", "actual_cost_usd", "on_demand_task_id", "stage_task_id",
    "cancel_requested", "completed_at", "files_total", "records_total",
})


def insert_batch(conn: sqlite3.Connection, *, model_key: str, model_id: str, mode: str, analysis_types: list[str],
                 options: dict[str, Any], files_total: int, records_total: int, plan: dict[str, Any],
                 estimated_cost_usd: float, created_at: str, retry_of: int | None = None) -> int:
    cur = conn.execute(
        "INSERT INTO batches (status, model_key, model_id, mode, analysis_types, options, files_total, records_total,"
        " plan, estimated_cost_usd, retry_of, created_at, updated_at)"
        " VALUES ('PENDING', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (model_key, model_id, mode, json.dumps(analysis_types), json.dumps(options), files_total, records_total,
         json.dumps(plan), estimated_cost_usd, retry_of, created_at, created_at),
    )
    return int(cur.lastrowid)


def get_batch(conn: sqlite3.Connection, batch_id: int) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM batches WHERE id = ?", (batch_id,)).fetchone()


def update_batch(conn: sqlite3.Connection, batch_id: int, now: datetime | None = None, **values: Any) -> None:
    unknown = set(values) - _BATCH_FIELDS
    if unknown:
        raise ValueError(f"not batch columns: {sorted(unknown)}")
    if not values:
        return
    assignments = ", ".join(f"{name} = ?" for name in values)
    conn.execute(f"UPDATE batches SET {assignments}, updated_at = ? WHERE id = ?",
                 [*values.values(), iso(now), batch_id])


def list_batches(conn: sqlite3.Connection, *, limit: int = 50, offset: int = 0) -> list[sqlite3.Row]:
    """Newest first, with chunk and run counts."""
    return conn.execute(
        "SELECT b.*,"
        " (SELECT COUNT(*) FROM chunks c WHERE c.batch_id = b.id) AS chunks_total,"
        " (SELECT COUNT(*) FROM chunks c WHERE c.batch_id = b.id"
        f"   AND c.status IN ({sql_list(CHUNK_TERMINAL)})) AS chunks_done,"
        " (SELECT COUNT(*) FROM analysis_runs r WHERE r.batch_id = b.id) AS runs_total,"
        " (SELECT COUNT(*) FROM analysis_runs r WHERE r.batch_id = b.id AND r.status = 'COMPLETED') AS runs_completed,"
        " (SELECT COUNT(*) FROM analysis_runs r WHERE r.batch_id = b.id AND r.status = 'FAILED') AS runs_failed,"
        " (SELECT COUNT(*) FROM analysis_runs r WHERE r.batch_id = b.id AND r.status = 'PARTIAL') AS runs_partial"
        " FROM batches b ORDER BY b.id DESC LIMIT ? OFFSET ?",
        (limit, offset),
    ).fetchall()


def count_batches(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COUNT(*) FROM batches").fetchone()[0]


def unfinished_batch_ids(conn: sqlite3.Connection) -> list[int]:
    return [row[0] for row in conn.execute(
        f"SELECT id FROM batches WHERE status NOT IN ({sql_list(BATCH_TERMINAL)}) ORDER BY id")]


def batch_runs(conn: sqlite3.Connection, batch_id: int) -> list[sqlite3.Row]:
    """The submission's runs with their file names, in file order."""
    return conn.execute(
        "SELECT r.*, f.name AS file_name FROM analysis_runs r JOIN files f ON f.id = r.file_id"
        " WHERE r.batch_id = ? ORDER BY r.file_id, r.id", (batch_id,)).fetchall()


def batch_run_counts(conn: sqlite3.Connection, batch_id: int) -> dict[str, Any]:
    """Run counts by status (on demand and batch apart) and the cost so far."""
    counts: dict[str, Any] = {"total": 0, "cost_usd": 0.0, "batch": {}, "on_demand": {}}
    for row in conn.execute(
        "SELECT mode, status, COUNT(*) AS n, COALESCE(SUM(cost_usd), 0) AS cost FROM analysis_runs"
        " WHERE batch_id = ? GROUP BY mode, status", (batch_id,),
    ):
        counts[row["mode"]][row["status"]] = row["n"]
        counts["total"] += row["n"]
        counts["cost_usd"] += row["cost"]
    counts["cost_usd"] = round(counts["cost_usd"], 6)
    return counts


def batch_result_counts(conn: sqlite3.Connection, batch_id: int) -> dict[str, int]:
    """Record counts by status over the submission: the results of whole-file runs and the answers of the
    segments of segmented runs (not the answers a retry copied from an earlier run)."""
    counts = {"PENDING": 0, "COMPLETED": 0, "FAILED": 0}
    for row in conn.execute(
        "SELECT status, COUNT(*) AS n FROM ("
        " SELECT res.status FROM analysis_results res JOIN analysis_runs r ON r.id = res.run_id"
        "  WHERE r.batch_id = :batch AND r.segment_seconds IS NULL"
        " UNION ALL SELECT sr.status FROM analysis_segment_results sr JOIN analysis_runs r ON r.id = sr.run_id"
        "  WHERE r.batch_id = :batch AND sr.reused_from IS NULL"
        ") GROUP BY status", {"batch": batch_id},
    ):
        counts[row["status"]] = row["n"]
    return counts


def failed_results_of_batch(conn: sqlite3.Connection, batch_id: int) -> list[sqlite3.Row]:
    """(run_id, file_id, analysis_type, segmented) of every failed result of the submission's runs, and of
    every merged result with a gap (a segmented run's COMPLETED result with an error code)."""
    return conn.execute(
        "SELECT r.id AS run_id, r.file_id, res.analysis_type, r.segment_seconds IS NOT NULL AS segmented"
        " FROM analysis_results res JOIN analysis_runs r ON r.id = res.run_id WHERE r.batch_id = ?"
        " AND (res.status = 'FAILED' OR (res.status = 'COMPLETED' AND res.error_code IS NOT NULL))"
        " ORDER BY r.file_id, res.rowid", (batch_id,)).fetchall()


def pending_run_ids(conn: sqlite3.Connection, *, batch_id: int, mode: str) -> list[int]:
    return [row[0] for row in conn.execute(
        "SELECT id FROM analysis_runs WHERE batch_id = ? AND mode = ?"
        " AND status IN ('PENDING', 'RUNNING', 'SUBMITTED')",
        (batch_id, mode))]


def orphaned_on_demand_runs(conn: sqlite3.Connection, created_before: datetime) -> list[sqlite3.Row]:
    """(batch_id, id) of pending on-demand runs of live submissions made before that time that no task runs."""
    return conn.execute(
        "SELECT r.batch_id, r.id FROM analysis_runs r JOIN batches b ON b.id = r.batch_id"
        " WHERE r.mode = 'on_demand' AND r.status = 'PENDING' AND r.task_id IS NULL AND b.cancel_requested = 0"
        " AND b.created_at < ?", (iso(created_before),)).fetchall()


def submissions_between(conn: sqlite3.Connection, start: str, end: str) -> list[sqlite3.Row]:
    """Submissions created on days start <= day < end (YYYY-MM-DD), oldest first."""
    return conn.execute(
        "SELECT * FROM batches WHERE substr(created_at, 1, 10) >= ? AND substr(created_at, 1, 10) < ?"
        " ORDER BY id", (start, end)).fetchall()


def runs_of_submissions_between(conn: sqlite3.Connection, start: str, end: str) -> list[sqlite3.Row]:
    """The runs of those submissions with their file's name and path, in submission then file order."""
    return conn.execute(
        "SELECT r.*, f.name AS file_name, f.path AS file_path, f.media_type AS file_media_type"
        " FROM analysis_runs r JOIN batches b ON b.id = r.batch_id JOIN files f ON f.id = r.file_id"
        " WHERE substr(b.created_at, 1, 10) >= ? AND substr(b.created_at, 1, 10) < ?"
        " ORDER BY r.batch_id, f.name, r.id", (start, end)).fetchall()
