"""A submission's status and its API shapes, read from the database only (never from AWS)."""
from __future__ import annotations

import json
import logging
import sqlite3
from datetime import datetime
from typing import Any

from app.db import analysis as analysis_db
from app.db import batches as batches_db
from app.db import chunks as chunks_db
from app.db import segments as segments_db
from app.db import tasks as tasks_db
from app.db import transaction
from app.errors import NotFound
from app.services.batch import eta
from app.services.segments.records import queue_merges
from app.utils.clock import iso, utc

log = logging.getLogger(__name__)

RUN_ACTIVE = ("PENDING", "RUNNING", "SUBMITTED")
BATCH_TERMINAL = batches_db.BATCH_TERMINAL
CHUNK_TERMINAL = chunks_db.CHUNK_TERMINAL


def compute_status(conn: sqlite3.Connection, batch: sqlite3.Row) -> str:
    """COMPLETED only when every chunk and every run is finished and every record stored without error;
    PARTIAL when some records failed (or a segmented run's merged result has a gap); FAILED when none
    succeeded; CANCELLED after a cancel."""
    chunks = chunks_db.list_chunks(conn, batch["id"])
    runs = batches_db.batch_run_counts(conn, batch["id"])
    active_runs = sum(runs[mode].get(s, 0) for mode in ("batch", "on_demand") for s in RUN_ACTIVE)
    if active_runs or any(c["status"] not in chunks_db.CHUNK_TERMINAL for c in chunks):
        return "PENDING" if batch["status"] == "PENDING" else "RUNNING"
    if batch["cancel_requested"]:
        return "CANCELLED"
    records = batches_db.batch_result_counts(conn, batch["id"])
    incomplete = sum(runs[mode].get(s, 0) for mode in ("batch", "on_demand") for s in ("PARTIAL", "FAILED"))
    if records["COMPLETED"] and not records["FAILED"] and not incomplete:
        return "COMPLETED"
    return "PARTIAL" if records["COMPLETED"] else "FAILED"


def refresh_batch(conn: sqlite3.Connection, batch_id: int, now: datetime) -> str:
    """Persist the submission's status and cost; runs of an on-demand task that ended early are failed."""
    batch = batches_db.get_batch(conn, batch_id)
    if batch is None:
        return "MISSING"
    _fail_orphaned_on_demand_runs(conn, batch_id, now)
    status = compute_status(conn, batch)
    cost = batches_db.batch_run_counts(conn, batch_id)["cost_usd"]
    chunk_cost = sum(c["actual_cost_usd"] for c in chunks_db.list_chunks(conn, batch_id))
    values: dict[str, Any] = {"actual_cost_usd": round(max(cost, chunk_cost), 6)}
    if status != batch["status"]:
        values["status"] = status
        if status in BATCH_TERMINAL:
            values["completed_at"] = iso(now)
            log.info("batch %s %s", batch_id, status)
    with transaction(conn):
        batches_db.update_batch(conn, batch_id, now, **values)
    return status


def refresh_unfinished_batches(conn: sqlite3.Connection, now: datetime) -> dict[str, int]:
    counts: dict[str, int] = {}
    for batch_id in batches_db.unfinished_batch_ids(conn):
        status = refresh_batch(conn, batch_id, now)
        counts[status] = counts.get(status, 0) + 1
    return counts


def _fail_orphaned_on_demand_runs(conn: sqlite3.Connection, batch_id: int, now: datetime) -> None:
    """On-demand runs whose task is over but which never finished (the task failed or was cancelled); of a
    batch run with segments left to its on-demand task, those segments only."""
    mixed = set(segments_db.runs_with_on_demand_part(conn, batch_id))
    run_ids = batches_db.pending_run_ids(conn, batch_id=batch_id, mode="on_demand") + sorted(mixed)
    if not run_ids:
        return
    ended: dict[str, sqlite3.Row | None] = {}
    orphaned = []
    for run_id, task_id in analysis_db.runs_task_ids(conn, run_ids).items():
        if task_id is None:
            continue
        if task_id not in ended:
            task = tasks_db.get_task(conn, task_id)
            ended[task_id] = task if task is not None and task["status"] in tasks_db.TERMINAL_STATUSES else None
        if ended[task_id] is not None:
            orphaned.append((run_id, ended[task_id]))
    if not orphaned:
        return
    with transaction(conn):
        for run_id, task in orphaned:
            reason = "cancelled" if task["status"] == "CANCELLED" else "on_demand_task_ended"
            message = (f"the on-demand task ended ({task['status']}) before this file was analysed"
                       + (f": {task['error']}" if task["error"] else ""))
            if run_id in mixed:
                segments_db.fail_pending_on_demand(conn, run_id, code=reason, message=message, now=now)
                queue_merges(conn, [run_id], now)
            else:
                analysis_db.fail_run(conn, run_id, code=reason, now=now, message=message)


def queued_merges(conn: sqlite3.Connection, batch_id: int) -> list[str]:
    """The submission's merge tasks not finished yet (segmented runs), oldest first."""
    return segments_db.queued_merge_tasks(conn, batch_id)


