"""SQL for analysis runs and their per-type results."""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any, Iterable

from app.db.record_ids import (  # noqa: F401 (re-exported: the record ids are part of this table family)
    CODE_TYPES, TYPE_CODES, RecordRef, parse_record_id, record_id_for, segment_record_id_for,
)
from app.utils import fastjson
from app.utils.clock import iso
from app.utils.sqlite import in_batches



def insert_run(
    conn: sqlite3.Connection,
    *,
    file_id: int,
    mode: str,
    model_key: str,
    model_id: str,
    analysis_types: list[str],
    options: dict[str, Any],
    prompt_version: str,
    status: str = "PENDING",
    batch_id: int | None = None,
    chunk_id: int | None = None,
    task_id: str | None = None,
    with_record_ids: bool = False,
    now: datetime | None = None,
    segmentation: tuple[int, int] | None = None,
) -> int:
    """A run and one PENDING result row per requested type; marks the file's analysis pending.

    A segmented run (`segmentation` = (segment seconds, overlap)) gets its segments from app/db/segments.py;
    its result rows wait for the merge and have no record id (its records are per segment)."""
    stamp = iso(now)
    seconds, overlap = segmentation or (None, None)
    cur = conn.execute(
        "INSERT INTO analysis_runs (file_id, batch_id, chunk_id, task_id, mode, status, model_key, model_id,"
        " analysis_types, options, prompt_version, created_at, segment_seconds, segment_overlap)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (file_id, batch_id, chunk_id, task_id, mode, status, model_key, model_id, json.dumps(analysis_types),
         json.dumps(options), prompt_version, stamp, seconds, overlap),
    )
    run_id = int(cur.lastrowid)
    conn.executemany(
        "INSERT INTO analysis_results (run_id, analysis_type, record_id) VALUES (?, ?, ?)",
        [(run_id, t, record_id_for(run_id, t) if with_record_ids and segmentation is None else None)
         for t in analysis_types],
    )
    refresh_files_state(conn, [file_id])
    return run_id


def set_run_chunk(conn: sqlite3.Connection, run_id: int, chunk_id: int | None, status: str) -> None:
    conn.execute("UPDATE analysis_runs SET chunk_id = ?, status = ? WHERE id = ?", (chunk_id, status, run_id))


def get_run(conn: sqlite3.Connection, run_id: int) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM analysis_runs WHERE id = ?", (run_id,)).fetchone()


def list_runs_for_file(conn: sqlite3.Connection, file_id: int, limit: int = 50) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT * FROM analysis_runs WHERE file_id = ? ORDER BY id DESC LIMIT ?", (file_id, limit)
    ).fetchall()


def list_results(conn: sqlite3.Connection, run_ids: Iterable[int]) -> dict[int, list[sqlite3.Row]]:
    ids = list(run_ids)
    grouped: dict[int, list[sqlite3.Row]] = {i: [] for i in ids}
    for part, marks in in_batches(ids):
        for row in conn.execute(f"SELECT * FROM analysis_results WHERE run_id IN ({marks}) ORDER BY rowid", part):
            grouped[row["run_id"]].append(row)
    return grouped


def mark_run_started(conn: sqlite3.Connection, run_id: int, now: datetime | None = None) -> None:
    conn.execute(
        "UPDATE analysis_runs SET status = 'RUNNING', started_at = COALESCE(started_at, ?) WHERE id = ?",
        (iso(now), run_id),
    )


def set_runs_task(conn: sqlite3.Connection, run_ids: Iterable[int], task_id: str) -> None:
    """Record the task that runs these on-demand runs."""
    conn.executemany("UPDATE analysis_runs SET task_id = ? WHERE id = ?", [(task_id, r) for r in run_ids])


def runs_task_ids(conn: sqlite3.Connection, run_ids: list[int]) -> dict[int, str | None]:
    """{run id: the task running it} for these runs."""
    found: dict[int, str | None] = {}
    for part, marks in in_batches(run_ids):
        for row in conn.execute(f"SELECT id, task_id FROM analysis_runs WHERE id IN ({marks})", part):
            found[row["id"]] = row["task_id"]
    return found


