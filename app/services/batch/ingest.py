"""Reading a finished job's output into analysis results; the only place a chunk becomes COMPLETED.

Output lines are joined to results by recordId (never by position), streamed one line at a time
from each `*.jsonl.out` under `<output prefix><job id>/`, and stored in batched transactions.
Storing is idempotent, so reading the same output again leaves the same rows.
"""
from __future__ import annotations

import json
import logging
import re
import sqlite3
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from app.db import analysis as analysis_db
from app.db import batches as batches_db
from app.db.connection import transaction
from app.nova.catalog import NovaModel
from app.services.analysis import Services, store_model_output
from app.services.batch import common
from app.utils.crashpoints import crashpoint
from app.utils.holders import holder_id, is_dead_local_holder
from app.storage.base import StorageError

log = logging.getLogger(__name__)

LINES_PER_TRANSACTION = 200
RUNS_PER_TRANSACTION = 500
CLAIM_SECONDS = 600
MANIFEST_OUT = "manifest.json.out"
RECORDS_SUFFIX = ".jsonl.out"
MAX_MANIFEST_BYTES = 1024 * 1024
_RECORD_ID = re.compile(rb'"recordId"\s*:\s*"([^"\\]{1,64})"')

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


def ingest_ready_chunks(conn: sqlite3.Connection, services: Services, now: datetime | None = None, *,
                        force: bool = False, holder: str | None = None) -> dict[str, Any]:
    """Ingest every FETCHING chunk whose retry time has come (all of them with force)."""
    current = common.utc(now)
    outcome: dict[str, Any] = {"ingested": 0, "retrying": 0, "fetch_failed": 0, "skipped": 0}
    for chunk in batches_db.due_chunks(conn, "FETCHING", None if force else common.iso(current)):
        result = ingest_chunk(conn, services, chunk["id"], now=current, holder=holder)
        outcome[result["outcome"]] = outcome.get(result["outcome"], 0) + 1
    return outcome


def ingest_chunk(conn: sqlite3.Connection, services: Services, chunk_id: int, *, now: datetime | None = None,
                 holder: str | None = None) -> dict[str, Any]:
    """Claim one FETCHING chunk, read its whole output, store every record, then finish the chunk.

    Returns {"outcome": "ingested"|"retrying"|"fetch_failed"|"skipped", "status", "stats"}.
    """
    current = common.utc(now)
    holder = holder or holder_id()
    with transaction(conn):
        claimed = batches_db.claim_chunk_for_ingest(conn, chunk_id, holder, common.iso(current),
                                                    common.later(current, CLAIM_SECONDS))
        if not claimed:
            # A claim left by a killed process on this machine need not be waited out.
            previous = batches_db.get_chunk(conn, chunk_id)
            if previous is not None and is_dead_local_holder(previous["claimed_by"]):
                claimed = batches_db.steal_dead_claim(conn, chunk_id, previous["claimed_by"], holder,
                                                      common.later(current, CLAIM_SECONDS))
    if not claimed:
        return {"outcome": "skipped", "status": None, "stats": None}
    chunk = batches_db.get_chunk(conn, chunk_id)
    batch = batches_db.get_batch(conn, chunk["batch_id"])
    model = services.catalog.get(batch["model_key"])
    stats = IngestStats(attempt=chunk["results_fetch_attempts"] + 1)
    reader = _Reader(conn, services, chunk, model, holder, stats)
    try:
        manifest = reader.read_all()
        status = _finish(conn, chunk, holder, stats, manifest, current)
    except IngestInterrupted:
        log.warning("chunk %s: ingest claim lost to another worker", chunk_id)
        return {"outcome": "skipped", "status": chunk["status"], "stats": asdict(stats)}
    except Exception as exc:  # storage faults and anything unexpected: retried, then RESULT_FETCH_FAILED
        if not isinstance(exc, StorageError):
            log.exception("chunk %s: ingestion failed", chunk_id)
        return _fetch_failed(conn, services, chunk, holder, stats, exc, current)
    return {"outcome": "ingested", "status": status, "stats": asdict(stats)}


