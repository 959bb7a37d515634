"""Settling a chunk once its output was read: records with no line are failed, runs rolled up, and the chunk
becomes COMPLETED, PARTIAL or FAILED (the only place it can become COMPLETED); or, when reading failed, it
stays FETCHING for another try until BATCH_RESULT_FETCH_MAX_RETRIES, then RESULT_FETCH_FAILED."""
from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from app.db import analysis as analysis_db
from app.db import chunks as chunks_db
from app.db import transaction
from app.services.batch import common
from app.services.context import Services
from app.services.segments.records import queue_merges
from app.utils import leases
from app.utils.clock import Clock, iso, later

log = logging.getLogger(__name__)

RUNS_PER_TRANSACTION = 500
CLAIM_SECONDS = 600

# Why a record with no output line failed, by the job's final provider status.
_MISSING_REASONS = {
    "Failed": ("batch_job_failed", "the batch job failed before answering this record"),
    "Stopped": ("batch_job_stopped", "the batch job was stopped before answering this record"),
    "Expired": ("batch_job_expired", "the batch job expired before answering this record"),
}


class IngestInterrupted(Exception):
    """Another worker took the chunk's ingest claim; stop without finishing."""


@dataclass
class IngestStats:
    """What one ingestion read; kept in the chunk's ingest_stats."""

    files: int = 0
    bytes: int = 0
    lines: int = 0
    blank_lines: int = 0
    stored: int = 0
    already_stored: int = 0
    model_output_failed: int = 0
    error_lines: int = 0
    unparsable_lines: int = 0
    unknown_records: int = 0
    duplicate_records: int = 0
    missing_records: int = 0
    manifest_found: bool = False
    manifest_mismatches: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1


def finish_chunk(conn: sqlite3.Connection, chunk: sqlite3.Row, holder: str, stats: IngestStats,
            manifest: dict[str, Any] | None, clock: Clock) -> str:
    """Every line is stored: fail what never came back, roll runs up, and settle the chunk's status."""
    code, message = _MISSING_REASONS.get(chunk["provider_status"] or "",
                                         ("missing_output", "the job's output has no line for this record"))
    if chunk["failure_message"] and code != "missing_output":
        message = f"{message}: {chunk['failure_message']}"
    with transaction(conn):
        check_claim(conn, chunk["id"], holder, clock.now())
        stats.missing_records = chunks_db.fail_pending_chunk_results(conn, chunk["id"], code=code, message=message,
                                                                     now=clock.now())
        run_ids = chunks_db.chunk_run_ids(conn, chunk["id"])
        # Segments whose answers have all come (or failed) now: their merge, in this same transaction.
        queue_merges(conn, run_ids, clock.now())
    for start in range(0, len(run_ids), RUNS_PER_TRANSACTION):
        with transaction(conn):  # short transactions: a big chunk never holds the write lock for long
            check_claim(conn, chunk["id"], holder, clock.now())
            analysis_db.finalize_runs(conn, run_ids[start:start + RUNS_PER_TRANSACTION], now=clock.now())
    with transaction(conn):
        now = clock.now()
        current = check_claim(conn, chunk["id"], holder, now)
        totals = chunks_db.chunk_result_totals(conn, chunk["id"])
        succeeded, failed = totals["COMPLETED"], totals["FAILED"]
        if manifest is not None:
            _compare_manifest(stats, manifest, chunk["records_total"], succeeded)
        # The one place a chunk becomes COMPLETED: every record above is stored or failed with a reason.
        status = "COMPLETED" if failed == 0 and succeeded > 0 else "PARTIAL" if succeeded > 0 else "FAILED"
        chunks_db.update_chunk(
            conn, chunk["id"], now, expect_status=("FETCHING",), status=status, records_processed=succeeded + failed,
            records_succeeded=succeeded, records_failed=failed, input_tokens=totals["tokens_input"],
            output_tokens=totals["tokens_output"], actual_cost_usd=totals["cost_usd"],
            manifest_totals=json.dumps(manifest) if manifest is not None else None,
            ingest_stats=json.dumps(asdict(stats)), results_fetched_at=iso(now),
            completed_at=current["completed_at"] or iso(now), claimed_by=None, claimed_until=None,
            last_error=None, next_attempt_at=None)
    log.info("chunk %s ingested: %s (%d succeeded, %d failed, %d missing)", chunk["id"], status, succeeded, failed,
             stats.missing_records)
    return status


def check_claim(conn: sqlite3.Connection, chunk_id: int, holder: str, now: datetime) -> sqlite3.Row:
    """The chunk, with this holder's claim renewed; IngestInterrupted when another process took it over."""
    if not leases.claim(conn, chunks_db.INGEST_CLAIMS, chunk_id, holder, now, CLAIM_SECONDS):
        raise IngestInterrupted()
    return chunks_db.get_chunk(conn, chunk_id)


def _compare_manifest(stats: IngestStats, manifest: dict[str, Any], records_total: int, succeeded: int) -> None:
    """Differences between the service's totals and what the output files held."""
    expected = {
        "totalRecordCount": records_total,
        "processedRecordCount": stats.lines,
        "errorRecordCount": stats.error_lines,
    }
    for name, ours in expected.items():
        theirs = manifest.get(name)
        if isinstance(theirs, int) and theirs != ours:
            stats.manifest_mismatches[name] = {"manifest": theirs, "output": ours}
    theirs = manifest.get("successRecordCount")
    lines_ok = stats.lines - stats.error_lines - stats.unparsable_lines
    if isinstance(theirs, int) and theirs != lines_ok:
        stats.manifest_mismatches["successRecordCount"] = {"manifest": theirs, "output": lines_ok,
                                                            "stored": succeeded}
    if stats.manifest_mismatches:
        log.warning("output totals differ from manifest.json.out: %s", stats.manifest_mismatches)


def fetch_failed(conn: sqlite3.Connection, services: Services, chunk: sqlite3.Row, stats: IngestStats,
                  exc: Exception, now: datetime) -> dict[str, Any]:
    """Keep the chunk FETCHING for a later try, or give up after BATCH_RESULT_FETCH_MAX_RETRIES."""
    attempts = chunk["results_fetch_attempts"] + 1
    error = f"reading results failed (attempt {attempts}): {exc}"[:2000]
    limit = services.settings.BATCH_RESULT_FETCH_MAX_RETRIES
    with transaction(conn):
        if attempts >= limit:
            if chunks_db.update_chunk(conn, chunk["id"], now, expect_status=("FETCHING",),
                                      status="RESULT_FETCH_FAILED", results_fetch_attempts=attempts, last_error=error,
                                      ingest_stats=json.dumps(asdict(stats)), claimed_by=None, claimed_until=None):
                common.fail_chunk_runs(conn, chunk["id"], code="result_fetch_failed", now=now,
                                       message=f"the job's results could not be read after {attempts} attempts: {exc}")
            outcome, status = "fetch_failed", "RESULT_FETCH_FAILED"
        else:
            chunks_db.update_chunk(conn, chunk["id"], now, expect_status=("FETCHING",),
                                   results_fetch_attempts=attempts, last_error=error, claimed_by=None,
                                   claimed_until=None, next_attempt_at=later(now, common.backoff_seconds(attempts)))
            outcome, status = "retrying", "FETCHING"
    log.warning("chunk %s: %s", chunk["id"], error)
    return {"outcome": outcome, "status": status, "stats": asdict(stats)}
