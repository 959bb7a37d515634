"""Analysis runs: which types apply to which file, on-demand execution, and storing model output."""
from __future__ import annotations

import base64
import json
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterable

from app.config import Settings
from app.db import analysis as analysis_db
from app.db import batches as batches_db
from app.db import files as files_db
from app.db import segments as segments_db
from app.db import transaction
from app.errors import Unprocessable
from app.inference.base import InferenceError
from app.nova.catalog import NovaModel, request_model_id
from app.nova.estimate import cost_usd
from app.nova.prompts import PROMPT_VERSION
from app.nova.requests import build_request, image_media_bytes, image_media_s3, video_format, video_media_s3
from app.services import derivatives
from app.services.analysis_request import (parse_on_demand_mode, parse_request, require_media_support,
                                           types_for_media)
from app.services.context import Services
from app.services.model_output import PreparedOutput, prepare_model_output  # noqa: F401 (re-exported)
from app.services.prompt_context import file_context, with_transcript
from app.services.segments import on_demand as segments_on_demand
from app.services.segments.pieces import INLINE_VIDEO_MAX_BYTES
from app.services.segments.plan import segmentation_for
from app.services.segments.records import create_segments
from app.services.signals import BATCH
from app.services.tasks import TaskContext
from app.storage.base import ObjectNotFound, ObjectStore

log = logging.getLogger(__name__)


def create_runs(
    conn: sqlite3.Connection,
    *,
    file_rows: Iterable[sqlite3.Row],
    model: NovaModel,
    requested_types: list[str],
    options: dict[str, Any],
    mode: str,
    settings: Settings,
    batch_id: int | None = None,
) -> list[int]:
    """One PENDING run per file (with its per-type result rows), in one transaction; a video longer than one
    segment gets its segments (app/services/segments/plan.py)."""
    run_ids = []
    with transaction(conn):
        for row in file_rows:
            types = types_for_media(row["media_type"], requested_types)
            if not types:
                continue
            try:
                segmentation = segmentation_for(model, settings, options, duration=row["duration_seconds"],
                                                proxy_bytes=row["proxy_size_bytes"]) \
                    if row["media_type"] == "video" else None
                refused = None
            except ValueError as exc:
                segmentation, refused = None, str(exc)
            run_id = analysis_db.insert_run(
                conn, file_id=row["id"], mode=mode, model_key=model.key, model_id=request_model_id(model),
                analysis_types=types, options=options, prompt_version=PROMPT_VERSION, batch_id=batch_id,
                with_record_ids=(mode == "batch"),
                segmentation=(segmentation.seconds, segmentation.overlap) if segmentation else None)
            if segmentation is not None:
                create_segments(conn, run_id, types, segmentation)
            if refused:
                analysis_db.fail_run(conn, run_id, code="media_too_large", message=refused)
            run_ids.append(run_id)
    return run_ids


def store_model_output(
    conn: sqlite3.Connection,
    run: sqlite3.Row,
    analysis_type: str,
    body: Any,
    *,
    model: NovaModel,
    batch: bool,
    media_type: str,
    duration_seconds: float | None,
    prepared: PreparedOutput | None = None,
    completed_at: str | None = None,
) -> bool:
    """Parse, validate and store one model answer; a bad answer fails only that result. True if stored.

    `prepared` is the answer already parsed and validated by prepare_model_output (batch ingestion does
    that before taking the write lock); without it the body is parsed here.
    """
    if prepared is None:
        prepared = prepare_model_output(body, analysis_type, media_type=media_type,
                                        duration_seconds=duration_seconds, options=_json(run["options"]))
    cost = cost_usd(model, prepared.tokens_input, prepared.tokens_output, batch=batch)
    if not prepared.ok:
        return analysis_db.fail_result(
            conn, run["id"], analysis_type, code=prepared.error_code, message=prepared.error_message,
            tokens_input=prepared.tokens_input, tokens_output=prepared.tokens_output, cost_usd=cost)
    return analysis_db.store_encoded_result(
        conn, run["id"], analysis_type, result_json=prepared.result_json, tokens_input=prepared.tokens_input,
        tokens_output=prepared.tokens_output, cost_usd=cost, truncated=prepared.truncated,
        stop_reason=prepared.stop_reason, warnings_json=prepared.warnings_json, completed_at=completed_at)


