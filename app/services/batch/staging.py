"""Staging a chunk: proxies copied under the job's input folder, the manifest written, all verified.

A segmented run's segments in this chunk are staged as their own pieces (app/services/segments/pieces.py),
one record per (segment, type). Runs as the background task kind 'batch_stage' ({"batch_id": id}); every
step can be repeated, so a task interrupted by a restart simply stages its remaining chunks again.
"""
from __future__ import annotations

import json
import logging
import mimetypes
import sqlite3
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from app.db import analysis as analysis_db
from app.db import batches as batches_db
from app.db import chunks as chunks_db
from app.db import files as files_db
from app.db import segments as segments_db
from app.db import transaction
from app.nova.catalog import NovaModel
from app.nova.requests import build_request
from app.services.analysis import ensure_proxy, image_s3_media, start_on_demand, video_s3_media
from app.services.batch.common import FILES_FOLDER, fail_chunk_runs
from app.services.context import Services
from app.services.prompt_context import file_context, segment_context, with_transcript
from app.services.segments import pieces
from app.services.segments.records import queue_merges
from app.services.signals import BATCH
from app.services.tasks import TaskCancelled, TaskContext, TaskInterrupted
from app.storage.base import ObjectNotFound, ObjectStore, StorageError
from app.utils.clock import utcnow
from app.utils.crashpoints import crashpoint
from app.utils.filename_sanitizer import sanitize_filename

log = logging.getLogger(__name__)

MANIFEST_CONTENT_TYPE = "application/jsonl"


@dataclass
class StagedFile:
    """One run's media as it goes to the job's input folder."""

    run: sqlite3.Row
    row: sqlite3.Row
    proxy_path: Path
    key: str
    content_type: str
    size: int
    error: str | None = None
    segment: sqlite3.Row | None = None  # one segment of a segmented run (its piece is proxy_path)
    count: int = 0  # how many segments that run has
    source_key: str | None = None  # a copy already in the store (server-side copy, no upload)


def canonical_proxy_key(row: sqlite3.Row) -> str:
    """Where an on-demand call already put this proxy (see analysis.media_block); copied server-side."""
    return f"media/{row['id']}/{row['fingerprint'][:16]}/proxy.mp4"


def content_type_for(path: Path, media_type: str) -> str:
    if media_type == "video":
        return "video/mp4"
    return mimetypes.guess_type(path.name)[0] or "image/jpeg"


def run_stage_task(services: Services, ctx: TaskContext, params: dict[str, Any]) -> dict[str, Any]:
    """Task handler: stage every STAGING chunk of one submission; one chunk failing leaves the others."""
    conn = ctx.conn
    batch_id = int(params["batch_id"])
    chunks = chunks_db.chunks_with_status(conn, ("STAGING",), batch_id=batch_id)
    ctx.set_total(sum(c["files_count"] for c in chunks))
    for name in ("queued", "failed_chunks", "failed_files"):
        ctx.counters.setdefault(name, 0)
    for chunk in chunks:
        ctx.check()
        batch = batches_db.get_batch(conn, batch_id)
        if batch is None or batch["cancel_requested"]:
            break
        ctx.set_current(chunk["staging_folder"])
        try:
            status = stage_chunk(conn, services, chunk["id"], on_file=lambda failed: ctx.advance(
                failed_files=int(failed)), check=ctx.check)
        except (TaskCancelled, TaskInterrupted):
            raise
        except Exception as exc:  # a fault in one chunk fails that chunk only
            log.exception("staging chunk %s failed", chunk["id"])
            fail_staging(conn, chunk["id"], f"staging failed: {exc}")
            status = "FAILED"
        ctx.count("queued" if status == "QUEUED" else "failed_chunks" if status == "FAILED" else status.lower())
    ctx.set_current(None)
    return dict(ctx.counters)


def fail_staging(conn: sqlite3.Connection, chunk_id: int, message: str) -> None:
    now = utcnow()
    with transaction(conn):
        if chunks_db.update_chunk(conn, chunk_id, now, expect_status=("STAGING",), status="FAILED",
                                  failure_message=message[:2000], last_error=message[:2000]):
            fail_chunk_runs(conn, chunk_id, code="staging_failed", message=message, now=now)


