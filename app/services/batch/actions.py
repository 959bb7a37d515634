"""User actions on a submission: cancel it, or retry what failed."""
from __future__ import annotations

import json
import logging
import sqlite3
from datetime import datetime
from typing import Any

from app.db import batches as batches_db
from app.db import chunks as chunks_db
from app.db import files as files_db
from app.db import tasks as tasks_db
from app.db import transaction
from app.errors import Conflict, NotFound
from app.inference.base import ConflictError, InferenceError
from app.services.analysis_request import parse_types
from app.services.batch import common
from app.services.batch.status import batch_to_dict, refresh_batch
from app.services.batch.submission import submit_plan
from app.services.batch.submit import find_existing_job, record_submission
from app.services.context import Services
from app.services.signals import BATCH
from app.utils.clock import iso, utc

log = logging.getLogger(__name__)


def _batch_or_404(conn: sqlite3.Connection, batch_id: int) -> sqlite3.Row:
    batch = batches_db.get_batch(conn, batch_id)
    if batch is None:
        raise NotFound(f"batch {batch_id} not found", code="batch_not_found", details={"batch_id": batch_id})
    return batch


def cancel_batch(conn: sqlite3.Connection, services: Services, batch_id: int, *,
                 now: datetime | None = None) -> dict[str, Any]:
    """Stop running chunks, cancel queued ones and the on-demand task; output already made is still ingested."""
    current = utc(now)
    batch = _batch_or_404(conn, batch_id)
    status = refresh_batch(conn, batch_id, current)
    if status in batches_db.BATCH_TERMINAL:
        raise Conflict(f"batch {batch_id} is already {status}", code="batch_finished", details={"status": status})
    with transaction(conn):
        batches_db.update_batch(conn, batch_id, current, cancel_requested=1)
    for task_id in (batch["stage_task_id"], batch["on_demand_task_id"]):
        _cancel_task(conn, services, task_id)
    for chunk in chunks_db.list_chunks(conn, batch_id):
        if chunk["status"] == "QUEUED" and chunk["create_uncertain"]:
            found = find_existing_job(services, chunk)  # an earlier create may have made the job
            if found is not None:
                record_submission(conn, chunk["id"], found.job_arn, current, provider_status=found.status)
                chunk = chunks_db.get_chunk(conn, chunk["id"])
        if chunk["status"] in ("STAGING", "QUEUED"):
            with transaction(conn):
                if chunks_db.update_chunk(conn, chunk["id"], current, expect_status=("STAGING", "QUEUED"),
                                          status="CANCELLED", create_uncertain=0, completed_at=iso(current)):
                    common.fail_chunk_runs(conn, chunk["id"], code="cancelled", now=current,
                                           message="the batch was cancelled before this job was submitted")
        elif chunk["status"] in chunks_db.CHUNK_RUNNING and chunk["job_arn"]:
            _stop(conn, services, chunk, current)
    refresh_batch(conn, batch_id, current)
    services.signals.notify(BATCH)  # stopped jobs' output is read back as soon as it is there
    return batch_to_dict(conn, batch_id)


def _cancel_task(conn: sqlite3.Connection, services: Services, task_id: str | None) -> None:
    if task_id is None:
        return
    row = tasks_db.get_task(conn, task_id)
    if row is not None and row["status"] in tasks_db.ACTIVE_STATUSES:
        try:
            services.tasks.cancel(conn, task_id)
        except Conflict:
            pass  # it finished in the meantime


def _stop(conn: sqlite3.Connection, services: Services, chunk: sqlite3.Row, now: datetime) -> None:
    """StopModelInvocationJob; the tracker then sees Stopping/Stopped and the output is ingested."""
    try:
        services.backend.stop_batch_job(chunk["job_arn"])
        log.info("chunk %s: stop requested for %s", chunk["id"], chunk["job_arn"])
    except ConflictError:
        log.info("chunk %s: job %s already finished; its results are ingested as usual", chunk["id"],
                 chunk["job_arn"])
    except InferenceError as exc:
        with transaction(conn):
            chunks_db.update_chunk(conn, chunk["id"], now, last_error=f"stop failed: {exc}"[:2000])


def retry_failed(conn: sqlite3.Connection, services: Services, batch_id: int, *,
                 now: datetime | None = None) -> dict[str, Any]:
    """A new submission with only the records that failed or never came back (on demand below the minimum).

    A segmented run's failed or cut-off segments are asked again, its whole answers are kept, and the file's
    result is merged again (a failed summary merge alone is merged again without asking any segment)."""
    batch = _batch_or_404(conn, batch_id)
    failed = batches_db.failed_results_of_batch(conn, batch_id)
    if not failed:
        raise Conflict(f"batch {batch_id} has no failed records to retry", code="nothing_to_retry",
                       details={"batch_id": batch_id})
    types_by_file: dict[int, list[str]] = {}
    reuse_runs: dict[int, int] = {}
    for row in failed:
        types = types_by_file.setdefault(row["file_id"], [])
        if row["analysis_type"] not in types:
            types.append(row["analysis_type"])
        if row["segmented"]:
            reuse_runs[row["file_id"]] = row["run_id"]
    rows = files_db.get_files(conn, list(types_by_file))
    requested = parse_types(json.loads(batch["analysis_types"]))
    model = services.catalog.get(batch["model_key"])
    mode = "on_demand" if batch["mode"] == "on_demand" else "auto"
    return submit_plan(conn, services, rows=rows, model=model, types=requested,
                       options=json.loads(batch["options"] or "{}"), mode=mode, types_by_file=types_by_file,
                       retry_of=batch_id, reuse_runs=reuse_runs, now=now)