class _Reader:
    """Streams a chunk's output files and stores records LINES_PER_TRANSACTION at a time."""

    def __init__(self, conn: sqlite3.Connection, services: Services, chunk: sqlite3.Row, model: NovaModel,
                 holder: str, stats: IngestStats) -> None:
        self.conn = conn
        self.store = services.store
        self.chunk = chunk
        self.model = model
        self.holder = holder
        self.stats = stats
        self.seen: set[str] = set()
        self.cut_ids: set[str] = set()
        self.pending: list[tuple[str, int, str, dict | None]] = []

    def read_all(self) -> dict[str, Any] | None:
        prefix = f"{self.chunk['output_prefix']}{self.chunk['job_id']}/"
        objects = list(self.store.list(prefix))  # the store pages through the listing
        outputs = sorted((o for o in objects if o.key.endswith(RECORDS_SUFFIX)), key=lambda o: o.key)
        if not outputs and self.chunk["provider_status"] in ("Completed", "PartiallyCompleted"):
            # A finished job always leaves its answers: not finding them is a fault to retry, not
            # a reason to fail every record.
            raise StorageError(f"no {RECORDS_SUFFIX} files under {prefix}", code="OutputMissing", transient=True)
        for info in outputs:
            self._read_file(info.key, info.size)
        # A cut-off line fails its record only when no complete line for it came anywhere.
        for record_id in sorted(self.cut_ids - self.seen):
            self._queue(record_id, None)
        self._flush()
        manifest = next((o for o in objects if o.key.rsplit("/", 1)[-1] == MANIFEST_OUT), None)
        return self._read_manifest(manifest.key) if manifest is not None else None

    def _read_file(self, key: str, size: int) -> None:
        read = 0
        with self.store.open_read(key) as stream:
            for raw in stream:
                read += len(raw)
                self._line(raw)
                if len(self.pending) >= LINES_PER_TRANSACTION:
                    self._flush()
        if read < size:
            raise StorageError(f"reading {key} stopped after {read} of {size} bytes", code="IncompleteRead",
                               transient=True)
        self.stats.files += 1
        self.stats.bytes += read

    def _line(self, raw: bytes) -> None:
        stats = self.stats
        if not raw.strip():
            stats.blank_lines += 1
            return
        stats.lines += 1
        try:
            line = json.loads(raw)
        except ValueError:
            line = None
        if not isinstance(line, dict):
            stats.unparsable_lines += 1
            match = _RECORD_ID.search(raw)  # a cut-off line usually still names its record
            if match:
                self.cut_ids.add(match.group(1).decode("utf-8", "replace"))
            return
        record_id = line.get("recordId")
        if not isinstance(record_id, str):
            stats.unknown_records += 1
            return
        self._queue(record_id, line)

    def _queue(self, record_id: str, line: dict | None) -> None:
        parsed = analysis_db.parse_record_id(record_id)
        if parsed is None:
            self.stats.unknown_records += 1
            log.info("chunk %s: output names unknown record %r", self.chunk["id"], record_id[:64])
            return
        if record_id in self.seen:
            self.stats.duplicate_records += 1
            log.info("chunk %s: record %s appears more than once; first kept", self.chunk["id"], record_id)
            return
        self.seen.add(record_id)
        self.pending.append((record_id, parsed[0], parsed[1], line))

    def _flush(self) -> None:
        if not self.pending:
            return
        items, self.pending = self.pending, []
        runs = batches_db.runs_for_ingest(self.conn, sorted({run_id for _, run_id, _, _ in items}))
        stats = self.stats
        with transaction(self.conn):
            if not batches_db.renew_claim(self.conn, self.chunk["id"], self.holder,
                                          common.later(common.utc(), CLAIM_SECONDS)):
                raise IngestInterrupted()
            for record_id, run_id, analysis_type, line in items:
                run = runs.get(run_id)
                if run is None or run["chunk_id"] != self.chunk["id"] \
                        or analysis_type not in json.loads(run["analysis_types"]):
                    stats.unknown_records += 1
                    continue
                self._store(run, analysis_type, line)
        crashpoint("mid_ingest")

    def _store(self, run: sqlite3.Row, analysis_type: str, line: dict | None) -> None:
        stats, conn = self.stats, self.conn
        if line is None:
            if analysis_db.fail_result(conn, run["id"], analysis_type, code="unparsable_output",
                                       message="the job's output line for this record is not valid JSON"):
                stats.model_output_failed += 1
            return
        error = line.get("error")
        if error is not None:
            stats.error_lines += 1
            code, message = _provider_error(error)
            analysis_db.fail_result(conn, run["id"], analysis_type, code=code, message=message)
            return
        body = line.get("modelOutput")
        if not isinstance(body, dict):
            analysis_db.fail_result(conn, run["id"], analysis_type, code="invalid_output_line",
                                    message="the output line has neither modelOutput nor error")
            stats.model_output_failed += 1
            return
        changed = store_model_output(conn, run, analysis_type, body, model=self.model, batch=True,
                                     media_type=run["file_media_type"],
                                     duration_seconds=run["file_duration_seconds"])
        row = conn.execute("SELECT status FROM analysis_results WHERE run_id = ? AND analysis_type = ?",
                           (run["id"], analysis_type)).fetchone()
        if row is not None and row["status"] == "COMPLETED":
            if changed:
                stats.stored += 1
            else:
                stats.already_stored += 1  # an earlier read stored it: reading again changes nothing
        else:
            stats.model_output_failed += 1  # unparsable or invalid answer: only this record fails

    def _read_manifest(self, key: str) -> dict[str, Any] | None:
        with self.store.open_read(key) as stream:
            data = stream.read(MAX_MANIFEST_BYTES)
        self.stats.manifest_found = True
        try:
            manifest = json.loads(data)
        except ValueError:
            self.stats.manifest_mismatches["manifest"] = "manifest.json.out is not valid JSON"
            return None
        return manifest if isinstance(manifest, dict) else None


