"""SQL for batch submissions (table batches) and their chunks (table bedrock_batch_jobs)."""
from __future__ import annotations

import json
import sqlite3
from typing import Any, Iterable

from app.utils.timeutil import now_iso

# Chunk states: QUEUED -> SUBMITTED -> IN_PROGRESS -> FETCHING -> COMPLETED | PARTIAL | FAILED | CANCELLED,
# plus STAGING before QUEUED and RESULT_FETCH_FAILED after repeated ingestion faults.
CHUNK_TERMINAL = ("COMPLETED", "PARTIAL", "FAILED", "CANCELLED", "RESULT_FETCH_FAILED")
CHUNK_RUNNING = ("SUBMITTED", "IN_PROGRESS")
BATCH_TERMINAL = ("COMPLETED", "PARTIAL", "FAILED", "CANCELLED")

_BATCH_FIELDS = frozenset({
    "status", "plan", "estimated_cost_usd", "actual_cost_usd", "on_demand_job_id", "stage_job_id",
    "cancel_requested", "completed_at", "files_total", "records_total",
})
_CHUNK_FIELDS = frozenset({
    "status", "provider_status", "job_arn", "job_id", "files_count", "bytes_total", "records_total",
    "records_processed", "records_succeeded", "records_failed", "input_tokens", "output_tokens",
    "estimated_cost_usd", "actual_cost_usd", "submit_attempts", "next_attempt_at", "results_fetch_attempts",
    "last_error", "failure_message", "manifest_totals", "ingest_stats", "claimed_by", "claimed_until",
    "submitted_at", "last_checked_at", "completed_at", "results_fetched_at", "cleanup_completed_at",
    "expires_at", "create_uncertain",
})


