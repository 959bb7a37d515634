"""Merging a segmented run's answers of one type into its result, once every segment has answered.

Runs as the task kind `merge` ({"run_id", "analysis_type"}), queued in the same transaction that stored or
failed the last segment answer (batch ingestion, chunk failures), and inline at the end of an on-demand run.
Merging is idempotent: the merged result is written only while it is pending, so merging again changes
nothing and a task interrupted by a crash simply runs again. The summary (alone or in `combined`) costs one
more, text-only model call over the segments' summaries (app/nova/summary_merge.py); if it fails, the
segments' summaries are joined instead and the run says so.
"""
from __future__ import annotations

import json
import logging
import sqlite3
from datetime import datetime
from typing import Any, NamedTuple

from app.db import analysis as analysis_db
from app.db import files as files_db
from app.db import segments as segments_db
from app.db import transaction
from app.inference.base import InferenceError
from app.nova.catalog import NovaModel, request_model_id
from app.nova.estimate import cost_usd
from app.nova.merge import MODEL_MERGED, SegmentAnswer, merge_result
from app.nova.parser import ModelOutputError, parse_model_output
from app.nova.prompts import FileContext
from app.nova.summary_merge import build_merge_request, fallback_summary, summary_parts
from app.services.context import Services
from app.services.segments.records import clock, gap_report, uncovered
from app.services.signals import BATCH
from app.services.tasks import TaskContext
from app.utils.crashpoints import crashpoint

log = logging.getLogger(__name__)


class Usage(NamedTuple):
    tokens_input: int = 0
    tokens_output: int = 0
    cost_usd: float = 0.0
    truncated: bool = False


def run_merge_task(services: Services, ctx: TaskContext, params: dict[str, Any]) -> dict[str, Any]:
    """Task handler: merge one (run, type); nothing to do when it is merged already."""
    ctx.set_total(1)
    run_id, analysis_type = int(params["run_id"]), str(params["analysis_type"])
    merged = merge_run_type(services, ctx.conn, run_id, analysis_type)
    ctx.advance()
    run = analysis_db.get_run(ctx.conn, run_id)
    if merged and run is not None and run["batch_id"] is not None:
        services.signals.notify(BATCH)  # the submission can be rolled up now
    return {"merged": int(merged)}


def merge_run_type(services: Services, conn: sqlite3.Connection, run_id: int, analysis_type: str, *,
                   now: datetime | None = None) -> bool:
    """Merge the (run, type) if every segment has answered and it is not merged yet; True if merged now.
    The run is rolled up when no other type waits."""
    run = analysis_db.get_run(conn, run_id)
    if run is None or run["segment_seconds"] is None:
        return False
    pending = [r for r in analysis_db.list_results(conn, [run_id])[run_id]
               if r["analysis_type"] == analysis_type and r["status"] == "PENDING"]
    rows = segments_db.results_of(conn, run_id, analysis_type)
    if not pending or not rows or any(r["status"] == "PENDING" for r in rows):
        return False
    file_row = files_db.get_file(conn, run["file_id"])
    duration = (file_row["duration_seconds"] if file_row is not None and file_row["duration_seconds"]
                else max(r["end_seconds"] for r in rows))
    answers = [SegmentAnswer(r["segment_index"], r["start_seconds"], r["end_seconds"], json.loads(r["result"]))
               for r in rows if r["status"] == "COMPLETED" and r["result"]]
    spent = Usage(sum(r["tokens_input"] for r in rows), sum(r["tokens_output"] for r in rows),
                  sum(r["cost_usd"] for r in rows), any(r["truncated"] for r in rows))
    gap = gap_report(rows, duration)
    values: dict[str, Any] = {"result_json": None, "warnings_json": None}
    code, message = gap or (None, None)
    if not answers:
        code = "all_segments_failed"
    else:
        model = services.catalog.get(run["model_key"])
        options = json.loads(run["options"] or "{}")
        try:
            result, extra, warnings, merge_error = _merged(services, model, run, file_row, analysis_type, answers,
                                                           rows, duration, options)
        except Exception as exc:  # a fault here fails this result; it must never stay pending for ever
            log.exception("run %s: merging %s failed", run_id, analysis_type)
            code, message = "merge_failed", f"the segments' answers could not be merged: {exc}"
        else:
            spent = Usage(spent.tokens_input + extra.tokens_input, spent.tokens_output + extra.tokens_output,
                          spent.cost_usd + extra.cost_usd, spent.truncated or extra.truncated)
            values = {"result_json": analysis_db.encode_result(result),
                      "warnings_json": analysis_db.encode_warnings(warnings)}
            if merge_error:
                code = code or "summary_merge_failed"
                message = "; ".join(m for m in (message, merge_error) if m)
    crashpoint("merge")  # tests/test_crash_recovery.py: killed after the model call, before the merge is stored
    with transaction(conn):
        changed = segments_db.store_merged(
            conn, run_id, analysis_type, tokens_input=spent.tokens_input, tokens_output=spent.tokens_output,
            cost_usd=round(spent.cost_usd, 8), truncated=spent.truncated, error_code=code, error_message=message,
            now=now, **values)
        if changed:
            analysis_db.finalize_run(conn, run_id, now=now)
    if changed:
        log.info("run %s: %s merged from %d of %d segments%s", run_id, analysis_type, len(answers), len(rows),
                 f" ({message})" if message else "")
    return changed


