"""SQL for the segments of segmented runs (tables analysis_segments, analysis_segment_results, migration 0009).

A segmented run has one analysis_results row per type that holds the merged result, and one answer per
(type, segment) here. A segment's answers are records like any other: in batch mode the segment belongs to
a chunk (a file's segments may be spread over several), on demand it has none.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

from app.db.record_ids import segment_record_id_for
from app.utils.clock import iso
from app.utils.sqlite import in_batches

_RESULT_COLUMNS = ("result, tokens_input, tokens_output, cost_usd, truncated, stop_reason, warnings, error_code,"
                   " error_message, completed_at")


@dataclass
class NewSegment:
    """A segment to record: its nominal bounds, its chunk (None: on demand) and the answers a retry copies
    from an earlier run ({type: that run's segment result row}); the other types wait for an answer."""

    index: int
    start: float
    end: float
    chunk_id: int | None = None
    reused: dict[str, sqlite3.Row] = field(default_factory=dict)


def insert_segments(conn: sqlite3.Connection, run_id: int, types: list[str], segments: Iterable[NewSegment]) -> None:
    """The run's segments and one answer row per (type, segment): copied, or PENDING with its record id."""
    for seg in segments:
        done = all(t in seg.reused for t in types)
        conn.execute(
            "INSERT INTO analysis_segments (run_id, segment_index, start_seconds, end_seconds, status, chunk_id)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (run_id, seg.index, seg.start, seg.end, "COMPLETED" if done else "PENDING", seg.chunk_id))
        for analysis_type in types:
            old = seg.reused.get(analysis_type)
            if old is None:
                conn.execute(
                    "INSERT INTO analysis_segment_results (run_id, analysis_type, segment_index, record_id)"
                    " VALUES (?, ?, ?, ?)",
                    (run_id, analysis_type, seg.index, segment_record_id_for(run_id, analysis_type, seg.index)))
                continue
            conn.execute(
                "INSERT INTO analysis_segment_results (run_id, analysis_type, segment_index, status, result,"
                " truncated, stop_reason, warnings, reused_from, completed_at)"
                " VALUES (?, ?, ?, 'COMPLETED', ?, 0, ?, ?, ?, ?)",
                (run_id, analysis_type, seg.index, old["result"], old["stop_reason"], old["warnings"],
                 old["reused_from"] or old["run_id"], old["completed_at"]))


def list_segments(conn: sqlite3.Connection, run_ids: Iterable[int]) -> dict[int, list[sqlite3.Row]]:
    """{run id: its segments in order} (runs without segments are left out)."""
    found: dict[int, list[sqlite3.Row]] = {}
    for part, marks in in_batches(run_ids):
        for row in conn.execute(f"SELECT * FROM analysis_segments WHERE run_id IN ({marks})"
                                " ORDER BY run_id, segment_index", part):
            found.setdefault(row["run_id"], []).append(row)
    return found


def set_bounds(conn: sqlite3.Connection, run_id: int, bounds: Iterable[tuple[int, float, float]]) -> None:
    """Where each piece really starts and ends in the video, once it is cut: [(index, start, end)]."""
    conn.executemany("UPDATE analysis_segments SET start_seconds = ?, end_seconds = ? WHERE run_id = ?"
                     " AND segment_index = ?", [(start, end, run_id, index) for index, start, end in bounds])


def results_of(conn: sqlite3.Connection, run_id: int, analysis_type: str | None = None) -> list[sqlite3.Row]:
    """The run's segment answers (of one type, or all) with their segment's bounds, chunk and status."""
    sql = ("SELECT sr.*, s.start_seconds, s.end_seconds, s.chunk_id, s.status AS segment_status"
           " FROM analysis_segment_results sr JOIN analysis_segments s"
           " ON s.run_id = sr.run_id AND s.segment_index = sr.segment_index WHERE sr.run_id = ?")
    params: list[Any] = [run_id]
    if analysis_type is not None:
        sql += " AND sr.analysis_type = ?"
        params.append(analysis_type)
    return conn.execute(sql + " ORDER BY sr.analysis_type, sr.segment_index", params).fetchall()


def segments_for_ingest(conn: sqlite3.Connection,
                        keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], sqlite3.Row]:
    """{(run id, segment index): (start_seconds, end_seconds, chunk_id)} of these segments."""
    wanted = sorted(set(keys))
    found: dict[tuple[int, int], sqlite3.Row] = {}
    for part, _marks in in_batches(wanted):
        clause = " OR ".join("(run_id = ? AND segment_index = ?)" for _ in part)
        for row in conn.execute("SELECT run_id, segment_index, start_seconds, end_seconds, chunk_id"
                                f" FROM analysis_segments WHERE {clause}", [v for key in part for v in key]):
            found[(row["run_id"], row["segment_index"])] = row
    return found


def result_statuses(conn: sqlite3.Connection, run_ids: list[int]) -> dict[tuple[int, str, int], str]:
    """{(run id, type, segment index): status} of these runs' segment answers."""
    found: dict[tuple[int, str, int], str] = {}
    for part, marks in in_batches(run_ids):
        for run_id, analysis_type, index, status in conn.execute(
                "SELECT run_id, analysis_type, segment_index, status FROM analysis_segment_results"
                f" WHERE run_id IN ({marks})", part):
            found[(run_id, analysis_type, index)] = status
    return found


def store_result(conn: sqlite3.Connection, run_id: int, analysis_type: str, index: int, *, result_json: str,
                 tokens_input: int, tokens_output: int, cost_usd: float, truncated: bool, stop_reason: str | None,
                 warnings_json: str | None, completed_at: str) -> bool:
    """Store one segment's validated answer; False (and no change) when it was stored already."""
    return conn.execute(
        "UPDATE analysis_segment_results SET status = 'COMPLETED', result = ?, tokens_input = ?, tokens_output = ?,"
        " cost_usd = ?, truncated = ?, stop_reason = ?, warnings = ?, error_code = NULL, error_message = NULL,"
        " completed_at = ? WHERE run_id = ? AND analysis_type = ? AND segment_index = ? AND status != 'COMPLETED'",
        (result_json, tokens_input, tokens_output, cost_usd, int(truncated), stop_reason, warnings_json,
         completed_at, run_id, analysis_type, index)).rowcount == 1


def fail_result(conn: sqlite3.Connection, run_id: int, analysis_type: str, index: int, *, code: str, message: str,
                tokens_input: int = 0, tokens_output: int = 0, cost_usd: float = 0.0,
                now: datetime | None = None) -> bool:
    """Fail one pending segment answer; False when it was no longer pending."""
    return conn.execute(
        "UPDATE analysis_segment_results SET status = 'FAILED', error_code = ?, error_message = ?, tokens_input = ?,"
        " tokens_output = ?, cost_usd = ?, completed_at = ?"
        " WHERE run_id = ? AND analysis_type = ? AND segment_index = ? AND status = 'PENDING'",
        (code, message[:2000], tokens_input, tokens_output, cost_usd, iso(now), run_id, analysis_type,
         index)).rowcount == 1


def fail_segment(conn: sqlite3.Connection, run_id: int, index: int, *, code: str, message: str,
                 now: datetime | None = None) -> int:
    """Fail every pending answer of one segment (its piece could not be made or staged)."""
    return conn.execute(
        "UPDATE analysis_segment_results SET status = 'FAILED', error_code = ?, error_message = ?, completed_at = ?"
        " WHERE run_id = ? AND segment_index = ? AND status = 'PENDING'",
        (code, message[:2000], iso(now), run_id, index)).rowcount


def pending_on_demand(conn: sqlite3.Connection, run_id: int) -> list[sqlite3.Row]:
    """The run's pending answers whose segment is in no chunk (they run on demand), with the bounds."""
    return conn.execute(
        "SELECT sr.run_id, sr.analysis_type, sr.segment_index, s.start_seconds, s.end_seconds"
        " FROM analysis_segment_results sr JOIN analysis_segments s"
        " ON s.run_id = sr.run_id AND s.segment_index = sr.segment_index"
        " WHERE sr.run_id = ? AND sr.status = 'PENDING' AND s.chunk_id IS NULL"
        " ORDER BY sr.segment_index, sr.analysis_type", (run_id,)).fetchall()


def fail_pending_on_demand(conn: sqlite3.Connection, run_id: int, *, code: str, message: str,
                           now: datetime | None = None) -> int:
    """Fail the run's pending answers that no chunk carries (its on-demand part ended without them)."""
    return conn.execute(
        "UPDATE analysis_segment_results SET status = 'FAILED', error_code = ?, error_message = ?, completed_at = ?"
        " WHERE run_id = ? AND status = 'PENDING' AND segment_index IN (SELECT segment_index FROM analysis_segments"
        "  WHERE run_id = ? AND chunk_id IS NULL)", (code, message[:2000], iso(now), run_id, run_id)).rowcount


def runs_with_on_demand_part(conn: sqlite3.Connection, batch_id: int) -> list[int]:
    """The submission's batch runs that wait on pending answers no chunk carries (left to its on-demand task)."""
    return [row[0] for row in conn.execute(
        "SELECT DISTINCT r.id FROM analysis_runs r JOIN analysis_segments s ON s.run_id = r.id"
        " JOIN analysis_segment_results sr ON sr.run_id = s.run_id AND sr.segment_index = s.segment_index"
        " WHERE r.batch_id = ? AND r.mode = 'batch' AND s.chunk_id IS NULL AND sr.status = 'PENDING'"
        " ORDER BY r.id", (batch_id,))]


# ---- chunks -------------------------------------------------------------------------------------------------

def pending_in_chunk(conn: sqlite3.Connection, chunk_id: int) -> list[sqlite3.Row]:
    """The chunk's pending segment answers (run, type, segment, record id), in run, segment, type order."""
    return conn.execute(
        "SELECT sr.run_id, sr.analysis_type, sr.segment_index, sr.record_id FROM analysis_segment_results sr"
        " JOIN analysis_segments s ON s.run_id = sr.run_id AND s.segment_index = sr.segment_index"
        " WHERE s.chunk_id = ? AND sr.status = 'PENDING' ORDER BY sr.run_id, sr.segment_index, sr.analysis_type",
        (chunk_id,)).fetchall()


def move_chunk_to_on_demand(conn: sqlite3.Connection, chunk_id: int) -> list[int]:
    """The chunk's segments run on demand instead; returns their runs, whose mode follows when none of their
    segments is left in a chunk."""
    run_ids = [row[0] for row in conn.execute(
        "SELECT DISTINCT run_id FROM analysis_segments WHERE chunk_id = ? ORDER BY run_id", (chunk_id,))]
    conn.execute("UPDATE analysis_segments SET chunk_id = NULL WHERE chunk_id = ?", (chunk_id,))
    conn.executemany(
        "UPDATE analysis_runs SET mode = 'on_demand' WHERE id = ? AND NOT EXISTS"
        " (SELECT 1 FROM analysis_segments WHERE run_id = ? AND chunk_id IS NOT NULL)",
        [(run_id, run_id) for run_id in run_ids])
    return run_ids


# ---- merging ------------------------------------------------------------------------------------------------

def settle(conn: sqlite3.Connection, run_ids: Iterable[int]) -> list[tuple[int, str]]:
    """Roll the segments' statuses up from their answers, and return the (run, type) pairs whose every
    segment has answered (or failed) and whose merge is not queued yet, in run then type order."""
    ids = sorted(set(run_ids))
    ready: list[tuple[int, str]] = []
    for part, marks in in_batches(ids):
        conn.execute(
            "UPDATE analysis_segments SET status = (SELECT CASE"
            "  WHEN SUM(sr.status = 'PENDING') > 0 THEN 'PENDING'"
            "  WHEN SUM(sr.status = 'FAILED') > 0 THEN 'FAILED'"
            "  WHEN SUM(sr.truncated) > 0 THEN 'TRUNCATED' ELSE 'COMPLETED' END"
            "  FROM analysis_segment_results sr WHERE sr.run_id = analysis_segments.run_id"
            "  AND sr.segment_index = analysis_segments.segment_index)"
            f" WHERE run_id IN ({marks})", part)
        ready.extend((row[0], row[1]) for row in conn.execute(
            "SELECT res.run_id, res.analysis_type FROM analysis_results res"
            f" WHERE res.run_id IN ({marks}) AND res.status = 'PENDING' AND res.merge_task_id IS NULL"
            " AND EXISTS (SELECT 1 FROM analysis_segment_results sr WHERE sr.run_id = res.run_id"
            "  AND sr.analysis_type = res.analysis_type)"
            " AND NOT EXISTS (SELECT 1 FROM analysis_segment_results sr WHERE sr.run_id = res.run_id"
            "  AND sr.analysis_type = res.analysis_type AND sr.status = 'PENDING')"
            " ORDER BY res.run_id, res.analysis_type", part))
    return ready


def set_merge_task(conn: sqlite3.Connection, run_id: int, analysis_type: str, task_id: str) -> bool:
    """Record the merge task queued for a (run, type); False when one was queued already."""
    return conn.execute(
        "UPDATE analysis_results SET merge_task_id = ? WHERE run_id = ? AND analysis_type = ?"
        " AND merge_task_id IS NULL", (task_id, run_id, analysis_type)).rowcount == 1


def queued_merge_tasks(conn: sqlite3.Connection, batch_id: int) -> list[str]:
    """The merge tasks of the submission's runs that have not finished."""
    return [row[0] for row in conn.execute(
        "SELECT res.merge_task_id FROM analysis_results res JOIN analysis_runs r ON r.id = res.run_id"
        " JOIN tasks t ON t.id = res.merge_task_id WHERE r.batch_id = ? AND t.status IN ('QUEUED', 'RUNNING')"
        " ORDER BY t.created_at", (batch_id,))]


def store_merged(conn: sqlite3.Connection, run_id: int, analysis_type: str, *, result_json: str | None,
                 tokens_input: int, tokens_output: int, cost_usd: float, truncated: bool,
                 warnings_json: str | None, error_code: str | None, error_message: str | None,
                 now: datetime | None = None) -> bool:
    """The merged result of a (run, type), once: COMPLETED (with the gap in error_code/error_message when
    some segments are missing), or FAILED without a result. False when it was merged already."""
    return conn.execute(
        "UPDATE analysis_results SET status = ?, result = ?, tokens_input = ?, tokens_output = ?, cost_usd = ?,"
        " truncated = ?, warnings = ?, error_code = ?, error_message = ?, completed_at = ?"
        " WHERE run_id = ? AND analysis_type = ? AND status = 'PENDING'",
        ("COMPLETED" if result_json is not None else "FAILED", result_json, tokens_input, tokens_output, cost_usd,
         int(truncated), warnings_json, error_code, (error_message or "")[:2000] or None, iso(now), run_id,
         analysis_type)).rowcount == 1


def reusable_answers(conn: sqlite3.Connection, run_id: int, types: Iterable[str]) -> dict[str, dict[int, sqlite3.Row]]:
    """{type: {segment index: answer}} of the run's whole answers (completed, not cut off) of these types."""
    wanted = list(types)
    found: dict[str, dict[int, sqlite3.Row]] = {t: {} for t in wanted}
    if not wanted:
        return found
    for row in conn.execute(
            "SELECT * FROM analysis_segment_results WHERE run_id = ? AND status = 'COMPLETED' AND truncated = 0"
            f" AND analysis_type IN ({','.join('?' * len(wanted))})", [run_id, *wanted]):
        found[row["analysis_type"]][row["segment_index"]] = row
    return found