_STORE_SQL = (
    "UPDATE analysis_results SET status = 'COMPLETED', result = ?, tokens_input = ?, tokens_output = ?,"
    " cost_usd = ?, truncated = ?, stop_reason = ?, warnings = ?, error_code = NULL, error_message = NULL,"
    " completed_at = ? WHERE run_id = ? AND analysis_type = ? AND status != 'COMPLETED'"
)
_FAIL_SQL = (
    "UPDATE analysis_results SET status = 'FAILED', error_code = ?, error_message = ?, tokens_input = ?,"
    " tokens_output = ?, cost_usd = ?, completed_at = ?"
    " WHERE run_id = ? AND analysis_type = ? AND status = 'PENDING'"
)


def encode_result(result: dict[str, Any]) -> str:
    """A validated result as stored in analysis_results.result (compact JSON, non-ASCII kept)."""
    return fastjson.dumps(result)


def encode_warnings(warnings: list[str]) -> str | None:
    return json.dumps(warnings) if warnings else None


def store_result(
    conn: sqlite3.Connection,
    run_id: int,
    analysis_type: str,
    *,
    result: dict[str, Any],
    tokens_input: int,
    tokens_output: int,
    cost_usd: float,
    truncated: bool,
    stop_reason: str | None,
    warnings: list[str],
) -> bool:
    """Store a validated result; False (and no change) when that result was already stored."""
    return store_encoded_result(conn, run_id, analysis_type, result_json=encode_result(result),
                                tokens_input=tokens_input, tokens_output=tokens_output, cost_usd=cost_usd,
                                truncated=truncated, stop_reason=stop_reason, warnings_json=encode_warnings(warnings))


def store_encoded_result(
    conn: sqlite3.Connection,
    run_id: int,
    analysis_type: str,
    *,
    result_json: str,
    tokens_input: int,
    tokens_output: int,
    cost_usd: float,
    truncated: bool,
    stop_reason: str | None,
    warnings_json: str | None,
    completed_at: str | None = None,
) -> bool:
    """store_result for a result already validated and encoded with encode_result / encode_warnings."""
    cur = conn.execute(_STORE_SQL, (result_json, tokens_input, tokens_output, cost_usd, int(truncated), stop_reason,
                                    warnings_json, completed_at or iso(), run_id, analysis_type))
    return cur.rowcount == 1


def fail_result(
    conn: sqlite3.Connection,
    run_id: int,
    analysis_type: str,
    *,
    code: str,
    message: str,
    tokens_input: int = 0,
    tokens_output: int = 0,
    cost_usd: float = 0.0,
    now: datetime | None = None,
) -> bool:
    cur = conn.execute(_FAIL_SQL, (code, message[:2000], tokens_input, tokens_output, cost_usd, iso(now), run_id,
                                   analysis_type))
    return cur.rowcount == 1


def fail_pending_results(conn: sqlite3.Connection, run_id: int, *, code: str, message: str,
                         now: datetime | None = None) -> int:
    """Fail every pending result of the run (its pending segment answers too)."""
    conn.execute(
        "UPDATE analysis_segment_results SET status = 'FAILED', error_code = ?, error_message = ?, completed_at = ?"
        " WHERE run_id = ? AND status = 'PENDING'", (code, message[:2000], iso(now), run_id))
    conn.execute("UPDATE analysis_segments SET status = 'FAILED' WHERE run_id = ? AND status = 'PENDING'", (run_id,))
    cur = conn.execute(
        "UPDATE analysis_results SET status = 'FAILED', error_code = ?, error_message = ?, completed_at = ?"
        " WHERE run_id = ? AND status = 'PENDING'",
        (code, message[:2000], iso(now), run_id),
    )
    return cur.rowcount


def finalize_run(conn: sqlite3.Connection, run_id: int, *, processing_seconds: float | None = None,
                 now: datetime | None = None) -> str:
    """Roll a run's result rows up into the run: COMPLETED only if every type completed; else FAILED (a
    segmented run with a usable result but a gap or a failed type: PARTIAL).

    Returns the run's status (unchanged when results are still pending).
    """
    statuses = finalize_runs(conn, [run_id], processing_seconds=processing_seconds, now=now)
    if run_id not in statuses:
        raise LookupError(f"no analysis run {run_id}")
    return statuses[run_id]


