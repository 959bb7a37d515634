"""Reading a finished job's output into analysis results; the only place a chunk becomes COMPLETED.

Output lines are joined to results by recordId (never by position), streamed one line at a time
from each `*.jsonl.out` under `<output prefix><job id>/`, and stored in batched transactions.
Storing is idempotent, so reading the same output again leaves the same rows. A segment's record (a
segmented run, app/db/segments.py) is accepted only from the chunk its segment belongs to; when the last
answer of a (run, type) is stored, its merge task is queued in the same transaction.

Parsing and validating an answer costs several times what storing it does, so a big output is parsed
and validated by worker processes (see LinePreparer) while this process reads the lines, looks up
their runs and does every database read and write, in file order; the runs are rolled up with a few
set-based statements at the end.
"""
from __future__ import annotations

import json
import logging
import re
import sqlite3
from dataclasses import asdict
from datetime import datetime
from typing import Any

from app.db import analysis as analysis_db
from app.db import batches as batches_db
from app.db import chunks as chunks_db
from app.db import segments as segments_db
from app.db import transaction
from app.nova.catalog import NovaModel
from app.services.analysis import PreparedOutput, prepare_model_output, store_model_output
from app.services.batch import ingest_pool
from app.services.batch.settle import (CLAIM_SECONDS, IngestInterrupted, IngestStats, fetch_failed,
                                       finish_chunk)
from app.services.batch.ingest_pool import (BLANK, BODY, CUT, ERROR, INVALID, NO_RECORD_ID, RAW_BODY, UNPARSABLE,
                                            Context, LinePreparer)
from app.services.context import Services
from app.services.segments.records import queue_merges, store_answer
from app.storage.base import StorageError
from app.utils import leases
from app.utils.clock import Clock, iso
from app.utils.crashpoints import crashpoint
from app.utils.holders import holder_id

log = logging.getLogger(__name__)

LINES_PER_TRANSACTION = 200
MANIFEST_OUT = "manifest.json.out"
RECORDS_SUFFIX = ".jsonl.out"
MAX_MANIFEST_BYTES = 1024 * 1024

_MAX_CACHED_RUNS = 20 * ingest_pool.LINES_PER_TASK

_RECORD_ID = re.compile(rb'"recordId"\s*:\s*"([^"\\]{1,64})"')


def ingest_ready_chunks(conn: sqlite3.Connection, services: Services, now: datetime, *,
                        force: bool = False, holder: str | None = None) -> dict[str, Any]:
    """Ingest every FETCHING chunk whose retry time has come (all of them with force)."""
    outcome: dict[str, Any] = {"ingested": 0, "retrying": 0, "fetch_failed": 0, "skipped": 0, "failures": []}
    for chunk in chunks_db.due_chunks(conn, "FETCHING", None if force else now):
        result = ingest_chunk(conn, services, chunk["id"], now=now, holder=holder)
        outcome[result["outcome"]] = outcome.get(result["outcome"], 0) + 1
        if result["outcome"] == "fetch_failed":
            reason = chunks_db.get_chunk(conn, chunk["id"])["last_error"]
            outcome["failures"].append(f"chunk {chunk['id']}: {reason}")
    return outcome