def stage_chunk(conn: sqlite3.Connection, services: Services, chunk_id: int, *,
                on_file: Callable[[bool], None] | None = None, check: Callable[[], None] | None = None) -> str:
    """Stage one chunk and return its new status (QUEUED when ready to submit)."""
    chunk = chunks_db.get_chunk(conn, chunk_id)
    if chunk is None or chunk["status"] != "STAGING":
        return chunk["status"] if chunk else "MISSING"
    batch = batches_db.get_batch(conn, chunk["batch_id"])
    model = services.catalog.get(batch["model_key"])
    runs = chunks_db.chunk_runs(conn, chunk_id)
    rows = {row["id"]: row for row in files_db.get_files(conn, [r["file_id"] for r in runs])}
    staged: list[StagedFile] = []
    for run in runs:
        if check is not None:
            check()
        if run["status"] in ("COMPLETED", "FAILED"):
            continue
        item = _prepare(conn, services, chunk, run, rows.get(run["file_id"]), model)
        if item.error:
            _fail_run(conn, run["id"], "media_unavailable", item.error)
            if on_file:
                on_file(True)
            continue
        staged.append(item)
    for item in _prepare_segments(conn, services, chunk, model, check):
        if item.error:
            _fail_item(conn, item, "media_unavailable", item.error)
            if on_file:
                on_file(True)
            continue
        staged.append(item)
    _upload_all(services, staged)
    crashpoint("staging")
    for item in staged:
        if item.error is None:
            _verify_or_reupload(conn, services, item)
        if item.error:
            _fail_item(conn, item, "staging_failed", item.error)
        if on_file:
            on_file(item.error is not None)
    good = [item for item in staged if item.error is None]
    return _write_manifest_and_queue(conn, services, chunk, batch, model, good)


def _prepare(conn: sqlite3.Connection, services: Services, chunk: sqlite3.Row, run: sqlite3.Row,
             row: sqlite3.Row | None, model: NovaModel) -> StagedFile:
    """The proxy on disk (made now if missing) and the safe key it gets under files/."""
    if row is None:
        return StagedFile(run, row, Path(), "", "", 0, error="the file is no longer in the library")
    try:
        path = ensure_proxy(services.settings, conn, row)
    except Exception as exc:
        return StagedFile(run, row, Path(), "", "", 0, error=str(exc))
    name = sanitize_filename(row["name"], row["id"], extension=path.suffix or ".mp4")
    key = f"{chunk['staging_folder']}{FILES_FOLDER}/{name}"
    size = path.stat().st_size
    error = None
    if size > model.max_object_bytes:  # planning only had an estimate when the proxy was not made yet
        error = f"the proxy is {size} bytes, over the {model.max_object_bytes} byte limit per media object"
    return StagedFile(run, row, path, key, content_type_for(path, row["media_type"]), size, error=error)


def _prepare_segments(conn: sqlite3.Connection, services: Services, chunk: sqlite3.Row, model: NovaModel,
                      check: Callable[[], None] | None) -> list[StagedFile]:
    """The chunk's segments with a pending answer: their pieces cut (or reused) and their keys under files/."""
    wanted: dict[int, set[int]] = {}
    for answer in segments_db.pending_in_chunk(conn, chunk["id"]):
        wanted.setdefault(answer["run_id"], set()).add(answer["segment_index"])
    items: list[StagedFile] = []
    for run_id, indexes in sorted(wanted.items()):
        if check is not None:
            check()
        run = analysis_db.get_run(conn, run_id)
        row = files_db.get_file(conn, run["file_id"])
        try:
            if row is None:
                raise FileNotFoundError("the file is no longer in the library")
            cut = {p.index: p for p in pieces.run_pieces(conn, run, row, ensure_proxy(services.settings, conn, row))}
        except Exception as exc:  # this run's segments fail; the chunk goes on
            error = f"the segments could not be cut: {exc}"
            items.extend(StagedFile(run, row, Path(), "", "", 0, error=error, segment=s)
                         for s in _segment_rows(conn, run_id, indexes))
            continue
        segments = segments_db.list_segments(conn, [run_id])[run_id]
        for segment in (s for s in segments if s["segment_index"] in indexes):
            piece = cut[segment["segment_index"]]
            error = None
            if piece.size_bytes > model.max_object_bytes:
                error = (f"segment {piece.index + 1} is {piece.size_bytes} bytes, over the {model.max_object_bytes}"
                         " byte limit per media object")
            key = f"{chunk['staging_folder']}{FILES_FOLDER}/{pieces.staged_name(row, piece.index)}"
            items.append(StagedFile(run, row, piece.path, key, "video/mp4", piece.size_bytes, error=error,
                                    segment=segment, count=len(segments),
                                    source_key=pieces.piece_key(row, run, piece.index)))
    return items