def finalize_runs(conn: sqlite3.Connection, run_ids: Iterable[int], *,
                  processing_seconds: float | None = None, now: datetime | None = None) -> dict[int, str]:
    """finalize_run for many runs in a few set-based statements: {run id: status} for the runs found.

    Each run is rolled up exactly as finalize_run always did it: left alone while a result is pending,
    else COMPLETED only if every type completed, with summed tokens, cost rounded to 6 places (Python's
    round) and the failed types' errors; the files of the runs rolled up get their analysis state refreshed.
    A segmented run whose merged results are usable but not whole (a result with a gap, or one type failed
    while another merged) is PARTIAL, its error naming the gaps.
    """
    ids = list(dict.fromkeys(run_ids))
    statuses: dict[int, str] = {}
    file_ids: list[int] = []
    stamp = iso(now)
    in_sql = _python_round_in_sql(conn)
    for part, marks in in_batches(ids):
        # The common case, a run with one result and that one COMPLETED, in one statement: its sums are
        # that result's values.
        for run_id, file_id in () if not in_sql else conn.execute(
            "UPDATE analysis_runs SET status = 'COMPLETED', tokens_input = one.tokens_input,"
            " tokens_output = one.tokens_output, cost_usd = python_round(one.cost_usd, 6),"
            " truncated = one.truncated != 0, error_code = NULL, error_message = NULL,"
            " completed_at = COALESCE(completed_at, ?), processing_seconds = COALESCE(?, processing_seconds)"
            " FROM (SELECT run_id, MIN(status) AS status, MIN(tokens_input) AS tokens_input,"
            "       MIN(tokens_output) AS tokens_output, MIN(cost_usd) AS cost_usd, MIN(truncated) AS truncated"
            f"      FROM analysis_results WHERE run_id IN ({marks}) GROUP BY run_id"
            "       HAVING COUNT(*) = 1 AND MAX(error_code) IS NULL) AS one"
            " WHERE analysis_runs.id = one.run_id AND one.status = 'COMPLETED' RETURNING id, file_id",
            [stamp, processing_seconds, *part],
        ):
            statuses[run_id] = "COMPLETED"
            file_ids.append(file_id)
        rest = [run_id for run_id in part if run_id not in statuses]
        if rest:
            file_ids.extend(_finalize_each(conn, rest, statuses, stamp, processing_seconds))
    refresh_files_state(conn, file_ids)
    return statuses


def _python_round_in_sql(conn: sqlite3.Connection) -> bool:
    """Make Python's round() callable in SQL as python_round, so set-based roll-ups round costs exactly as
    the Python one does; False if it cannot be registered on this connection."""
    try:
        conn.execute("SELECT python_round(0.5, 0)").fetchone()
        return True
    except sqlite3.OperationalError:  # not registered yet
        pass
    try:
        conn.create_function("python_round", 2, round, deterministic=True)
    except sqlite3.Error:
        return False
    return True


def _finalize_each(conn: sqlite3.Connection, run_ids: list[int], statuses: dict[int, str], stamp: str,
                   processing_seconds: float | None) -> list[int]:
    """The roll-up of runs with several results or a failed one, in Python; returns the files of runs rolled up."""
    marks = ",".join("?" * len(run_ids))
    rows: dict[int, list[sqlite3.Row]] = {}
    # (run_id, analysis_type) is the primary key: the rows come in the order finalize_run always read them.
    for row in conn.execute(
        "SELECT run_id, status, tokens_input, tokens_output, cost_usd, truncated, error_code, error_message"
        f" FROM analysis_results WHERE run_id IN ({marks}) ORDER BY run_id, analysis_type", run_ids,
    ):
        rows.setdefault(row[0], []).append(row)
    updates: list[tuple] = []
    file_ids: list[int] = []
    for run in conn.execute(f"SELECT id, file_id, status, segment_seconds FROM analysis_runs WHERE id IN ({marks})",
                            run_ids):
        run_id = run["id"]
        results = rows.get(run_id, ())
        if any(r["status"] == "PENDING" for r in results):
            statuses[run_id] = run["status"]
            continue
        # A COMPLETED result with an error code is a merged result with a gap (app/db/segments.py).
        failed = [r for r in results if r["status"] == "FAILED" or r["error_code"]]
        status = "FAILED" if failed or not results else "COMPLETED"
        if failed and run["segment_seconds"] is not None and any(r["status"] == "COMPLETED" for r in results):
            status = "PARTIAL"
        statuses[run_id] = status
        updates.append((status, sum(r["tokens_input"] for r in results),
                        sum(r["tokens_output"] for r in results), round(sum(r["cost_usd"] for r in results), 6),
                        int(any(r["truncated"] for r in results)), failed[0]["error_code"] if failed else None,
                        _combined_error(failed) if failed else None, stamp, processing_seconds, run_id))
        file_ids.append(run["file_id"])
    conn.executemany(
        "UPDATE analysis_runs SET status = ?, tokens_input = ?, tokens_output = ?, cost_usd = ?, truncated = ?,"
        " error_code = ?, error_message = ?, completed_at = COALESCE(completed_at, ?),"
        " processing_seconds = COALESCE(?, processing_seconds) WHERE id = ?",
        updates,
    )
    return file_ids


