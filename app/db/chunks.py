"""SQL for chunks (table chunks): one provider batch job of a submission, and the runs it carries."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Any, Iterable

from app.utils import leases
from app.utils.clock import iso
from app.utils.sqlite import in_batches, sql_list

# QUEUED -> SUBMITTED -> IN_PROGRESS -> FETCHING -> COMPLETED | PARTIAL | FAILED | CANCELLED, plus STAGING
# before QUEUED and RESULT_FETCH_FAILED after repeated ingestion faults.
CHUNK_TERMINAL = ("COMPLETED", "PARTIAL", "FAILED", "CANCELLED", "RESULT_FETCH_FAILED")
CHUNK_RUNNING = ("SUBMITTED", "IN_PROGRESS")
# Only one process reads a finished chunk's output at a time.
INGEST_CLAIMS = leases.Claims("chunks", "id", "status = 'FETCHING'")

_FIELDS = frozenset({
    "status", "provider_status", "job_arn", "job_id", "files_count", "bytes_total", "records_total",
    "records_processed", "records_succeeded", "records_failed", "input_tokens", "output_tokens",
    "estimated_cost_usd", "actual_cost_usd", "submit_attempts", "next_attempt_at", "results_fetch_attempts",
    "last_error", "failure_message", "manifest_totals", "ingest_stats", "claimed_by", "claimed_until",
    "submitted_at", "last_checked_at", "completed_at", "results_fetched_at", "cleanup_completed_at",
    "expires_at", "create_uncertain", "started_at",
})
# A chunk's objects may go only once nothing more will be read from them.
_CLEANABLE_SQL = """
SELECT * FROM chunks
WHERE cleanup_completed_at IS NULL
  AND (
        (status IN ('COMPLETED', 'PARTIAL') AND results_fetched_at IS NOT NULL)
     OR (status = 'CANCELLED' AND (results_fetched_at IS NOT NULL OR job_arn IS NULL))
     OR (:include_failed AND status = 'FAILED')
  )
  AND (:cutoff IS NULL OR COALESCE(completed_at, updated_at) < :cutoff)
ORDER BY id
"""


def insert_chunk(conn: sqlite3.Connection, *, batch_id: int, chunk_index: int, total_chunks: int, model_id: str,
                 job_name: str, client_token: str, staging_folder: str, manifest_key: str, output_prefix: str,
                 files_count: int, bytes_total: int, records_total: int, estimated_cost_usd: float,
                 created_at: str, status: str = "STAGING") -> int:
    cur = conn.execute(
        "INSERT INTO chunks (batch_id, chunk_index, total_chunks, status, model_id, job_name, client_token,"
        " staging_folder, manifest_key, output_prefix, files_count, bytes_total, records_total, estimated_cost_usd,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (batch_id, chunk_index, total_chunks, status, model_id, job_name, client_token, staging_folder,
         manifest_key, output_prefix, files_count, bytes_total, records_total, estimated_cost_usd, created_at,
         created_at),
    )
    return int(cur.lastrowid)


def staging_folders_like(conn: sqlite3.Connection, prefix: str) -> list[str]:
    """Staging folders starting with prefix (used to number folders made in the same second)."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return [row[0] for row in conn.execute(
        "SELECT staging_folder FROM chunks WHERE staging_folder LIKE ? ESCAPE '\\'", (escaped + "%",))]


def get_chunk(conn: sqlite3.Connection, chunk_id: int) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM chunks WHERE id = ?", (chunk_id,)).fetchone()


def list_chunks(conn: sqlite3.Connection, batch_id: int) -> list[sqlite3.Row]:
    return conn.execute("SELECT * FROM chunks WHERE batch_id = ? ORDER BY chunk_index", (batch_id,)).fetchall()


def chunks_with_status(conn: sqlite3.Connection, statuses: Iterable[str], *,
                       batch_id: int | None = None) -> list[sqlite3.Row]:
    sql = f"SELECT * FROM chunks WHERE status IN ({sql_list(statuses)})"
    params: list[Any] = []
    if batch_id is not None:
        sql += " AND batch_id = ?"
        params.append(batch_id)
    return conn.execute(sql + " ORDER BY id", params).fetchall()


def due_chunks(conn: sqlite3.Connection, status: str, now: datetime | None) -> list[sqlite3.Row]:
    """Chunks in status whose next_attempt_at has come (every one when now is None)."""
    if now is None:
        return chunks_with_status(conn, (status,))
    return conn.execute(
        "SELECT * FROM chunks WHERE status = ? AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"
        " ORDER BY id", (status, iso(now))).fetchall()


