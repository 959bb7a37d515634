"""Reading a finished job's output into analysis results; the only place a chunk becomes COMPLETED.

Output lines are joined to results by recordId (never by position), streamed one line at a time
from each `*.jsonl.out` under `<output prefix><job id>/`, and stored in batched transactions.
Storing is idempotent, so reading the same output again leaves the same rows.

Parsing and validating an answer costs several times what storing it does, so a big output is parsed
and validated by worker processes (see _LinePreparer) while this process reads the lines, looks up
their runs and does every database read and write, in file order; the runs are rolled up with a few
set-based statements at the end.
"""
from __future__ import annotations

import gc
import json
import logging
import mmap
import multiprocessing
import os
import re
import sqlite3
import threading
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from datetime import datetime
from multiprocessing import shared_memory
from typing import Any, Iterator

from app.db import analysis as analysis_db
from app.db import batches as batches_db
from app.db.connection import transaction
from app.nova.catalog import NovaModel
from app.services.analysis import PreparedOutput, Services, prepare_model_output, store_model_output
from app.services.batch import common
from app.storage.base import StorageError
from app.utils import fastjson
from app.utils.crashpoints import crashpoint
from app.utils.holders import holder_id, is_dead_local_holder
from app.utils.timeutil import now_iso

log = logging.getLogger(__name__)

LINES_PER_TRANSACTION = 200
RUNS_PER_TRANSACTION = 500
CLAIM_SECONDS = 600
MANIFEST_OUT = "manifest.json.out"
RECORDS_SUFFIX = ".jsonl.out"
MAX_MANIFEST_BYTES = 1024 * 1024

# Outputs this big are parsed and validated in worker processes while this one stores; smaller ones
# (a chunk of 150 files is a few MB) are not worth starting processes for.
PARALLEL_MIN_BYTES = 16 * 1024 * 1024
PARALLEL_WORKERS = min(os.cpu_count() or 1, 4)  # fewer than 2: everything in this process
LINES_PER_TASK = 100  # lines parsed and validated together (in one worker process when there are workers)
TASKS_AHEAD = 2  # batches of lines queued per worker
SLOT_INPUT_BYTES = 4 * 1024 * 1024  # shared memory for one batch of lines (bigger batches use the pipe)
SLOT_OUTPUT_BYTES = 2 * 1024 * 1024  # and for its encoded results (those that do not fit use the pipe)
_SLOT_BYTES = SLOT_INPUT_BYTES + SLOT_OUTPUT_BYTES
_MAX_CACHED_RUNS = 20 * LINES_PER_TASK
_SHM_DIR = "/dev/shm"  # where named shared memory lives on Linux (a small tmpfs in some containers)
_worker_shared: memoryview | None = None  # in a worker process: the memory shared with the ingesting one
_worker_segment: shared_memory.SharedMemory | None = None  # keeps a named segment open in a worker