def chunk_etas(conn: sqlite3.Connection, chunks: list[sqlite3.Row], now: datetime) -> list[dict[str, Any] | None]:
    """The expected finish of each chunk (None for chunks not submitted or running), one pace per model."""
    paces: dict[str, eta.Pace] = {}
    etas = []
    for chunk in chunks:
        if chunk["status"] not in eta.ACTIVE:
            etas.append(None)
            continue
        if chunk["model_id"] not in paces:
            paces[chunk["model_id"]] = eta.model_pace(conn, chunk["model_id"])
        etas.append(eta.chunk_eta(chunk, paces[chunk["model_id"]], now))
    return etas


def chunk_to_dict(chunk: sqlite3.Row, chunk_eta: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": chunk["id"],
        "index": chunk["chunk_index"],
        "status": chunk["status"],
        "provider_status": chunk["provider_status"],
        "job_id": chunk["job_id"],
        "job_arn": chunk["job_arn"],
        "job_name": chunk["job_name"],
        "staging_folder": chunk["staging_folder"],
        "output_prefix": chunk["output_prefix"],
        "files": chunk["files_count"],
        "records_total": chunk["records_total"],
        "records_processed": chunk["records_processed"],
        "records_succeeded": chunk["records_succeeded"],
        "records_failed": chunk["records_failed"],
        "progress_percent": eta.progress_percent(chunk),
        "started_at": chunk["started_at"],
        "eta": chunk_eta,
        "estimated_cost_usd": chunk["estimated_cost_usd"],
        "actual_cost_usd": chunk["actual_cost_usd"],
        "submitted_at": chunk["submitted_at"],
        "completed_at": chunk["completed_at"],
        "expires_at": chunk["expires_at"],
        "results_fetched_at": chunk["results_fetched_at"],
        "last_error": chunk["last_error"],
        "failure_message": chunk["failure_message"],
        "ingest_stats": json.loads(chunk["ingest_stats"]) if chunk["ingest_stats"] else None,
    }


def batch_to_dict(conn: sqlite3.Connection, batch_id: int) -> dict[str, Any]:
    """GET /api/batch/<id>: the submission, its chunks, its on-demand part and its files."""
    batch = batches_db.get_batch(conn, batch_id)
    if batch is None:
        raise NotFound(f"batch {batch_id} not found", code="batch_not_found", details={"batch_id": batch_id})
    chunks = chunks_db.list_chunks(conn, batch_id)
    etas = chunk_etas(conn, chunks, utc())
    runs = batches_db.batch_runs(conn, batch_id)
    plan = json.loads(batch["plan"] or "{}")
    files = [{"file_id": r["file_id"], "name": r["file_name"], "status": r["status"], "mode": r["mode"],
              "run_id": r["id"], "error": r["error_message"]} for r in runs]
    files.extend({"file_id": f["file_id"], "name": f["name"], "status": "REJECTED", "mode": None, "run_id": None,
                  "error": f["reason"]} for f in plan.get("rejected", []))
    records = batches_db.batch_result_counts(conn, batch_id)
    run_cost = batches_db.batch_run_counts(conn, batch_id)["cost_usd"]
    return {
        "id": batch["id"],
        "status": compute_status(conn, batch),
        "model": batch["model_key"],
        "model_id": batch["model_id"],
        "mode": batch["mode"],
        "analysis_types": json.loads(batch["analysis_types"]),
        "options": json.loads(batch["options"] or "{}"),
        "created_at": batch["created_at"],
        "completed_at": batch["completed_at"],
        "retry_of": batch["retry_of"],
        "cancel_requested": bool(batch["cancel_requested"]),
        "files_total": batch["files_total"],
        "records_total": batch["records_total"],
        "records": {"completed": records["COMPLETED"], "failed": records["FAILED"], "pending": records["PENDING"]},
        "cost": {"estimated_usd": batch["estimated_cost_usd"],
                 "actual_usd": round(max(run_cost, sum(c["actual_cost_usd"] for c in chunks)), 6)},
        "chunks": [chunk_to_dict(c, e) for c, e in zip(chunks, etas)],
        "eta": eta.submission_eta(etas),
        "on_demand": {"files": sum(1 for r in runs if r["mode"] == "on_demand"),
                      "task_id": batch["on_demand_task_id"]},
        "stage_task_id": batch["stage_task_id"],
        "files": files,
    }


def list_batches(conn: sqlite3.Connection, *, limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """GET /api/batch: submissions newest first with their counts."""
    items = []
    now = utc()
    for row in batches_db.list_batches(conn, limit=limit, offset=offset):
        status = compute_status(conn, row)
        # Only running submissions have chunks to wait for (a finished one reads none).
        expected = eta.submission_eta(chunk_etas(conn, chunks_db.list_chunks(conn, row["id"]), now)) \
            if status == "RUNNING" else None
        items.append({
            "id": row["id"],
            "status": status,
            "model": row["model_key"],
            "mode": row["mode"],
            "analysis_types": json.loads(row["analysis_types"]),
            "created_at": row["created_at"],
            "completed_at": row["completed_at"],
            "retry_of": row["retry_of"],
            "files_total": row["files_total"],
            "records_total": row["records_total"],
            "chunks_total": row["chunks_total"],
            "chunks_done": row["chunks_done"],
            "runs_total": row["runs_total"],
            "runs_completed": row["runs_completed"],
            "runs_failed": row["runs_failed"],
            "runs_partial": row["runs_partial"],
            "cost": {"estimated_usd": row["estimated_cost_usd"], "actual_usd": row["actual_cost_usd"]},
            "eta": expected,
        })
    return {"items": items, "total": batches_db.count_batches(conn), "limit": limit, "offset": offset}
