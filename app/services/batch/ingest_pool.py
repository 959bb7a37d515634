"""Parsing and validating batch output lines in worker processes while the ingesting process stores them.

Workers only parse and validate; every database read and write stays in the ingesting process, so
storing, counting and idempotency are the same with or without them. This module is what the fork
server preloads, so it imports only what workers need.
"""
from __future__ import annotations

import gc
import logging
import mmap
import multiprocessing
import os
import threading
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import shared_memory
from typing import Any, Iterator

from app.services.analysis import prepare_model_output
from app.utils import fastjson

log = logging.getLogger(__name__)

# Outputs this big are parsed and validated in worker processes while the ingesting one stores; smaller
# ones (a chunk of 150 files is a few MB) are not worth starting processes for.
PARALLEL_MIN_BYTES = 16 * 1024 * 1024
PARALLEL_WORKERS = min(os.cpu_count() or 1, 4)  # fewer than 2: everything in the ingesting process
LINES_PER_TASK = 100  # lines parsed and validated together (in one worker process when there are workers)
TASKS_AHEAD = 2  # batches of lines queued per worker
SLOT_INPUT_BYTES = 4 * 1024 * 1024  # shared memory for one batch of lines (bigger batches use the pipe)
SLOT_OUTPUT_BYTES = 2 * 1024 * 1024  # and for its encoded results (those that do not fit use the pipe)
_SLOT_BYTES = SLOT_INPUT_BYTES + SLOT_OUTPUT_BYTES
_SHM_DIR = "/dev/shm"  # where named shared memory lives on Linux (a small tmpfs in some containers)
_worker_shared: memoryview | None = None  # in a worker process: the memory shared with the ingesting one
_worker_segment: shared_memory.SharedMemory | None = None  # keeps a named segment open in a worker

# What an output line held, as the preparer reports it: a validated model answer (PreparedOutput), an
# answer still to validate (its body), a provider error, neither, a cut-off line (for its record, CUT),
# a line that is not JSON, one without a recordId, or a blank line.
BODY, RAW_BODY, ERROR, INVALID, CUT, UNPARSABLE, NO_RECORD_ID, BLANK, _SHARED_BODY = range(9)


# What validating a line's answer needs, from the recordId found in the raw line:
# (that recordId, analysis type, media type, duration, run options).
Context = tuple[str, str, str, "float | None", dict]


def _prepare_line(raw: bytes, context: Context | None) -> tuple:
    """One output line decoded and, when its recordId is the one `context` was made for, its answer
    parsed and validated. Pure (no database), so it can run in a worker process."""
    if not raw or raw.isspace():
        return (BLANK,)
    try:
        line = fastjson.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: hostile nesting must fail its line, not the chunk
        line = None
    if not isinstance(line, dict):
        return (UNPARSABLE,)
    record_id = line.get("recordId")
    if not isinstance(record_id, str):
        return (NO_RECORD_ID,)
    # Keep only what storing needs (not the echoed modelInput): a provider error, else the body.
    error = line.get("error")
    if error is not None:
        return (ERROR, record_id, error)
    body = line.get("modelOutput")
    if not isinstance(body, dict):
        return (INVALID, record_id, None)
    if context is None or context[0] != record_id:
        return (RAW_BODY, record_id, body)
    _, analysis_type, media_type, duration, options = context
    return (BODY, record_id, prepare_model_output(body, analysis_type, media_type=media_type,
                                                   duration_seconds=duration, options=options))


def prepare_lines(lines: list[bytes], contexts: list[Context | None]) -> list[tuple]:
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


class LinePreparer:
    """Runs prepare_lines in worker processes (with `workers` > 1) or in this process, in file order.

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
        self.inflight: deque[tuple[list[bytes] | list[int], int | None, list[Context | None], list[str | None],
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

    def __enter__(self) -> "LinePreparer":
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

    def submit(self, lines: list[bytes], contexts: list[Context | None],
               hints: list[str | None]) -> Iterator[tuple[list[tuple], list[str | None]]]:
        """Queue a batch; yields (outcomes, hints) of the batches that must be taken now, oldest first."""
        if self.pool is None:
            yield prepare_lines(lines, contexts), hints
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
                future = self.pool.submit(prepare_lines, lines, contexts)
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
            return (outcomes if outcomes is not None else prepare_lines(batch, contexts)), hints
        shared = self.shared.view
        if outcomes is None:  # the pool broke: prepare the slot's lines here
            base, start, lines = slot * _SLOT_BYTES, 0, []
            for end in batch:
                lines.append(bytes(shared[base + start:base + end]))
                start = end
            outcomes = prepare_lines(lines, contexts)
        else:
            for i, outcome in enumerate(outcomes):
                if outcome[0] == _SHARED_BODY:
                    _, record_id, prepared, at, size = outcome
                    outcomes[i] = (BODY, record_id,
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


def _prepare_shared(slot: int, ends: list[int], contexts: list[Context | None]) -> list[tuple]:
    """prepare_lines for a batch written into shared memory slot `slot` (line i ends at ends[i]).

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
        if outcome[0] == BODY and outcome[2].ok:
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