def _segment_rows(conn: sqlite3.Connection, run_id: int, indexes: set[int]) -> list[sqlite3.Row]:
    return [s for s in segments_db.list_segments(conn, [run_id]).get(run_id, []) if s["segment_index"] in indexes]


def _fail_item(conn: sqlite3.Connection, item: StagedFile, code: str, message: str) -> None:
    """A file that cannot be staged fails its run; a segment fails its own answers (the rest go on)."""
    if item.segment is None:
        _fail_run(conn, item.run["id"], code, message)
        return
    with transaction(conn):
        segments_db.fail_segment(conn, item.run["id"], item.segment["segment_index"], code=code, message=message)
        queue_merges(conn, [item.run["id"]])


def _upload_all(services: Services, staged: list[StagedFile]) -> None:
    """Copy or upload every file, BATCH_UPLOAD_WORKERS at a time; errors stay with their file."""
    store = services.store
    workers = max(1, min(services.settings.BATCH_UPLOAD_WORKERS, len(staged)))
    if not staged:
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="batch-upload") as pool:
        list(pool.map(lambda item: _upload_one(store, item), staged))


def _upload_one(store: ObjectStore, item: StagedFile) -> None:
    try:
        if _present(store, item.key, item.size):
            return
        source = item.source_key
        if source is None and item.row["media_type"] == "video":
            source = canonical_proxy_key(item.row)
        if source is not None and _present(store, source, item.size):
            store.copy(source, item.key, content_type=item.content_type)  # server-side, no download
        else:
            store.put_file(item.key, item.proxy_path, content_type=item.content_type)
    except (StorageError, OSError) as exc:
        item.error = f"upload of {item.key} failed: {exc}"


def _present(store: ObjectStore, key: str, size: int) -> bool:
    try:
        return store.head(key).size == size
    except ObjectNotFound:
        return False


def _verify_or_reupload(conn: sqlite3.Connection, services: Services, item: StagedFile) -> None:
    """Head the object; when it is missing or short, make the proxy again if needed and upload it again."""
    store = services.store
    try:
        if _present(store, item.key, item.size):
            return
        log.warning("staged object %s is missing or incomplete; uploading it again", item.key)
        item.proxy_path = ensure_proxy(services.settings, conn, item.row)
        if item.segment is not None:  # the piece again (cut anew if the proxy changed)
            index = item.segment["segment_index"]
            piece = next(p for p in pieces.run_pieces(conn, item.run, item.row, item.proxy_path) if p.index == index)
            item.proxy_path = piece.path
        item.size = item.proxy_path.stat().st_size
        store.put_file(item.key, item.proxy_path, content_type=item.content_type)
        if not _present(store, item.key, item.size):
            item.error = f"{item.key} is still missing after uploading it again"
    except Exception as exc:
        item.error = f"could not stage {item.key}: {exc}"


def _fail_run(conn: sqlite3.Connection, run_id: int, code: str, message: str) -> None:
    with transaction(conn):
        analysis_db.fail_run(conn, run_id, code=code, message=message)


def _media(store: ObjectStore, item: StagedFile) -> dict[str, Any]:
    if item.row["media_type"] == "video":
        return video_s3_media(store, item.key, "mp4")
    with open(item.proxy_path, "rb") as handle:
        return image_s3_media(store, item.key, handle.read(16))


def _bounds(conn: sqlite3.Connection, item: StagedFile) -> sqlite3.Row:
    """The segment as it is now (its bounds are the cut piece's since run_pieces)."""
    index = item.segment["segment_index"]
    return next(s for s in segments_db.list_segments(conn, [item.run["id"]])[item.run["id"]]
                if s["segment_index"] == index)