def count_occupying_slots(conn: sqlite3.Connection, model_id: str) -> int:
    """Chunks counting against the per-model job quota: running, or maybe created by an unanswered call."""
    return conn.execute(
        f"SELECT COUNT(*) FROM chunks WHERE model_id = ? AND (status IN ({sql_list(CHUNK_RUNNING)})"
        " OR (status = 'QUEUED' AND create_uncertain = 1))", (model_id,)).fetchone()[0]


def update_chunk(conn: sqlite3.Connection, chunk_id: int, now: datetime, *,
                 expect_status: Iterable[str] | None = None, **values: Any) -> bool:
    """Set columns (and updated_at); with expect_status only while the chunk is in one of those states."""
    unknown = set(values) - _FIELDS
    if unknown:
        raise ValueError(f"not chunk columns: {sorted(unknown)}")
    assignments = ", ".join([f"{name} = ?" for name in values] + ["updated_at = ?"])
    sql = f"UPDATE chunks SET {assignments} WHERE id = ?"
    params: list[Any] = [*values.values(), iso(now), chunk_id]
    if expect_status is not None:
        sql += f" AND status IN ({sql_list(expect_status)})"
    return conn.execute(sql, params).rowcount == 1


def finished_timings(conn: sqlite3.Connection, model_id: str, limit: int) -> list[sqlite3.Row]:
    """(records_total, submitted_at, started_at, completed_at) of the model's latest jobs that ran to the end."""
    return conn.execute(
        "SELECT records_total, submitted_at, started_at, completed_at FROM chunks"
        " WHERE model_id = ? AND status IN ('COMPLETED', 'PARTIAL') AND submitted_at IS NOT NULL"
        " AND completed_at IS NOT NULL AND records_total > 0 ORDER BY completed_at DESC LIMIT ?",
        (model_id, limit)).fetchall()


def stale_staging_batches(conn: sqlite3.Connection, created_before: datetime) -> list[sqlite3.Row]:
    """(batch id, its staging task id) of live submissions created before the time with chunks still STAGING."""
    return conn.execute(
        "SELECT DISTINCT b.id, b.stage_task_id FROM chunks c JOIN batches b ON b.id = c.batch_id"
        " WHERE c.status = 'STAGING' AND b.cancel_requested = 0 AND b.created_at < ?",
        (iso(created_before),)).fetchall()


def cleanable_chunks(conn: sqlite3.Connection, now: datetime, *, include_failed: bool = False,
                     older_than_days: float | None = None) -> list[sqlite3.Row]:
    """Chunks whose staging and output objects nothing will read again (finished at least that long ago)."""
    cutoff = iso(now - timedelta(days=older_than_days)) if older_than_days is not None else None
    return conn.execute(_CLEANABLE_SQL, {"include_failed": int(include_failed), "cutoff": cutoff}).fetchall()


def mark_cleaned(conn: sqlite3.Connection, chunk_id: int, now: datetime) -> None:
    stamp = iso(now)
    conn.execute("UPDATE chunks SET cleanup_completed_at = ?, updated_at = ? WHERE id = ?"
                 " AND cleanup_completed_at IS NULL", (stamp, stamp, chunk_id))


# ---- the chunk's runs and results -------------------------------------------------------------------
# A run belongs to a chunk by its chunk_id, or (a segmented run) by its segments' chunk_id: a file's segments
# may be spread over several chunks (app/db/segments.py).
_IN_CHUNK = "(chunk_id = :chunk OR id IN (SELECT run_id FROM analysis_segments WHERE chunk_id = :chunk))"


def chunk_runs(conn: sqlite3.Connection, chunk_id: int) -> list[sqlite3.Row]:
    """The whole-file runs the chunk carries (segmented runs are staged by their segments)."""
    return conn.execute("SELECT * FROM analysis_runs WHERE chunk_id = ? ORDER BY id", (chunk_id,)).fetchall()


def chunk_run_ids(conn: sqlite3.Connection, chunk_id: int) -> list[int]:
    """Every run with a record in the chunk, segmented runs included."""
    return [row[0] for row in conn.execute(f"SELECT id FROM analysis_runs WHERE {_IN_CHUNK} ORDER BY id",
                                           {"chunk": chunk_id})]


def mark_runs_submitted(conn: sqlite3.Connection, chunk_id: int, now: datetime) -> None:
    """The chunk's job exists: its pending runs wait on it."""
    conn.execute("UPDATE analysis_runs SET status = 'SUBMITTED', started_at = COALESCE(started_at, :now)"
                 f" WHERE {_IN_CHUNK} AND status = 'PENDING'", {"now": iso(now), "chunk": chunk_id})