def ingest_chunk(conn: sqlite3.Connection, services: Services, chunk_id: int, *, now: datetime | None = None,
                 holder: str | None = None) -> dict[str, Any]:
    """Claim one FETCHING chunk, read its whole output, store every record, then finish the chunk.

    Returns {"outcome": "ingested"|"retrying"|"fetch_failed"|"skipped", "status", "stats"}.
    """
    clock = Clock(now)
    holder = holder or holder_id()
    with transaction(conn):
        claimed = leases.claim(conn, chunks_db.INGEST_CLAIMS, chunk_id, holder, clock.start, CLAIM_SECONDS)
    if not claimed:
        return {"outcome": "skipped", "status": None, "stats": None}
    chunk = chunks_db.get_chunk(conn, chunk_id)
    batch = batches_db.get_batch(conn, chunk["batch_id"])
    model = services.catalog.get(batch["model_key"])
    stats = IngestStats(attempt=chunk["results_fetch_attempts"] + 1)
    reader = _Reader(conn, services, chunk, model, holder, stats, clock)
    try:
        manifest = reader.read_all()
        status = finish_chunk(conn, chunk, holder, stats, manifest, clock)
    except IngestInterrupted:
        log.warning("chunk %s: ingest claim lost to another worker", chunk_id)
        return {"outcome": "skipped", "status": chunk["status"], "stats": asdict(stats)}
    except Exception as exc:  # storage faults and anything unexpected: retried, then RESULT_FETCH_FAILED
        if not isinstance(exc, StorageError):
            log.exception("chunk %s: ingestion failed", chunk_id)
        return fetch_failed(conn, services, chunk, stats, exc, clock.now())
    services.tasks.wake()  # merges the ingestion queued (segmented runs) start now in this process
    return {"outcome": "ingested", "status": status, "stats": asdict(stats)}