def _provider_error(error: Any) -> tuple[str, str]:
    """(code, message) from an output line's error object, read defensively."""
    if not isinstance(error, dict):
        return "provider_error", str(error)[:2000]
    code = error.get("errorCode", error.get("code"))
    message = error.get("errorMessage", error.get("message"))
    return (str(code) if code is not None else "provider_error",
            str(message) if message is not None else "the model returned an error for this record")


def _finish(conn: sqlite3.Connection, chunk: sqlite3.Row, holder: str, stats: IngestStats,
            manifest: dict[str, Any] | None, now: datetime) -> str:
    """Every line is stored: fail what never came back, roll runs up, and settle the chunk's status."""
    code, message = _MISSING_REASONS.get(chunk["provider_status"] or "",
                                         ("missing_output", "the job's output has no line for this record"))
    if chunk["failure_message"] and code != "missing_output":
        message = f"{message}: {chunk['failure_message']}"
    with transaction(conn):
        _check_claim(conn, chunk["id"], holder)
        stats.missing_records = batches_db.fail_pending_chunk_results(conn, chunk["id"], code=code, message=message)
    run_ids = batches_db.chunk_run_ids(conn, chunk["id"])
    for start in range(0, len(run_ids), RUNS_PER_TRANSACTION):
        with transaction(conn):  # short transactions: a big chunk never holds the write lock for long
            if not batches_db.renew_claim(conn, chunk["id"], holder, common.later(common.utc(), CLAIM_SECONDS)):
                raise IngestInterrupted()
            for run_id in run_ids[start:start + RUNS_PER_TRANSACTION]:
                analysis_db.finalize_run(conn, run_id)
    with transaction(conn):
        current = _check_claim(conn, chunk["id"], holder)
        totals = batches_db.chunk_result_totals(conn, chunk["id"])
        succeeded, failed = totals["COMPLETED"], totals["FAILED"]
        if manifest is not None:
            _compare_manifest(stats, manifest, chunk["records_total"], succeeded)
        # The one place a chunk becomes COMPLETED: every record above is stored or failed with a reason.
        status = "COMPLETED" if failed == 0 and succeeded > 0 else "PARTIAL" if succeeded > 0 else "FAILED"
        batches_db.update_chunk(
            conn, chunk["id"], expect_status=("FETCHING",), status=status, records_processed=succeeded + failed,
            records_succeeded=succeeded, records_failed=failed, input_tokens=totals["tokens_input"],
            output_tokens=totals["tokens_output"], actual_cost_usd=totals["cost_usd"],
            manifest_totals=json.dumps(manifest) if manifest is not None else None,
            ingest_stats=json.dumps(asdict(stats)), results_fetched_at=common.iso(now),
            completed_at=current["completed_at"] or common.iso(now), claimed_by=None, claimed_until=None,
            last_error=None, next_attempt_at=None)
    log.info("chunk %s ingested: %s (%d succeeded, %d failed, %d missing)", chunk["id"], status, succeeded, failed,
             stats.missing_records)
    return status


def _check_claim(conn: sqlite3.Connection, chunk_id: int, holder: str) -> sqlite3.Row:
    current = batches_db.get_chunk(conn, chunk_id)
    if current["status"] != "FETCHING" or current["claimed_by"] != holder:
        raise IngestInterrupted()
    return current


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


def _fetch_failed(conn: sqlite3.Connection, services: Services, chunk: sqlite3.Row, holder: str,
                  stats: IngestStats, exc: Exception, now: datetime) -> dict[str, Any]:
    """Keep the chunk FETCHING for a later try, or give up after BATCH_RESULT_FETCH_MAX_RETRIES."""
    attempts = chunk["results_fetch_attempts"] + 1
    error = f"reading results failed (attempt {attempts}): {exc}"[:2000]
    limit = services.settings.BATCH_RESULT_FETCH_MAX_RETRIES
    with transaction(conn):
        if attempts >= limit:
            if batches_db.update_chunk(conn, chunk["id"], expect_status=("FETCHING",), status="RESULT_FETCH_FAILED",
                                       results_fetch_attempts=attempts, last_error=error,
                                       ingest_stats=json.dumps(asdict(stats)), claimed_by=None, claimed_until=None):
                common.fail_chunk_runs(conn, chunk["id"], code="result_fetch_failed",
                                       message=f"the job's results could not be read after {attempts} attempts: {exc}")
            outcome, status = "fetch_failed", "RESULT_FETCH_FAILED"
        else:
            batches_db.update_chunk(conn, chunk["id"], expect_status=("FETCHING",), results_fetch_attempts=attempts,
                                    last_error=error, claimed_by=None, claimed_until=None,
                                    next_attempt_at=common.later(now, common.backoff_seconds(attempts)))
            outcome, status = "retrying", "FETCHING"
    log.warning("chunk %s: %s", chunk["id"], error)
    return {"outcome": outcome, "status": status, "stats": asdict(stats)}