def _json(text: str | None) -> dict[str, Any]:
    return json.loads(text) if text else {}


def media_block(services: Services, row: sqlite3.Row, proxy_path: Path) -> dict[str, Any]:
    """The Nova media content block for an on-demand call: inline bytes when small, else by URI."""
    if row["media_type"] == "image":
        return image_media_bytes(proxy_path.read_bytes())
    size = proxy_path.stat().st_size
    if size <= INLINE_VIDEO_MAX_BYTES:
        data = base64.b64encode(proxy_path.read_bytes()).decode("ascii")
        return {"video": {"format": "mp4", "source": {"bytes": data}}}
    key = f"media/{row['id']}/{row['fingerprint'][:16]}/proxy.mp4"
    try:
        services.store.head(key)
    except ObjectNotFound:
        services.store.put_file(key, proxy_path, content_type="video/mp4")
    return video_media_s3(services.store.uri(key), "mp4")


def ensure_proxy(settings: Settings, conn: sqlite3.Connection, row: sqlite3.Row) -> Path:
    """The file's proxy on disk, generated now when missing."""
    existing = files_db.get_derivatives(conn, row["id"])
    proxy = existing.get("proxy")
    if proxy is not None and (settings.DATA_DIR / proxy["path"]).exists():
        return settings.DATA_DIR / proxy["path"]
    outcome = derivatives.make_derivatives(settings, row, {}, force=True, cancel=threading.Event())
    if outcome.error:
        raise RuntimeError(f"cannot make a proxy: {outcome.error}")
    with transaction(conn):
        for kind, values in outcome.derived:
            files_db.upsert_derivative(conn, row["id"], kind, **values)
    return settings.DATA_DIR / files_db.get_derivatives(conn, row["id"])["proxy"]["path"]


def analyze_run(services: Services, conn: sqlite3.Connection, run_id: int) -> str:
    """Run every pending type of one run on demand and finalise it; returns the run status."""
    run = analysis_db.get_run(conn, run_id)
    if run is None or run["status"] in ("COMPLETED", "PARTIAL", "FAILED"):
        return run["status"] if run else "FAILED"
    started = time.monotonic()
    analysis_db.mark_run_started(conn, run_id)
    row = files_db.get_file(conn, run["file_id"])
    model = services.catalog.get(run["model_key"])
    options = _json(run["options"])
    if row["status"] != "ready":
        with transaction(conn):
            analysis_db.fail_run(conn, run_id, code="unreadable_file", message=f"file could not be read: {row['error']}")
        return "FAILED"
    segmented = run["segment_seconds"] is not None
    try:
        proxy_path = ensure_proxy(services.settings, conn, row)
        media = None if segmented else media_block(services, row, proxy_path)
    except Exception as exc:  # media faults fail this run only (a segmented one: its on-demand segments)
        log.warning("run %s: media not ready: %s", run_id, exc)
        if not segmented:
            with transaction(conn):
                analysis_db.fail_run(conn, run_id, code="media_unavailable", message=str(exc))
            return "FAILED"
        proxy_path = exc
    ctx = file_context(row)  # a segment's transcript lines are added per segment
    if segmented:  # its segments are answered (those no chunk carries) and merged
        segments_on_demand.analyze_segmented(services, conn, run, row, model, options, proxy_path, ctx)
        with transaction(conn):
            return analysis_db.finalize_run(conn, run_id, processing_seconds=round(time.monotonic() - started, 3))
    pending = [r["analysis_type"] for r in analysis_db.list_results(conn, [run_id])[run_id] if r["status"] == "PENDING"]
    ctx = with_transcript(conn, services.settings, ctx, row["id"])
    for analysis_type in pending:
        request = build_request(analysis_type, ctx, options, media=media, max_output_tokens=model.max_output_tokens)
        try:
            body = services.backend.invoke(request_model_id(model), request)
        except InferenceError as exc:
            with transaction(conn):
                analysis_db.fail_result(conn, run_id, analysis_type, code=exc.code, message=exc.message)
            continue
        with transaction(conn):
            store_model_output(conn, run, analysis_type, body, model=model, batch=False,
                               media_type=row["media_type"], duration_seconds=row["duration_seconds"])
    with transaction(conn):
        return analysis_db.finalize_run(conn, run_id, processing_seconds=round(time.monotonic() - started, 3))