def _combined_error(failed: list[sqlite3.Row]) -> str:
    messages = list(dict.fromkeys(r["error_message"] or r["error_code"] or "failed" for r in failed))
    return "; ".join(messages)[:2000]


def fail_run(conn: sqlite3.Connection, run_id: int, *, code: str, message: str,
             now: datetime | None = None) -> None:
    fail_pending_results(conn, run_id, code=code, message=message, now=now)
    finalize_run(conn, run_id, now=now)


def refresh_files_state(conn: sqlite3.Connection, file_ids: Iterable[int]) -> None:
    """The files' denormalised analysis state, in one statement per 500 files: pending while the latest
    run is under way, else completed if any run completed, else failed; none without runs. A PARTIAL run
    (a merged result with a gap) counts as completed: the file has a usable, searchable analysis, and the
    run itself says what is missing."""
    ids = list(dict.fromkeys(file_ids))
    for part, marks in in_batches(ids):
        conn.execute(
            "UPDATE files SET latest_run_id = (SELECT MAX(r.id) FROM analysis_runs r WHERE r.file_id = files.id),"
            " analysis_status = COALESCE((SELECT CASE"
            "   WHEN l.status IN ('PENDING', 'RUNNING', 'SUBMITTED') THEN 'pending'"
            "   WHEN l.status IN ('COMPLETED', 'PARTIAL') OR EXISTS (SELECT 1 FROM analysis_runs c"
            "     WHERE c.file_id = files.id AND c.status IN ('COMPLETED', 'PARTIAL')) THEN 'completed'"
            "   ELSE 'failed' END"
            "   FROM analysis_runs l WHERE l.file_id = files.id ORDER BY l.id DESC LIMIT 1), 'none')"
            f" WHERE id IN ({marks})", part,
        )


def run_to_dict(run: sqlite3.Row, results: list[sqlite3.Row],
                segments: list[sqlite3.Row] | None = None) -> dict[str, Any]:
    """The API shape of a run; `combined` is expanded into one key per type. A segmented run also lists its
    segments (index, start and end in the video, status) when they are given."""
    merged: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    for row in results:
        if row["status"] == "COMPLETED" and row["result"]:
            value = json.loads(row["result"])
            if row["analysis_type"] == "combined" and isinstance(value, dict):
                merged.update(value)
            else:
                merged[row["analysis_type"]] = value
        elif row["status"] == "FAILED":
            errors[row["analysis_type"]] = {"code": row["error_code"], "message": row["error_message"]}
    error = {"code": run["error_code"], "message": run["error_message"]} if run["error_code"] else None
    return {
        "id": run["id"],
        "file_id": run["file_id"],
        "status": run["status"],
        "mode": run["mode"],
        "model": run["model_key"],
        "model_id": run["model_id"],
        "analysis_types": json.loads(run["analysis_types"]),
        "options": json.loads(run["options"] or "{}"),
        "prompt_version": run["prompt_version"],
        "results": merged,
        "result_errors": errors,
        "tokens_input": run["tokens_input"],
        "tokens_output": run["tokens_output"],
        "cost_usd": run["cost_usd"],
        "truncated": bool(run["truncated"]),
        "error": error,
        "batch_id": run["batch_id"],
        "chunk_id": run["chunk_id"],
        "processing_seconds": run["processing_seconds"],
        "created_at": run["created_at"],
        "completed_at": run["completed_at"],
        **_segmentation(run, segments),
    }


def _segmentation(run: sqlite3.Row, segments: list[sqlite3.Row] | None) -> dict[str, Any]:
    if run["segment_seconds"] is None:
        return {}
    return {"segment_seconds": run["segment_seconds"], "segment_overlap": run["segment_overlap"],
            "segments": [{"index": s["segment_index"], "start": s["start_seconds"], "end": s["end_seconds"],
                          "status": s["status"]} for s in segments or ()]}
