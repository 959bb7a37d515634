"""Creating a submission: plan, one batch row, chunk rows with fixed names and folders, runs, tasks."""
from __future__ import annotations

import logging
import sqlite3
from datetime import datetime
from typing import Any, Mapping

from app.db import analysis as analysis_db
from app.db import batches as batches_db
from app.db import chunks as chunks_db
from app.db import files as files_db
from app.db import segments as segments_db
from app.db import transaction
from app.errors import Unprocessable
from app.nova.catalog import NovaModel, request_model_id
from app.nova.prompts import PROMPT_VERSION
from app.services import analysis, analysis_request, library, planning
from app.services.batch import common
from app.services.batch.status import batch_to_dict
from app.services.context import Services
from app.services.estimates import Estimator
from app.services.prompt_context import transcript_tokens
from app.services.segments.records import create_segments
from app.utils.clock import iso, utc

log = logging.getLogger(__name__)


def create_submission(conn: sqlite3.Connection, services: Services, body: Mapping[str, Any], *,
                      now: datetime | None = None) -> dict[str, Any]:
    """POST /api/batch/nova: validate, resolve the files on the server, plan and submit; the batch dict."""
    model = analysis_request.resolve_model(services, body.get("model"), for_submit=True)
    types = analysis_request.parse_types(body.get("analysis_types"))
    options = analysis_request.parse_options(body.get("options"))
    analysis_request.check_options(model, services.settings, options)
    mode = body.get("mode", "auto")
    rows = files_db.get_files(conn, library.resolve_file_ids(conn, body))
    analysis_request.require_media_support(model, rows)
    return submit_plan(conn, services, rows=rows, model=model, types=types, options=options, mode=mode, now=now)