def run_analyze_task(services: Services, ctx: TaskContext, params: dict[str, Any]) -> dict[str, Any]:
    """Task handler: analyse the given runs one after another; resumable (finished runs are skipped)."""
    run_ids = [int(r) for r in params["run_ids"]]
    for name in ("completed", "failed"):
        ctx.counters.setdefault(name, 0)
    ctx.done = 0
    ctx.set_total(len(run_ids))
    batches: set[int] = set()
    for run_id in run_ids:
        ctx.check()
        run = analysis_db.get_run(ctx.conn, run_id)
        if run is None:
            ctx.advance()
            continue
        if run["batch_id"] is not None:
            batches.add(run["batch_id"])
        row = files_db.get_file(ctx.conn, run["file_id"])
        ctx.set_current(row["name"] if row else str(run_id))
        already = run["status"] in ("COMPLETED", "PARTIAL", "FAILED")
        status = analyze_run(services, ctx.conn, run_id)
        if already or status not in ("COMPLETED", "PARTIAL", "FAILED"):
            ctx.advance()  # a run whose other segments a batch job still carries is finished by their merge
        elif status == "COMPLETED":
            ctx.advance(completed=1)
        elif status == "PARTIAL":
            ctx.advance(partial=1)
        else:
            ctx.advance(failed=1)
    ctx.set_current(None)
    if batches:
        services.signals.notify(BATCH)  # their submissions can be rolled up now
    return dict(ctx.counters)


def start_on_demand(services: Services, conn: sqlite3.Connection, run_ids: list[int], *,
                    batch_id: int | None = None) -> str:
    """The one way on-demand work starts: an 'analyze' task for these runs, recorded on the runs (and on
    their submission) in the same transaction, so a crash never leaves runs that no task will run."""
    with transaction(conn):
        task_id = services.tasks.enqueue(conn, "analyze", {"run_ids": run_ids})
        analysis_db.set_runs_task(conn, run_ids, task_id)
        if batch_id is not None:
            batches_db.update_batch(conn, batch_id, on_demand_task_id=task_id, status="RUNNING")
    services.tasks.wake()
    return task_id


def list_file_runs(conn: sqlite3.Connection, file_id: int) -> list[dict[str, Any]]:
    runs = analysis_db.list_runs_for_file(conn, file_id)
    results = analysis_db.list_results(conn, [r["id"] for r in runs])
    segments = segments_db.list_segments(conn, [r["id"] for r in runs if r["segment_seconds"] is not None])
    return [analysis_db.run_to_dict(run, results[run["id"]], segments.get(run["id"])) for run in runs]


def image_s3_media(store: ObjectStore, key: str, data: bytes) -> dict[str, Any]:
    """Image block by URI for batch records (BATCH_IMAGES=true)."""
    from app.nova.requests import image_format

    return image_media_s3(store.uri(key), image_format(data))


def video_s3_media(store: ObjectStore, key: str, container: str | None) -> dict[str, Any]:
    return video_media_s3(store.uri(key), video_format(container or "mp4"))


def analyze_on_demand(services: Services, conn: sqlite3.Connection, body: dict[str, Any]) -> dict[str, Any]:
    """POST /api/nova/analyze: one on-demand run per file, started as one task."""
    parse_on_demand_mode(body.get("mode"))
    request = parse_request(services, conn, body, for_submit=True)
    require_media_support(request.model, request.rows)
    run_ids = create_runs(conn, file_rows=request.rows, model=request.model, requested_types=request.types,
                          options=request.options, mode="on_demand", settings=services.settings)
    if not run_ids:
        raise Unprocessable("none of the requested analysis types applies to the selected files",
                            code="nothing_to_analyze", details={"analysis_types": request.types})
    task_id = start_on_demand(services, conn, run_ids)
    return {"task_id": task_id, "run_ids": run_ids, "files": len(run_ids)}