def mark_runs_running(conn: sqlite3.Connection, chunk_id: int) -> None:
    conn.execute(f"UPDATE analysis_runs SET status = 'RUNNING' WHERE {_IN_CHUNK} AND status = 'SUBMITTED'",
                 {"chunk": chunk_id})


def move_runs_to_on_demand(conn: sqlite3.Connection, run_ids: list[int]) -> None:
    """Runs taken out of their chunk to run on demand instead."""
    conn.executemany("UPDATE analysis_runs SET mode = 'on_demand', chunk_id = NULL WHERE id = ?",
                     [(run_id,) for run_id in run_ids])


def runs_for_ingest(conn: sqlite3.Connection, run_ids: list[int]) -> dict[int, sqlite3.Row]:
    """The runs that output lines refer to: what ingestion needs of each (id, file, batch, chunk, mode,
    status, analysis types, options, segmentation) with its file's media type and duration."""
    found: dict[int, sqlite3.Row] = {}
    for part, marks in in_batches(run_ids):
        for row in conn.execute(
            "SELECT r.id, r.file_id, r.batch_id, r.chunk_id, r.mode, r.status, r.analysis_types, r.options,"
            " r.segment_seconds, f.media_type AS file_media_type, f.duration_seconds AS file_duration_seconds"
            f" FROM analysis_runs r JOIN files f ON f.id = r.file_id WHERE r.id IN ({marks})",
            part,
        ):
            found[row["id"]] = row
    return found


def result_statuses(conn: sqlite3.Connection, run_ids: list[int]) -> dict[tuple[int, str], str]:
    """{(run id, analysis type): status} of the results of these runs."""
    found: dict[tuple[int, str], str] = {}
    for part, marks in in_batches(run_ids):
        for run_id, analysis_type, status in conn.execute(
            f"SELECT run_id, analysis_type, status FROM analysis_results WHERE run_id IN ({marks})", part,
        ):
            found[(run_id, analysis_type)] = status
    return found


def fail_pending_chunk_results(conn: sqlite3.Connection, chunk_id: int, *, code: str, message: str,
                               now: datetime) -> int:
    """Every still-PENDING record of the chunk becomes FAILED with this reason: the results of its whole-file
    runs and the answers of its segments (a segmented run's merged results wait for their merge)."""
    cur = conn.execute(
        "UPDATE analysis_results SET status = 'FAILED', error_code = ?, error_message = ?, completed_at = ?"
        " WHERE status = 'PENDING' AND run_id IN (SELECT id FROM analysis_runs WHERE chunk_id = ?)",
        (code, message[:2000], iso(now), chunk_id),
    )
    segments = conn.execute(
        "UPDATE analysis_segment_results SET status = 'FAILED', error_code = ?, error_message = ?, completed_at = ?"
        " WHERE status = 'PENDING' AND EXISTS (SELECT 1 FROM analysis_segments s WHERE s.chunk_id = ?"
        "  AND s.run_id = analysis_segment_results.run_id"
        "  AND s.segment_index = analysis_segment_results.segment_index)",
        (code, message[:2000], iso(now), chunk_id),
    )
    return cur.rowcount + segments.rowcount


def chunk_result_totals(conn: sqlite3.Connection, chunk_id: int) -> dict[str, Any]:
    """Counts by status plus tokens and cost of the chunk's records (whole-file results and segment answers)."""
    totals: dict[str, Any] = {"PENDING": 0, "COMPLETED": 0, "FAILED": 0, "tokens_input": 0, "tokens_output": 0,
                              "cost_usd": 0.0}
    for row in conn.execute(
        "SELECT status, COUNT(*) AS n, COALESCE(SUM(tokens_input), 0) AS tin,"
        " COALESCE(SUM(tokens_output), 0) AS tout, COALESCE(SUM(cost_usd), 0) AS cost FROM ("
        "  SELECT res.status, res.tokens_input, res.tokens_output, res.cost_usd"
        "  FROM analysis_results res JOIN analysis_runs r ON r.id = res.run_id WHERE r.chunk_id = :chunk"
        "  UNION ALL SELECT sr.status, sr.tokens_input, sr.tokens_output, sr.cost_usd"
        "  FROM analysis_segment_results sr JOIN analysis_segments s"
        "   ON s.run_id = sr.run_id AND s.segment_index = sr.segment_index"
        "  WHERE s.chunk_id = :chunk AND sr.reused_from IS NULL"
        ") GROUP BY status", {"chunk": chunk_id},
    ):
        totals[row["status"]] = row["n"]
        totals["tokens_input"] += row["tin"]
        totals["tokens_output"] += row["tout"]
        totals["cost_usd"] += row["cost"]
    totals["cost_usd"] = round(totals["cost_usd"], 6)
    return totals