def submit_plan(conn: sqlite3.Connection, services: Services, *, rows: list[sqlite3.Row], model: NovaModel,
                types: list[str], options: dict[str, Any], mode: str,
                types_by_file: Mapping[int, list[str]] | None = None, retry_of: int | None = None,
                reuse_runs: Mapping[int, int] | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Plan the files and record the submission with its staging and on-demand tasks, all in one transaction.

    `reuse_runs` ({file id: earlier segmented run}) lets a retry keep the segment answers that run got whole,
    so only its failed or cut-off segments are asked again before the merge."""
    settings = services.settings
    reused = _reusable_answers(conn, reuse_runs or {}, types_by_file or {})
    reusable = {file_id: (run["segment_seconds"], run["segment_overlap"],
                          {t: list(answers) for t, answers in by_type.items()})
                for file_id, (run, by_type) in reused.items()}
    plan = planning.plan_analysis(rows, model=model, requested_types=types, options=options, mode=mode,
                                  settings=settings, types_by_file=types_by_file,
                                  estimator=Estimator(conn, model), reusable=reusable,
                                  transcript_tokens=transcript_tokens(conn, settings, rows))
    if not plan.batch_files and not plan.on_demand_files:
        raise Unprocessable("nothing to analyse: every selected file was rejected", code="nothing_to_analyze",
                            details={"rejected": plan.to_dict()["rejected"][:50], "reasons": plan.reasons})
    if plan.batch_chunks and settings.INFERENCE_BACKEND == "bedrock" and not settings.BEDROCK_BATCH_ROLE_ARN:
        raise Unprocessable("batch jobs need BEDROCK_BATCH_ROLE_ARN (the IAM role Bedrock assumes); set it or "
                            "use mode 'on_demand'", code="batch_role_missing",
                            details={"setting": "BEDROCK_BATCH_ROLE_ARN"})
    created = utc(now)
    with transaction(conn):
        batch_id, chunk_ids, on_demand_runs = _record(conn, services, plan, model=model, types=types,
                                                      options=options, mode=mode, created=created,
                                                      retry_of=retry_of, reused=reused)
        if chunk_ids:
            stage_task = services.tasks.enqueue(conn, "batch_stage", {"batch_id": batch_id}, created)
            batches_db.update_batch(conn, batch_id, created, stage_task_id=stage_task, status="RUNNING")
        if on_demand_runs:
            analysis.start_on_demand(services, conn, on_demand_runs, batch_id=batch_id)
    services.tasks.wake()
    log.info("batch %s: %d chunk(s), %d file(s) on demand, %d rejected", batch_id, len(chunk_ids),
             len(on_demand_runs), len(plan.rejected_files))
    result = batch_to_dict(conn, batch_id)
    result["plan"] = plan.to_dict()
    result["estimate"] = {**plan.totals(), "total_cost_usd": plan.estimated_cost()}
    return result


def _reusable_answers(conn: sqlite3.Connection, reuse_runs: Mapping[int, int],
                      types_by_file: Mapping[int, list[str]]) -> dict[int, tuple[sqlite3.Row, dict]]:
    """{file id: (earlier segmented run, {type: {segment index: whole answer}})} for a retry."""
    found = {}
    for file_id, run_id in reuse_runs.items():
        run = analysis_db.get_run(conn, run_id)
        if run is not None and run["segment_seconds"] is not None:
            found[file_id] = (run, segments_db.reusable_answers(conn, run_id, types_by_file.get(file_id, [])))
    return found


def _kept(planned: planning.PlannedFile, reused: tuple[sqlite3.Row, dict] | None) -> dict | None:
    """The earlier answers the plan did not ask again (none when the file now cuts into other segments)."""
    if reused is None or (reused[0]["segment_seconds"], reused[0]["segment_overlap"]) != (
            planned.segment_seconds, planned.segment_overlap):
        return None
    return {t: {i: row for i, row in answers.items() if i < len(planned.segments)
                and t not in planned.segments[i].types} for t, answers in reused[1].items()}


def _record(conn: sqlite3.Connection, services: Services, plan: planning.Plan, *, model: NovaModel,
            types: list[str], options: dict[str, Any], mode: str, created: datetime,
            retry_of: int | None, reused: Mapping[int, tuple[sqlite3.Row, dict]]) -> tuple[int, list[int], list[int]]:
    """The batch, chunk and run rows (in the caller's transaction); (batch id, chunk ids, on-demand run ids)."""
    created_at = iso(created)
    stamp = common.folder_stamp(created)
    model_id = request_model_id(model)
    totals = plan.totals()
    records = totals["batch"]["records"] + totals["on_demand"]["records"]
    batch_id = batches_db.insert_batch(
        conn, model_key=model.key, model_id=model_id, mode=mode, analysis_types=types, options=options,
        files_total=len(plan.files), records_total=records, plan=plan.to_dict(),
        estimated_cost_usd=plan.estimated_cost(), created_at=created_at, retry_of=retry_of)
    sequence = common.next_sequence(conn, stamp)
    chunk_ids: dict[int, int] = {}
    batch_chunks = plan.batch_chunks
    for offset, chunk in enumerate(batch_chunks):
        folder = common.staging_folder(stamp, sequence + offset)
        common.folder_uri(services.store, folder)  # a bad bucket name fails here, not at submit time
        name, token = common.job_name_and_token(batch_id, chunk.index, created_at, folder)
        chunk_ids[chunk.index] = chunks_db.insert_chunk(
            conn, batch_id=batch_id, chunk_index=chunk.index, total_chunks=len(batch_chunks),
            model_id=model_id, job_name=name, client_token=token, staging_folder=folder,
            manifest_key=f"{folder}{common.MANIFEST_NAME}",
            output_prefix=common.output_prefix(stamp, sequence + offset), files_count=len(chunk.file_ids),
            bytes_total=chunk.bytes, records_total=chunk.records, estimated_cost_usd=chunk.cost_usd_batch,
            created_at=created_at)
    on_demand: list[int] = []
    by_id = {f.file_id: f for f in plan.files}
    for planned in plan.files:
        if planned.route == "rejected":
            continue
        batch_route = planned.route == "batch"
        segmentation = planned.segmentation
        run_id = analysis_db.insert_run(
            conn, file_id=planned.file_id, mode="batch" if batch_route else "on_demand", model_key=model.key,
            model_id=model_id, analysis_types=by_id[planned.file_id].types, options=options,
            prompt_version=PROMPT_VERSION, batch_id=batch_id,
            chunk_id=chunk_ids[planned.chunk_index] if batch_route and segmentation is None else None,
            with_record_ids=batch_route, now=created,
            segmentation=(segmentation.seconds, segmentation.overlap) if segmentation else None)
        if segmentation is not None:
            # Each segment in its chunk (a file's segments may span several); none: it runs on demand.
            create_segments(conn, run_id, planned.types, segmentation,
                            chunk_ids={s.index: chunk_ids[s.chunk_index] for s in planned.segments
                                       if s.chunk_index is not None},
                            reused=_kept(planned, reused.get(planned.file_id)))
        if not batch_route or planned.on_demand_segments:
            on_demand.append(run_id)
    return batch_id, list(chunk_ids.values()), on_demand