class _Reader:
    """Streams a chunk's output files and stores records LINES_PER_TRANSACTION at a time."""

    def __init__(self, conn: sqlite3.Connection, services: Services, chunk: sqlite3.Row, model: NovaModel,
                 holder: str, stats: IngestStats, clock: Clock) -> None:
        self.conn = conn
        self.clock = clock
        self.store = services.store
        self.chunk = chunk
        self.model = model
        self.holder = holder
        self.stats = stats
        self.seen: set[str] = set()
        self.cut_ids: set[str] = set()
        self.pending: list[tuple[int, str, int | None, int, Any]] = []  # (run id, type, segment, kind, payload)
        self.preparer: LinePreparer | None = None
        self.runs: dict[int, sqlite3.Row] = {}  # runs named by lines read but not yet stored
        self.segments: dict[tuple[int, int], sqlite3.Row] = {}  # (run id, segment index): bounds and chunk
        self._types_of: dict[str, list[str]] = {}
        self._options_of: dict[str | None, dict] = {}

    def read_all(self) -> dict[str, Any] | None:
        prefix = f"{self.chunk['output_prefix']}{self.chunk['job_id']}/"
        objects = list(self.store.list(prefix))  # the store pages through the listing
        outputs = sorted((o for o in objects if o.key.endswith(RECORDS_SUFFIX)), key=lambda o: o.key)
        if not outputs and self.chunk["provider_status"] in ("Completed", "PartiallyCompleted"):
            # A finished job always leaves its answers: not finding them is a fault to retry, not
            # a reason to fail every record.
            raise StorageError(f"no {RECORDS_SUFFIX} files under {prefix}", code="OutputMissing", transient=True)
        total = sum(o.size or 0 for o in outputs)
        workers = ingest_pool.PARALLEL_WORKERS if total >= ingest_pool.PARALLEL_MIN_BYTES else 0
        with LinePreparer(workers) as self.preparer:
            for info in outputs:
                self._read_file(info.key, info.size)
        # A cut-off line fails its record only when no complete line for it came anywhere.
        for record_id in sorted(self.cut_ids - self.seen):
            self._queue(record_id, CUT, None)
        self._flush()
        manifest = next((o for o in objects if o.key.rsplit("/", 1)[-1] == MANIFEST_OUT), None)
        return self._read_manifest(manifest.key) if manifest is not None else None

    def _read_file(self, key: str, size: int) -> None:
        read = 0
        lines: list[bytes] = []
        with self.store.open_read(key) as stream:
            for raw in stream:
                read += len(raw)
                lines.append(raw)
                if len(lines) >= ingest_pool.LINES_PER_TASK:
                    self._submit(lines)
                    lines = []
        if lines:
            self._submit(lines)
        for batch in self.preparer.drain():
            self._take(*batch)
        if read < size:
            raise StorageError(f"reading {key} stopped after {read} of {size} bytes", code="IncompleteRead",
                               transient=True)
        self.stats.files += 1
        self.stats.bytes += read

    def _submit(self, lines: list[bytes]) -> None:
        """Hand a batch of lines to the preparer with what validating each one needs; store what is ready."""
        hints: list[str | None] = []
        for raw in lines:
            # Usually the line's own recordId (checked against the decoded line before it is trusted).
            match = _RECORD_ID.search(raw)
            hints.append(match.group(1).decode("utf-8", "replace") if match else None)
        parsed = [analysis_db.parse_record_id(hint) if hint is not None else None for hint in hints]
        if len(self.runs) > _MAX_CACHED_RUNS:
            self.runs.clear()  # runs of lines that were never stored (duplicates, unknown ids)
            self.segments.clear()
        self.runs.update(chunks_db.runs_for_ingest(self.conn, sorted({p[0] for p in parsed if p is not None})))
        self._load_segments(p for p in parsed if p is not None)
        runs = self.runs
        contexts: list[Context | None] = []
        for hint, ids in zip(hints, parsed):
            run = runs.get(ids[0]) if ids is not None else None
            if run is None or not self._accepts(run, ids[1], ids[2]):
                contexts.append(None)
                continue
            contexts.append((hint, ids[1], run["file_media_type"], self._duration(run, ids[2]),
                             self._options(run["options"])))
        for batch in self.preparer.submit(lines, contexts, hints):
            self._take(*batch)

    def _load_segments(self, refs: Any) -> None:
        """Read the segments that segment records name, unless known already."""
        wanted = {(ref[0], ref[2]) for ref in refs if ref[2] is not None} - self.segments.keys()
        if wanted:
            self.segments.update(segments_db.segments_for_ingest(self.conn, wanted))

    def _duration(self, run: sqlite3.Row, segment: int | None) -> float | None:
        """What a record's times are clamped to: the file's duration, or its segment's."""
        if segment is None:
            return run["file_duration_seconds"]
        row = self.segments[(run["id"], segment)]
        return row["end_seconds"] - row["start_seconds"]

    def _accepts(self, run: sqlite3.Row, analysis_type: str, segment: int | None = None) -> bool:
        """Whether a record of this run and type (and segment) belongs to this chunk: a segmented run's records
        are its segments', each accepted only from the chunk that carries its segment."""
        if segment is None:
            if run["chunk_id"] != self.chunk["id"] or run["segment_seconds"] is not None:
                return False
        else:
            row = self.segments.get((run["id"], segment))
            if row is None or row["chunk_id"] != self.chunk["id"]:
                return False
        types = self._types_of.get(run["analysis_types"])
        if types is None:
            types = self._types_of[run["analysis_types"]] = json.loads(run["analysis_types"])
        return analysis_type in types

    def _options(self, raw: str | None) -> dict:
        options = self._options_of.get(raw)
        if options is None:
            options = self._options_of[raw] = json.loads(raw) if raw else {}
        return options

    def _take(self, outcomes: list[tuple], hints: list[str | None]) -> None:
        """Count and queue prepared lines in file order; store whenever a transaction's worth is queued."""
        stats = self.stats
        for outcome, hint in zip(outcomes, hints):
            kind = outcome[0]
            if kind == BLANK:
                stats.blank_lines += 1
                continue
            stats.lines += 1
            if kind == UNPARSABLE:
                stats.unparsable_lines += 1
                if hint is not None:  # a cut-off line usually still names its record
                    self.cut_ids.add(hint)
            elif kind == NO_RECORD_ID:
                stats.unknown_records += 1
            else:
                self._queue(outcome[1], kind, outcome[2])
                if len(self.pending) >= LINES_PER_TRANSACTION:
                    self._flush()

    def _queue(self, record_id: str, kind: int, payload: Any) -> None:
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
        self.pending.append((parsed[0], parsed[1], parsed[2], kind, payload))

    def _flush(self) -> None:
        if not self.pending:
            return
        items, self.pending = self.pending, []
        run_ids = sorted({item[0] for item in items})
        # Most runs were read when their lines were handed to the preparer.
        runs = {run_id: self.runs.pop(run_id) for run_id in run_ids if run_id in self.runs}
        if len(runs) < len(run_ids):
            runs.update(chunks_db.runs_for_ingest(self.conn, [run_id for run_id in run_ids if run_id not in runs]))
        self._load_segments(item[:3] for item in items)
        stats, chunk_id = self.stats, self.chunk["id"]
        known: list[tuple[sqlite3.Row, str, int | None, int, Any]] = []
        for run_id, analysis_type, segment, kind, payload in items:
            run = runs.get(run_id)
            if run is None or not self._accepts(run, analysis_type, segment):
                stats.unknown_records += 1
                continue
            if kind == RAW_BODY:  # a line whose recordId was not where the preparer looked: validate it here
                kind, payload = BODY, prepare_model_output(
                    payload, analysis_type, media_type=run["file_media_type"],
                    duration_seconds=self._duration(run, segment), options=self._options(run["options"]))
            known.append((run, analysis_type, segment, kind, payload))
        segmented = sorted({run["id"] for run, _, segment, _, _ in known if segment is not None})
        with transaction(self.conn):
            now = self.clock.now()
            if not leases.claim(self.conn, chunks_db.INGEST_CLAIMS, chunk_id, self.holder, now, CLAIM_SECONDS):
                raise IngestInterrupted()
            statuses = chunks_db.result_statuses(self.conn, run_ids)
            if segmented:
                statuses.update(segments_db.result_statuses(self.conn, segmented))
            stamp = iso(now)
            for run, analysis_type, segment, kind, payload in known:
                self._store(run, analysis_type, segment, kind, payload, statuses, stamp)
            if segmented:
                # The last answer of a (run, type) queues its merge here, in the transaction that stored it.
                queue_merges(self.conn, segmented, now)
        crashpoint("mid_ingest")

    def _store(self, run: sqlite3.Row, analysis_type: str, segment: int | None, kind: int, payload: Any,
               statuses: dict[tuple, str], stamp: str) -> None:
        """Store or fail one record and count it; `statuses` (read in this transaction) is kept current."""
        stats, conn = self.stats, self.conn
        key: tuple = (run["id"], analysis_type) if segment is None else (run["id"], analysis_type, segment)
        if kind == BODY:
            prepared: PreparedOutput = payload
            # The body was parsed and validated already (prepared); it is not kept, so None stands for it.
            if segment is not None:
                changed = store_answer(conn, run["id"], analysis_type, segment, prepared, model=self.model,
                                       batch=True, completed_at=stamp)
            else:
                changed = store_model_output(conn, run, analysis_type, None, model=self.model, batch=True,
                                             media_type=run["file_media_type"],
                                             duration_seconds=run["file_duration_seconds"], prepared=prepared,
                                             completed_at=stamp)
            if changed:
                statuses[key] = "COMPLETED" if prepared.ok else "FAILED"
            if statuses.get(key) == "COMPLETED":
                if changed:
                    stats.stored += 1
                else:
                    stats.already_stored += 1  # an earlier read stored it: reading again changes nothing
            else:
                stats.model_output_failed += 1  # unparsable or invalid answer: only this record fails
            return
        if kind == ERROR:
            stats.error_lines += 1
            code, message = _provider_error(payload)
        elif kind == INVALID:
            stats.model_output_failed += 1
            code, message = "invalid_output_line", "the output line has neither modelOutput nor error"
        else:  # CUT
            code, message = "unparsable_output", "the job's output line for this record is not valid JSON"
        if segment is not None:
            failed = segments_db.fail_result(conn, run["id"], analysis_type, segment, code=code, message=message,
                                             now=self.clock.now())
        else:
            failed = analysis_db.fail_result(conn, run["id"], analysis_type, code=code, message=message,
                                             now=self.clock.now())
        if failed:
            statuses[key] = "FAILED"
            if kind == CUT:
                stats.model_output_failed += 1

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