_RECORD_ID = re.compile(rb'"recordId"\s*:\s*"([^"\\]{1,64})"')
# What an output line held, as the preparer reports it: a validated model answer (PreparedOutput), an
# answer still to validate (its body), a provider error, neither, a cut-off line (for its record, _CUT),
# a line that is not JSON, one without a recordId, or a blank line.
_BODY, _RAW_BODY, _ERROR, _INVALID, _CUT, _UNPARSABLE, _NO_RECORD_ID, _BLANK, _SHARED_BODY = range(9)

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
        self.pending: list[tuple[int, str, int, Any]] = []  # (run id, type, kind, payload)
        self.preparer: _LinePreparer | None = None
        self.runs: dict[int, sqlite3.Row] = {}  # runs named by lines read but not yet stored
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
        with _LinePreparer(PARALLEL_WORKERS if total >= PARALLEL_MIN_BYTES else 0) as self.preparer:
            for info in outputs:
                self._read_file(info.key, info.size)
        # A cut-off line fails its record only when no complete line for it came anywhere.
        for record_id in sorted(self.cut_ids - self.seen):
            self._queue(record_id, _CUT, None)
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
                if len(lines) >= LINES_PER_TASK:
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
        self.runs.update(batches_db.runs_for_ingest(self.conn, sorted({p[0] for p in parsed if p is not None})))
        runs = self.runs
        contexts: list[_Context | None] = []
        for hint, ids in zip(hints, parsed):
            run = runs.get(ids[0]) if ids is not None else None
            if run is None or not self._accepts(run, ids[1]):
                contexts.append(None)
                continue
            contexts.append((hint, ids[1], run["file_media_type"], run["file_duration_seconds"],
                             self._options(run["options"])))
        for batch in self.preparer.submit(lines, contexts, hints):
            self._take(*batch)

    def _accepts(self, run: sqlite3.Row, analysis_type: str) -> bool:
        """Whether a record of this run and type belongs to this chunk."""
        if run["chunk_id"] != self.chunk["id"]:
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
            if kind == _BLANK:
                stats.blank_lines += 1
                continue
            stats.lines += 1
            if kind == _UNPARSABLE:
                stats.unparsable_lines += 1
                if hint is not None:  # a cut-off line usually still names its record
                    self.cut_ids.add(hint)
            elif kind == _NO_RECORD_ID:
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
        self.pending.append((parsed[0], parsed[1], kind, payload))

    def _flush(self) -> None:
        if not self.pending:
            return
        items, self.pending = self.pending, []
        run_ids = sorted({run_id for run_id, _, _, _ in items})
        # Most runs were read when their lines were handed to the preparer.
        runs = {run_id: self.runs.pop(run_id) for run_id in run_ids if run_id in self.runs}
        if len(runs) < len(run_ids):
            runs.update(batches_db.runs_for_ingest(self.conn, [run_id for run_id in run_ids if run_id not in runs]))
        stats, chunk_id = self.stats, self.chunk["id"]
        known: list[tuple[sqlite3.Row, str, int, Any]] = []
        for run_id, analysis_type, kind, payload in items:
            run = runs.get(run_id)
            if run is None:
                stats.unknown_records += 1
                continue
            if not self._accepts(run, analysis_type):
                stats.unknown_records += 1
                continue
            if kind == _RAW_BODY:  # a line whose recordId was not where the preparer looked: validate it here
                kind, payload = _BODY, prepare_model_output(
                    payload, analysis_type, media_type=run["file_media_type"],
                    duration_seconds=run["file_duration_seconds"], options=self._options(run["options"]))
            known.append((run, analysis_type, kind, payload))
        with transaction(self.conn):
            if not batches_db.renew_claim(self.conn, chunk_id, self.holder, common.later(common.utc(), CLAIM_SECONDS)):
                raise IngestInterrupted()
            statuses = batches_db.result_statuses(self.conn, run_ids)
            stamp = now_iso()
            for run, analysis_type, kind, payload in known:
                self._store(run, analysis_type, kind, payload, statuses, stamp)
        crashpoint("mid_ingest")

    def _store(self, run: sqlite3.Row, analysis_type: str, kind: int, payload: Any,
               statuses: dict[tuple[int, str], str], stamp: str) -> None:
        """Store or fail one record and count it; `statuses` (read in this transaction) is kept current."""
        stats, conn = self.stats, self.conn
        key = (run["id"], analysis_type)
        if kind == _BODY:
            prepared: PreparedOutput = payload
            # The body was parsed and validated already (prepared); it is not kept, so None stands for it.
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
        if kind == _ERROR:
            stats.error_lines += 1
            code, message = _provider_error(payload)
        elif kind == _INVALID:
            stats.model_output_failed += 1
            code, message = "invalid_output_line", "the output line has neither modelOutput nor error"
        else:  # _CUT
            code, message = "unparsable_output", "the job's output line for this record is not valid JSON"
        if analysis_db.fail_result(conn, run["id"], analysis_type, code=code, message=message):
            statuses[key] = "FAILED"
            if kind == _CUT:
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


# What validating a line's answer needs, from the recordId found in the raw line:
# (that recordId, analysis type, media type, duration, run options).
_Context = tuple[str, str, str, "float | None", dict]


def _prepare_line(raw: bytes, context: _Context | None) -> tuple:
    """One output line decoded and, when its recordId is the one `context` was made for, its answer
    parsed and validated. Pure (no database), so it can run in a worker process."""
    if not raw or raw.isspace():
        return (_BLANK,)
    try:
        line = fastjson.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: hostile nesting must fail its line, not the chunk
        line = None
    if not isinstance(line, dict):
        return (_UNPARSABLE,)
    record_id = line.get("recordId")
    if not isinstance(record_id, str):
        return (_NO_RECORD_ID,)
    # Keep only what storing needs (not the echoed modelInput): a provider error, else the body.
    error = line.get("error")
    if error is not None:
        return (_ERROR, record_id, error)
    body = line.get("modelOutput")
    if not isinstance(body, dict):
        return (_INVALID, record_id, None)
    if context is None or context[0] != record_id:
        return (_RAW_BODY, record_id, body)
    _, analysis_type, media_type, duration, options = context
    return (_BODY, record_id, prepare_model_output(body, analysis_type, media_type=media_type,
                                                   duration_seconds=duration, options=options))