def _sql_list(values: Iterable[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


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


def update_batch(conn: sqlite3.Connection, batch_id: int, **values: Any) -> None:
    unknown = set(values) - _BATCH_FIELDS
    if unknown:
        raise ValueError(f"not batch columns: {sorted(unknown)}")
    if not values:
        return
    assignments = ", ".join(f"{name} = ?" for name in values)
    conn.execute(f"UPDATE batches SET {assignments}, updated_at = ? WHERE id = ?",
                 [*values.values(), now_iso(), batch_id])


def list_batches(conn: sqlite3.Connection, *, limit: int = 50, offset: int = 0) -> list[sqlite3.Row]:
    """Newest first, with chunk and run counts."""
    return conn.execute(
        "SELECT b.*,"
        " (SELECT COUNT(*) FROM bedrock_batch_jobs c WHERE c.batch_id = b.id) AS chunks_total,"
        " (SELECT COUNT(*) FROM bedrock_batch_jobs c WHERE c.batch_id = b.id"
        f"   AND c.status IN ({_sql_list(CHUNK_TERMINAL)})) AS chunks_done,"
        " (SELECT COUNT(*) FROM analysis_runs r WHERE r.batch_id = b.id) AS runs_total,"
        " (SELECT COUNT(*) FROM analysis_runs r WHERE r.batch_id = b.id AND r.status = 'COMPLETED') AS runs_completed,"
        " (SELECT COUNT(*) FROM analysis_runs r WHERE r.batch_id = b.id AND r.status = 'FAILED') AS runs_failed"
        " FROM batches b ORDER BY b.id DESC LIMIT ? OFFSET ?",
        (limit, offset),
    ).fetchall()


def count_batches(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COUNT(*) FROM batches").fetchone()[0]


def unfinished_batch_ids(conn: sqlite3.Connection) -> list[int]:
    return [row[0] for row in conn.execute(
        f"SELECT id FROM batches WHERE status NOT IN ({_sql_list(BATCH_TERMINAL)}) ORDER BY id")]


def staging_folders_like(conn: sqlite3.Connection, prefix: str) -> list[str]:
    """Staging folders starting with prefix (used to number folders made in the same second)."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return [row[0] for row in conn.execute(
        "SELECT staging_folder FROM bedrock_batch_jobs WHERE staging_folder LIKE ? ESCAPE '\\'", (escaped + "%",))]


def insert_chunk(conn: sqlite3.Connection, *, batch_id: int, chunk_index: int, total_chunks: int, model_id: str,
                 job_name: str, client_token: str, staging_folder: str, manifest_key: str, output_prefix: str,
                 files_count: int, bytes_total: int, records_total: int, estimated_cost_usd: float,
                 created_at: str, status: str = "STAGING") -> int:
    cur = conn.execute(
        "INSERT INTO bedrock_batch_jobs (batch_id, chunk_index, total_chunks, status, model_id, job_name, client_token,"
        " staging_folder, manifest_key, output_prefix, files_count, bytes_total, records_total, estimated_cost_usd,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (batch_id, chunk_index, total_chunks, status, model_id, job_name, client_token, staging_folder,
         manifest_key, output_prefix, files_count, bytes_total, records_total, estimated_cost_usd, created_at,
         created_at),
    )
    return int(cur.lastrowid)


def get_chunk(conn: sqlite3.Connection, chunk_id: int) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM bedrock_batch_jobs WHERE id = ?", (chunk_id,)).fetchone()


def list_chunks(conn: sqlite3.Connection, batch_id: int) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT * FROM bedrock_batch_jobs WHERE batch_id = ? ORDER BY chunk_index", (batch_id,)).fetchall()


def chunks_with_status(conn: sqlite3.Connection, statuses: Iterable[str], *,
                       batch_id: int | None = None) -> list[sqlite3.Row]:
    sql = f"SELECT * FROM bedrock_batch_jobs WHERE status IN ({_sql_list(statuses)})"
    params: list[Any] = []
    if batch_id is not None:
        sql += " AND batch_id = ?"
        params.append(batch_id)
    return conn.execute(sql + " ORDER BY id", params).fetchall()


def due_chunks(conn: sqlite3.Connection, status: str, now: str | None) -> list[sqlite3.Row]:
    """Chunks in status whose next_attempt_at has come (every one when now is None)."""
    if now is None:
        return chunks_with_status(conn, (status,))
    return conn.execute(
        "SELECT * FROM bedrock_batch_jobs WHERE status = ? AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"
        " ORDER BY id", (status, now)).fetchall()


def count_occupying_slots(conn: sqlite3.Connection, model_id: str) -> int:
    """Chunks counting against the per-model job quota: running, or maybe created by an unanswered call."""
    return conn.execute(
        f"SELECT COUNT(*) FROM bedrock_batch_jobs WHERE model_id = ? AND (status IN ({_sql_list(CHUNK_RUNNING)})"
        " OR (status = 'QUEUED' AND create_uncertain = 1))", (model_id,)).fetchone()[0]


def update_chunk(conn: sqlite3.Connection, chunk_id: int, *, expect_status: Iterable[str] | None = None,
                 **values: Any) -> bool:
    """Set columns (and updated_at); with expect_status only while the chunk is in one of those states."""
    unknown = set(values) - _CHUNK_FIELDS
    if unknown:
        raise ValueError(f"not chunk columns: {sorted(unknown)}")
    assignments = ", ".join([f"{name} = ?" for name in values] + ["updated_at = ?"])
    sql = f"UPDATE bedrock_batch_jobs SET {assignments} WHERE id = ?"
    params: list[Any] = [*values.values(), now_iso(), chunk_id]
    if expect_status is not None:
        sql += f" AND status IN ({_sql_list(expect_status)})"
    return conn.execute(sql, params).rowcount == 1


def claim_chunk_for_ingest(conn: sqlite3.Connection, chunk_id: int, holder: str, now: str, until: str) -> bool:
    """Take the ingest lease of a FETCHING chunk unless someone else holds a live one."""
    cur = conn.execute(
        "UPDATE bedrock_batch_jobs SET claimed_by = ?, claimed_until = ?, updated_at = ?"
        " WHERE id = ? AND status = 'FETCHING' AND (claimed_until IS NULL OR claimed_until < ? OR claimed_by = ?)",
        (holder, until, now_iso(), chunk_id, now, holder),
    )
    return cur.rowcount == 1


def steal_dead_claim(conn: sqlite3.Connection, chunk_id: int, dead_holder: str, holder: str, until: str) -> bool:
    """Take a FETCHING chunk's claim from one named holder whose process is known to be gone."""
    cur = conn.execute(
        "UPDATE bedrock_batch_jobs SET claimed_by = ?, claimed_until = ?, updated_at = ?"
        " WHERE id = ? AND status = 'FETCHING' AND claimed_by = ?",
        (holder, until, now_iso(), chunk_id, dead_holder),
    )
    return cur.rowcount == 1


def renew_claim(conn: sqlite3.Connection, chunk_id: int, holder: str, until: str) -> bool:
    cur = conn.execute(
        "UPDATE bedrock_batch_jobs SET claimed_until = ? WHERE id = ? AND claimed_by = ? AND status = 'FETCHING'",
        (until, chunk_id, holder))
    return cur.rowcount == 1


def release_claim(conn: sqlite3.Connection, chunk_id: int, holder: str) -> None:
    conn.execute("UPDATE bedrock_batch_jobs SET claimed_by = NULL, claimed_until = NULL"
                 " WHERE id = ? AND claimed_by = ?", (chunk_id, holder))


def chunk_runs(conn: sqlite3.Connection, chunk_id: int) -> list[sqlite3.Row]:
    return conn.execute("SELECT * FROM analysis_runs WHERE chunk_id = ? ORDER BY id", (chunk_id,)).fetchall()


def chunk_run_ids(conn: sqlite3.Connection, chunk_id: int) -> list[int]:
    return [row[0] for row in conn.execute("SELECT id FROM analysis_runs WHERE chunk_id = ? ORDER BY id", (chunk_id,))]


def runs_for_ingest(conn: sqlite3.Connection, run_ids: list[int]) -> dict[int, sqlite3.Row]:
    """The runs that output lines refer to: what ingestion needs of each (id, file, batch, chunk, mode,
    status, analysis types, options) with its file's media type and duration."""
    found: dict[int, sqlite3.Row] = {}
    for start in range(0, len(run_ids), 500):
        part = run_ids[start:start + 500]
        for row in conn.execute(
            "SELECT r.id, r.file_id, r.batch_id, r.chunk_id, r.mode, r.status, r.analysis_types, r.options,"
            " f.media_type AS file_media_type, f.duration_seconds AS file_duration_seconds"
            f" FROM analysis_runs r JOIN files f ON f.id = r.file_id WHERE r.id IN ({','.join('?' * len(part))})",
            part,
        ):
            found[row["id"]] = row
    return found


def result_statuses(conn: sqlite3.Connection, run_ids: list[int]) -> dict[tuple[int, str], str]:
    """{(run id, analysis type): status} of the results of these runs."""
    found: dict[tuple[int, str], str] = {}
    for start in range(0, len(run_ids), 500):
        part = run_ids[start:start + 500]
        for run_id, analysis_type, status in conn.execute(
            "SELECT run_id, analysis_type, status FROM analysis_results"
            f" WHERE run_id IN ({','.join('?' * len(part))})", part,
        ):
            found[(run_id, analysis_type)] = status
    return found


def fail_pending_chunk_results(conn: sqlite3.Connection, chunk_id: int, *, code: str, message: str) -> int:
    """Every still-PENDING result of the chunk's runs becomes FAILED with this reason."""
    cur = conn.execute(
        "UPDATE analysis_results SET status = 'FAILED', error_code = ?, error_message = ?, completed_at = ?"
        " WHERE status = 'PENDING' AND run_id IN (SELECT id FROM analysis_runs WHERE chunk_id = ?)",
        (code, message[:2000], now_iso(), chunk_id),
    )
    return cur.rowcount


def chunk_result_totals(conn: sqlite3.Connection, chunk_id: int) -> dict[str, Any]:
    """Counts by status plus tokens and cost of the chunk's results."""
    totals: dict[str, Any] = {"PENDING": 0, "COMPLETED": 0, "FAILED": 0, "tokens_input": 0, "tokens_output": 0,
                              "cost_usd": 0.0}
    for row in conn.execute(
        "SELECT res.status, COUNT(*) AS n, COALESCE(SUM(res.tokens_input), 0) AS tin,"
        " COALESCE(SUM(res.tokens_output), 0) AS tout, COALESCE(SUM(res.cost_usd), 0) AS cost"
        " FROM analysis_results res JOIN analysis_runs r ON r.id = res.run_id WHERE r.chunk_id = ?"
        " GROUP BY res.status", (chunk_id,),
    ):
        totals[row["status"]] = row["n"]
        totals["tokens_input"] += row["tin"]
        totals["tokens_output"] += row["tout"]
        totals["cost_usd"] += row["cost"]
    totals["cost_usd"] = round(totals["cost_usd"], 6)
    return totals


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
    """Result (record) counts by status over the submission."""
    counts = {"PENDING": 0, "COMPLETED": 0, "FAILED": 0}
    for row in conn.execute(
        "SELECT res.status, COUNT(*) AS n FROM analysis_results res JOIN analysis_runs r ON r.id = res.run_id"
        " WHERE r.batch_id = ? GROUP BY res.status", (batch_id,),
    ):
        counts[row["status"]] = row["n"]
    return counts


def failed_results_of_batch(conn: sqlite3.Connection, batch_id: int) -> list[sqlite3.Row]:
    """(run_id, file_id, analysis_type) of every failed result of the submission's runs."""
    return conn.execute(
        "SELECT r.id AS run_id, r.file_id, res.analysis_type FROM analysis_results res"
        " JOIN analysis_runs r ON r.id = res.run_id WHERE r.batch_id = ? AND res.status = 'FAILED'"
        " ORDER BY r.file_id, res.rowid", (batch_id,)).fetchall()


def pending_run_ids(conn: sqlite3.Connection, *, batch_id: int, mode: str) -> list[int]:
    return [row[0] for row in conn.execute(
        "SELECT id FROM analysis_runs WHERE batch_id = ? AND mode = ?"
        " AND status IN ('PENDING', 'RUNNING', 'SUBMITTED')",
        (batch_id, mode))]