def _write_manifest_and_queue(conn: sqlite3.Connection, services: Services, chunk: sqlite3.Row,
                              batch: sqlite3.Row, model: NovaModel, good: list[StagedFile]) -> str:
    store, settings = services.store, services.settings
    pending = analysis_db.list_results(conn, [item.run["id"] for item in good if item.segment is None])
    by_segment: dict[tuple[int, int], list[sqlite3.Row]] = {}
    for answer in segments_db.pending_in_chunk(conn, chunk["id"]):
        by_segment.setdefault((answer["run_id"], answer["segment_index"]), []).append(answer)
    records = 0
    tmp_dir = settings.DATA_DIR / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".jsonl", dir=tmp_dir, delete=False) as handle:
        manifest_path = Path(handle.name)
        for item in good:
            options = json.loads(item.run["options"] or "{}")
            context = file_context(item.row)
            media = _media(store, item)
            if item.segment is not None:  # one record per type of this segment; times relative to it
                context = segment_context(context, _bounds(conn, item), item.count)
                results = by_segment.get((item.run["id"], item.segment["segment_index"]), [])
            else:
                results = [r for r in pending[item.run["id"]] if r["status"] == "PENDING"]
            context = with_transcript(conn, settings, context, item.row["id"])
            for result in results:
                if not result["record_id"]:
                    continue
                request = build_request(result["analysis_type"], context, options, media=media,
                                        max_output_tokens=model.max_output_tokens)
                handle.write(json.dumps({"recordId": result["record_id"], "modelInput": request},
                                        ensure_ascii=False, separators=(",", ":")) + "\n")
                records += 1
    try:
        minimum = settings.effective_min_records
        if records == 0:
            fail_staging(conn, chunk["id"], "no file of this chunk could be staged")
            return "FAILED"
        if records < minimum:
            return _below_minimum(conn, services, chunk, batch, good, records, minimum)
        store.put_file(chunk["manifest_key"], manifest_path, content_type=MANIFEST_CONTENT_TYPE)
        if store.head(chunk["manifest_key"]).size != manifest_path.stat().st_size:
            raise StorageError(f"manifest {chunk['manifest_key']} did not store completely", transient=True)
    finally:
        manifest_path.unlink(missing_ok=True)
    with transaction(conn):
        moved = chunks_db.update_chunk(
            conn, chunk["id"], utcnow(), expect_status=("STAGING",), status="QUEUED",
            files_count=len({item.row["id"] for item in good}),
            bytes_total=sum(item.size for item in good), records_total=records, next_attempt_at=None,
            last_error=None)
    if moved:
        log.info("chunk %s staged: %d files, %d records in %s", chunk["id"], len(good), records,
                 chunk["staging_folder"])
        services.signals.notify(BATCH)  # ready to submit: the poller need not wait for its interval
    return "QUEUED" if moved else chunks_db.get_chunk(conn, chunk["id"])["status"]


def _below_minimum(conn: sqlite3.Connection, services: Services, chunk: sqlite3.Row, batch: sqlite3.Row,
                   good: list[StagedFile], records: int, minimum: int) -> str:
    """Files lost in staging left too few records for a batch job: run them on demand (auto mode)."""
    reason = (f"only {records} record(s) left after staging failures, fewer than the batch minimum of "
              f"{minimum}")
    if batch["mode"] != "auto":
        fail_staging(conn, chunk["id"], reason)
        return "FAILED"
    run_ids = [item.run["id"] for item in good if item.segment is None]
    with transaction(conn):
        if not chunks_db.update_chunk(conn, chunk["id"], utcnow(), expect_status=("STAGING",), status="CANCELLED",
                                      last_error=f"{reason}: they run on demand", records_total=records):
            return chunks_db.get_chunk(conn, chunk["id"])["status"]
        chunks_db.move_runs_to_on_demand(conn, run_ids)
        # Segments run on demand too (their run stays a batch run while other segments are in a chunk).
        run_ids = sorted({*run_ids, *segments_db.move_chunk_to_on_demand(conn, chunk["id"])})
        task_id = start_on_demand(services, conn, run_ids,
                                  batch_id=batch["id"] if batch["on_demand_task_id"] is None else None)
    log.info("chunk %s: %s; on-demand task %s", chunk["id"], reason, task_id)
    return "CANCELLED"