def _prepare_lines(lines: list[bytes], contexts: list[_Context | None]) -> list[tuple]:
    """_prepare_line for a batch of lines (the unit of work sent to a worker process)."""
    return [_prepare_line(raw, context) for raw, context in zip(lines, contexts)]


class _SharedArea:
    """Memory shared with the workers: anonymous when they are forked from this process, a named
    segment when the fork server starts them (its children do not inherit this process's mappings)."""

    def __init__(self, size: int, *, named: bool) -> None:
        self._map: mmap.mmap | None = None
        self._segment: shared_memory.SharedMemory | None = None
        if named:
            self._segment = shared_memory.SharedMemory(create=True, size=size)
            self.view = self._segment.buf
            self.handle: mmap.mmap | str = self._segment.name  # the workers open it by name
        else:
            self._map = mmap.mmap(-1, size)
            self.view = memoryview(self._map)
            self.handle = self._map  # inherited as it is by forked workers

    def close(self) -> None:
        self.view.release()
        if self._segment is not None:
            self._segment.close()
            self._segment.unlink()
        if self._map is not None:
            self._map.close()


def _room_for_named_memory(size: int) -> bool:
    """Whether /dev/shm has room for `size` bytes twice over: a write past a full tmpfs kills the
    process with SIGBUS, and Docker's default /dev/shm holds only 64 MB."""
    try:
        stats = os.statvfs(_SHM_DIR)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize >= 2 * size


class _LinePreparer:
    """Runs _prepare_lines in worker processes (with `workers` > 1) or in this process, in file order.

    Workers only parse and validate; every database read and write stays in the ingesting process, so
    storing, counting and idempotency are the same either way. Batches of lines go to the workers, and
    encoded results come back, through memory shared with them (a slot per batch in flight): a message of
    a megabyte through a pipe costs a context switch per 64 KB, which kept the workers waiting about a
    sixth of the time. A batch or result too big for its slot goes through the pipe instead, as does
    everything when no shared memory can be had. A pool that cannot start or that breaks (a worker
    killed, say) is dropped and its batches are prepared here.
    """

    def __init__(self, workers: int) -> None:
        self.pool: ProcessPoolExecutor | None = None
        self.shared: _SharedArea | None = None
        self.inflight: deque[tuple[list[bytes] | list[int], int | None, list[_Context | None], list[str | None],
                                   Future | None]] = deque()
        self.limit = TASKS_AHEAD * workers  # enough queued to keep every worker busy; bounds memory
        self.free_slots: list[int] = []
        context = _pool_context() if workers > 1 else None
        if context is None:
            return
        forked = context.get_start_method() == "fork"
        slots = list(range(self.limit + 1))
        # Frozen objects are never scanned by the collector, so forked workers do not copy every page of
        # the heap they inherit just by collecting garbage (they stay mostly shared with this process).
        # A heap someone else froze is left as it is.
        freeze = forked and gc.get_freeze_count() == 0
        if freeze:
            gc.freeze()
        try:
            size = len(slots) * _SLOT_BYTES
            if forked or _room_for_named_memory(size):
                try:
                    self.shared = _SharedArea(size, named=not forked)
                    self.free_slots = slots
                except OSError as exc:  # no shared memory here: everything goes through the pipe
                    log.info("ingest: no shared memory for the workers (%s); using pipes", exc)
            self.pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                            initargs=(self.shared.handle if self.shared is not None else None,))
            self.pool.submit(int)  # starts the workers now (forked from the frozen heap)
        except Exception as exc:  # no processes here (sandbox, limits): prepare in this process
            self._drop_pool(exc)
        finally:
            if freeze:
                gc.unfreeze()

    def __enter__(self) -> "_LinePreparer":
        return self

    def __exit__(self, exc_type: type | None, *exc_info: Any) -> None:
        self.inflight.clear()
        if self.pool is not None:
            # After an error the workers are left to finish in the background: waiting could hang if the
            # pool itself is what failed.
            self.pool.shutdown(wait=exc_type is None, cancel_futures=True)
            self.pool = None
        if self.shared is not None:
            self.shared.close()
            self.shared = None

    def submit(self, lines: list[bytes], contexts: list[_Context | None],
               hints: list[str | None]) -> Iterator[tuple[list[tuple], list[str | None]]]:
        """Queue a batch; yields (outcomes, hints) of the batches that must be taken now, oldest first."""
        if self.pool is None:
            yield _prepare_lines(lines, contexts), hints
            return
        slot, future = None, None
        size = sum(map(len, lines))
        if self.free_slots and size <= SLOT_INPUT_BYTES:
            slot = self.free_slots.pop()
            base = at = slot * _SLOT_BYTES
            ends = []
            view = self.shared.view
            for raw in lines:
                view[at:at + len(raw)] = raw
                at += len(raw)
                ends.append(at - base)
            batch: list[bytes] | list[int] = ends
        else:
            batch = lines
        try:
            if slot is None:
                future = self.pool.submit(_prepare_lines, lines, contexts)
            else:
                future = self.pool.submit(_prepare_shared, slot, batch, contexts)
        except (BrokenProcessPool, RuntimeError) as exc:
            self._drop_pool(exc)
        self.inflight.append((batch, slot, contexts, hints, future))
        while len(self.inflight) > self.limit or (self.inflight and self.pool is None):
            yield self._oldest()

    def drain(self) -> Iterator[tuple[list[tuple], list[str | None]]]:
        while self.inflight:
            yield self._oldest()

    def _oldest(self) -> tuple[list[tuple], list[str | None]]:
        batch, slot, contexts, hints, future = self.inflight.popleft()
        outcomes = None
        if future is not None and self.pool is not None:
            try:
                outcomes = future.result()
            except BrokenProcessPool as exc:
                self._drop_pool(exc)
        if slot is None:
            return (outcomes if outcomes is not None else _prepare_lines(batch, contexts)), hints
        shared = self.shared.view
        if outcomes is None:  # the pool broke: prepare the slot's lines here
            base, start, lines = slot * _SLOT_BYTES, 0, []
            for end in batch:
                lines.append(bytes(shared[base + start:base + end]))
                start = end
            outcomes = _prepare_lines(lines, contexts)
        else:
            for i, outcome in enumerate(outcomes):
                if outcome[0] == _SHARED_BODY:
                    _, record_id, prepared, at, size = outcome
                    outcomes[i] = (_BODY, record_id,
                                   prepared._replace(result_json=str(shared[at:at + size], "utf-8")))
        self.free_slots.append(slot)
        return outcomes, hints

    def _drop_pool(self, exc: BaseException) -> None:
        log.warning("ingest: worker processes unavailable or failed (%s); parsing in this process", exc)
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None


