"""A segmented run's rows: its segments and their answers, storing an answer, queuing the merge once every
segment has answered, and naming what a merged result is missing."""
from __future__ import annotations

import sqlite3
import uuid
from datetime import datetime
from typing import Any, Iterable, Mapping

from app.db import segments as segments_db
from app.db import tasks as tasks_db
from app.nova.catalog import NovaModel
from app.nova.estimate import cost_usd
from app.nova.segment_prompt import clock
from app.services.model_output import PreparedOutput
from app.services.segments.plan import Segmentation
from app.utils.clock import utc

MERGE_TASK = "merge"


def create_segments(conn: sqlite3.Connection, run_id: int, types: list[str], segmentation: Segmentation, *,
                    chunk_ids: Mapping[int, int | None] | None = None,
                    reused: Mapping[str, Mapping[int, sqlite3.Row]] | None = None) -> None:
    """The run's segments (in the caller's transaction): each in its chunk (none: on demand), with the answers
    a retry copies from an earlier run and a pending record for every other (type, segment)."""
    chunk_ids = chunk_ids or {}
    reused = reused or {}
    segments_db.insert_segments(conn, run_id, types, [
        segments_db.NewSegment(index, start, end, chunk_ids.get(index),
                               {t: reused[t][index] for t in types if index in reused.get(t, {})})
        for index, (start, end) in enumerate(segmentation.bounds)])


def store_answer(conn: sqlite3.Connection, run_id: int, analysis_type: str, index: int, prepared: PreparedOutput, *,
                 model: NovaModel, batch: bool, completed_at: str) -> bool:
    """Store one segment's answer (or fail it when unusable); True if it changed."""
    cost = cost_usd(model, prepared.tokens_input, prepared.tokens_output, batch=batch)
    if not prepared.ok:
        return segments_db.fail_result(
            conn, run_id, analysis_type, index, code=prepared.error_code or "invalid_output",
            message=prepared.error_message or "the model's answer is unusable", tokens_input=prepared.tokens_input,
            tokens_output=prepared.tokens_output, cost_usd=cost)
    return segments_db.store_result(
        conn, run_id, analysis_type, index, result_json=prepared.result_json, tokens_input=prepared.tokens_input,
        tokens_output=prepared.tokens_output, cost_usd=cost, truncated=prepared.truncated,
        stop_reason=prepared.stop_reason, warnings_json=prepared.warnings_json, completed_at=completed_at)


def queue_merges(conn: sqlite3.Connection, run_ids: Iterable[int], now: datetime | None = None) -> list[str]:
    """In the caller's transaction: settle the runs' segments and queue one `merge` task for every (run, type)
    whose segments have all answered (or failed) and whose merge is not queued yet; the task ids. The merge
    task is written here like TaskRunner.enqueue writes any task, so the chunk-failure paths that have no
    services context can queue it too; wake the task runner once the transaction is committed (the runner
    also finds it within its interval)."""
    queued = []
    for run_id, analysis_type in segments_db.settle(conn, run_ids):
        task_id = uuid.uuid4().hex
        tasks_db.insert_task(conn, task_id, MERGE_TASK, {"run_id": run_id, "analysis_type": analysis_type}, utc(now))
        segments_db.set_merge_task(conn, run_id, analysis_type, task_id)
        queued.append(task_id)
    return queued


def uncovered(rows: Iterable[Mapping[str, Any]], duration: float) -> list[tuple[float, float]]:
    """The spans of [0, duration] that no answered segment covers (rows: start_seconds, end_seconds)."""
    spans = sorted((r["start_seconds"], r["end_seconds"]) for r in rows)
    gaps, reached = [], 0.0
    for start, end in spans:
        if start > reached + 0.5:
            gaps.append((reached, start))
        reached = max(reached, end)
    if duration > reached + 0.5:
        gaps.append((reached, duration))
    return gaps


def gap_report(rows: list[sqlite3.Row], duration: float) -> tuple[str, str] | None:
    """(error code, message) naming what a merged result lacks, or None when every segment answered whole:
    the minutes no answered segment covers (and why each failed segment failed), and the segments whose
    answers were cut off at the output limit."""
    count = len(rows)
    answered = [r for r in rows if r["status"] == "COMPLETED"]
    failed = [r for r in rows if r["status"] == "FAILED"]
    truncated = [r for r in answered if r["truncated"]]
    if not failed and not truncated:
        return None
    notes = []
    gaps = uncovered(answered, duration)
    if gaps:
        spans = ", ".join(f"{clock(s)}–{clock(e)}" for s, e in gaps)
        notes.append(f"missing {spans} of {clock(duration)}")
    for row in failed:
        notes.append(f"segment {row['segment_index'] + 1} of {count} ({clock(row['start_seconds'])}–"
                     f"{clock(row['end_seconds'])}) failed: {row['error_message'] or row['error_code']}")
    for row in truncated:
        notes.append(f"segment {row['segment_index'] + 1} of {count} ({clock(row['start_seconds'])}–"
                     f"{clock(row['end_seconds'])}) was cut off at the output limit and may be incomplete")
    code = "segments_missing" if failed else "segments_truncated"
    return code, "; ".join(notes)
