"""A segmented run's on-demand part: every pending answer of its segments that no chunk carries, asked
SEGMENT_WORKERS at a time, stored as each comes back, then each type merged once all its segments answered.

Model calls run in a small thread pool; every database read and write stays in the caller's thread (its
connection belongs to it).
"""
from __future__ import annotations

import logging
import sqlite3
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from app.db import segments as segments_db
from app.db import transaction
from app.inference.base import InferenceError
from app.media.errors import MediaError
from app.media.segments import SegmentFile
from app.nova.catalog import NovaModel, request_model_id
from app.nova.prompts import FileContext
from app.nova.requests import build_request
from app.services.context import Services
from app.services.model_output import PreparedOutput, prepare_model_output
from app.services.segments import merging, pieces
from app.services.prompt_context import segment_context, with_transcript
from app.services.segments.records import store_answer
from app.storage.base import StorageError
from app.utils.clock import iso, utcnow

log = logging.getLogger(__name__)


def analyze_segmented(services: Services, conn: sqlite3.Connection, run: sqlite3.Row, row: sqlite3.Row,
                      model: NovaModel, options: dict[str, Any], proxy_path: Path | Exception,
                      ctx: FileContext) -> None:
    """Answer the run's on-demand segments, then merge every type whose segments have all answered. Without
    a proxy (`proxy_path` is why) its on-demand segments fail; those a batch job carries go on."""
    run_id = run["id"]
    try:
        if isinstance(proxy_path, Exception):
            raise MediaError(f"no proxy: {proxy_path}")
        cut = {piece.index: piece for piece in pieces.run_pieces(conn, run, row, proxy_path)}
    except (MediaError, OSError) as exc:
        log.warning("run %s: segments could not be cut: %s", run_id, exc)
        with transaction(conn):
            segments_db.fail_pending_on_demand(conn, run_id, code="media_unavailable",
                                               message=f"the segments could not be cut: {exc}")
        cut = {}
    segments = {s["segment_index"]: s for s in segments_db.list_segments(conn, [run_id]).get(run_id, [])}
    work = []
    for answer in segments_db.pending_on_demand(conn, run_id):
        piece = cut.get(answer["segment_index"])
        if piece is None:
            continue
        if piece.size_bytes > model.max_object_bytes:
            with transaction(conn):
                segments_db.fail_segment(conn, run_id, piece.index, code="segment_too_large",
                                         message=f"the segment is {piece.size_bytes} bytes, over the "
                                                 f"{model.max_object_bytes} byte limit per media object")
            continue
        seg_ctx = segment_context(ctx, segments[piece.index], len(segments))
        work.append((answer["analysis_type"], piece, with_transcript(conn, services.settings, seg_ctx, row["id"])))
    if work:
        _ask_all(services, conn, run, row, model, options, work)
    with transaction(conn):
        ready = segments_db.settle(conn, [run_id])
    for ready_run, analysis_type in ready:
        merging.merge_run_type(services, conn, ready_run, analysis_type)


def _ask_all(services: Services, conn: sqlite3.Connection, run: sqlite3.Row, row: sqlite3.Row, model: NovaModel,
             options: dict[str, Any], work: list[tuple[str, SegmentFile, FileContext]]) -> None:
    """Ask for every (type, piece) with SEGMENT_WORKERS calls in flight; store each answer as it arrives."""
    workers = max(1, min(services.settings.SEGMENT_WORKERS, len(work)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="segment") as pool:
        futures: dict[Future, tuple[str, SegmentFile]] = {
            pool.submit(_ask, services, row, run, model, options, analysis_type, piece, seg_ctx): (analysis_type, piece)
            for analysis_type, piece, seg_ctx in work}
        for future in as_completed(futures):
            analysis_type, piece = futures[future]
            try:
                body = future.result()
            except InferenceError as exc:
                prepared = PreparedOutput(False, 0, 0, error_code=exc.code, error_message=exc.message)
            except (StorageError, OSError, ValueError) as exc:
                prepared = PreparedOutput(False, 0, 0, error_code="media_unavailable", error_message=str(exc))
            else:
                prepared = prepare_model_output(body, analysis_type, media_type="video",
                                                duration_seconds=piece.duration_seconds, options=options)
            with transaction(conn):
                store_answer(conn, run["id"], analysis_type, piece.index, prepared, model=model, batch=False,
                             completed_at=iso(utcnow()))


def _ask(services: Services, row: sqlite3.Row, run: sqlite3.Row, model: NovaModel, options: dict[str, Any],
         analysis_type: str, piece: SegmentFile, ctx: FileContext) -> Any:
    """One model call for one segment (in a pool thread: no database here)."""
    media = pieces.media_block(services, row, run, piece)
    request = build_request(analysis_type, ctx, options, media=media, max_output_tokens=model.max_output_tokens)
    return services.backend.invoke(request_model_id(model), request)