def _init_worker(handle: mmap.mmap | str | None) -> None:
    """In a worker: open the memory shared with the ingesting process (an inherited map, or a named
    segment when the worker comes from the fork server)."""
    global _worker_shared, _worker_segment
    # Nothing the worker inherited needs collecting: frozen, it is never scanned, so its pages stay
    # shared with the process the worker was forked from instead of being copied by the collector.
    gc.freeze()
    if isinstance(handle, str):
        _worker_segment = shared_memory.SharedMemory(name=handle)
        _worker_shared = _worker_segment.buf
    elif handle is not None:
        _worker_shared = memoryview(handle)


def _prepare_shared(slot: int, ends: list[int], contexts: list[_Context | None]) -> list[tuple]:
    """_prepare_lines for a batch written into shared memory slot `slot` (line i ends at ends[i]).

    Each encoded result that fits is written to the slot's output area and reported as
    (_SHARED_BODY, record id, the PreparedOutput without result_json, offset, length).
    """
    shared = _worker_shared
    base = slot * _SLOT_BYTES
    at, limit = base + SLOT_INPUT_BYTES, base + _SLOT_BYTES
    outcomes = []
    start = 0
    for end, context in zip(ends, contexts):
        outcome = _prepare_line(bytes(shared[base + start:base + end]), context)
        start = end
        if outcome[0] == _BODY and outcome[2].ok:
            try:
                data = outcome[2].result_json.encode("utf-8")
            except UnicodeEncodeError:  # not storable text anyway: let the ingesting process report it
                data = None
            if data is not None and at + len(data) <= limit:
                shared[at:at + len(data)] = data
                outcome = (_SHARED_BODY, outcome[1], outcome[2]._replace(result_json=None), at, len(data))
                at += len(data)
        outcomes.append(outcome)
    return outcomes


def _pool_context() -> multiprocessing.context.BaseContext | None:
    """How to start the workers: fork this process when that is safe, else the fork server; None when
    neither exists here (prepare in this process).

    Forking is safe only while this process has no other threads: a lock another thread holds at the
    moment of the fork stays held forever in the child. The server, whose poller is a thread, uses
    multiprocessing's fork server instead: a clean single-threaded process started once (about half a
    second, on the first big output) with this module already imported, which forks the workers of every
    later ingestion in a few milliseconds. It lives as long as this process.
    """
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])  # used when the server starts; harmless later
        return context
    return None


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
            analysis_db.finalize_runs(conn, run_ids[start:start + RUNS_PER_TRANSACTION])
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