def _merged(services: Services, model: NovaModel, run: sqlite3.Row, file_row: sqlite3.Row | None,
            analysis_type: str, answers: list[SegmentAnswer], rows: list[sqlite3.Row], duration: float,
            options: dict[str, Any]) -> tuple[dict[str, Any], Usage, list[str], str | None]:
    """(merged result, usage of the summary call, warnings, why the summary call failed or None)."""
    warnings = [f"merged from {len(answers)} of {len(rows)} segments"]
    if analysis_type not in MODEL_MERGED and analysis_type != "combined":
        return merge_result(analysis_type, answers, duration), Usage(), warnings, None
    ctx = FileContext(name=file_row["name"] if file_row else "", folder=file_row["folder"] if file_row else "",
                      duration_seconds=duration)
    summary, usage, summary_warnings, error = _summary(services, model, ctx, answers, rows, duration, options)
    warnings.extend(f"summary merge: {w}" for w in summary_warnings)
    if analysis_type == "summary":
        return summary, usage, warnings, error
    return {"summary": summary, **merge_result("combined", answers, duration)}, usage, warnings, error


def _summary(services: Services, model: NovaModel, ctx: FileContext, answers: list[SegmentAnswer],
             rows: list[sqlite3.Row], duration: float,
             options: dict[str, Any]) -> tuple[dict[str, Any], Usage, list[str], str | None]:
    """The whole video's summary from one text-only call over the segments' summaries (or their join)."""
    parts = summary_parts(answers)
    missing = [f"{clock(s)}–{clock(e)}" for s, e in uncovered(
        [r for r in rows if r["status"] == "COMPLETED"], duration)]
    if not parts:
        reason = "no segment gave a summary"
        return fallback_summary(parts, options, reason), Usage(), [], f"the summary could not be merged: {reason}"
    request = build_merge_request(ctx, options, parts, count=len(rows), missing=missing,
                                  max_output_tokens=model.max_output_tokens)
    try:
        body = services.backend.invoke(request_model_id(model), request)
        parsed = parse_model_output(body, "summary", media_type="video", duration_seconds=duration, options=options)
    except InferenceError as exc:
        return fallback_summary(parts, options, str(exc)), Usage(), [], f"the summary merge call failed: {exc}"
    except ModelOutputError as exc:
        usage = Usage(exc.input_tokens, exc.output_tokens,
                      cost_usd(model, exc.input_tokens, exc.output_tokens, batch=False))
        return (fallback_summary(parts, options, exc.message), usage, [],
                f"the summary merge answer was unusable: {exc.code}: {exc.message}")
    usage = Usage(parsed.input_tokens, parsed.output_tokens,
                  cost_usd(model, parsed.input_tokens, parsed.output_tokens, batch=False), parsed.truncated)
    return parsed.results["summary"], usage, parsed.warnings, None

