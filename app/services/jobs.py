"""Background jobs: persisted in the database, run in a bounded pool, resumed after a restart."""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from app.db import jobs as jobs_db
from app.db.connection import connect, transaction
from app.errors import Conflict, NotFound
from app.utils.timeutil import parse_iso, utcnow

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.25


class JobCancelled(Exception):
    """Raised inside a handler when the user cancelled its job."""


class JobInterrupted(Exception):
    """Raised inside a handler when the app is shutting down; the job resumes at next start."""


class JobContext:
    """What a running job handler uses to report progress and learn of cancellation."""

    def __init__(self, conn: sqlite3.Connection, job_id: str, stopping: threading.Event):
        self.conn = conn
        self.job_id = job_id
        self._stopping = stopping
        self.total: int | None = None
        self.done = 0
        self.counters: dict[str, Any] = {}
        self.current_item: str | None = None
        self.partial = 0.0
        self._pending_failures: list[tuple[str, str]] = []
        self._last_flush = 0.0
        self._lock = threading.Lock()

    def set_total(self, total: int) -> None:
        with self._lock:
            self.total = total
        self.flush()

    def set_current(self, item: str | None, partial: float = 0.0) -> None:
        with self._lock:
            self.current_item = item
            self.partial = partial
        self._maybe_flush()

    def count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self.counters[name] = self.counters.get(name, 0) + amount
        self._maybe_flush()

    def advance(self, amount: int = 1, **counts: int) -> None:
        """Mark items done and bump named counters."""
        with self._lock:
            self.done += amount
            self.partial = 0.0
            for name, value in counts.items():
                self.counters[name] = self.counters.get(name, 0) + value
        self._maybe_flush()

    def fail_item(self, item: str, reason: str) -> None:
        with self._lock:
            self._pending_failures.append((item, reason))
            self.counters["failed"] = self.counters.get("failed", 0) + 1
        self._maybe_flush()

    def check(self) -> None:
        """Raise if the job should stop now (between items)."""
        if self._stopping.is_set():
            raise JobInterrupted()
        if jobs_db.is_cancel_requested(self.conn, self.job_id):
            raise JobCancelled()

    def should_stop(self) -> bool:
        try:
            self.check()
        except (JobCancelled, JobInterrupted):
            return True
        return False

    def _maybe_flush(self) -> None:
        if time.monotonic() - self._last_flush >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            failures, self._pending_failures = self._pending_failures, []
            snapshot = (self.total, self.done, dict(self.counters), self.current_item)
            self._last_flush = time.monotonic()
        with transaction(self.conn):
            jobs_db.update_progress(
                self.conn, self.job_id, total=snapshot[0], done=snapshot[1], counters=snapshot[2],
                current_item=snapshot[3],
            )
            if failures:
                jobs_db.add_failures(self.conn, self.job_id, failures)


Handler = Callable[[JobContext, dict], "dict | None"]


class JobRunner:
    """Runs registered job kinds in a bounded thread pool; every job is a database row."""

    def __init__(self, db_path: Path, workers: int = 2):
        self.db_path = db_path
        self.workers = workers
        self._handlers: dict[str, Handler] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def register(self, kind: str, handler: Handler) -> None:
        self._handlers[kind] = handler

    def start(self) -> None:
        """Start the pool and resume jobs that a previous process left unfinished."""
        with self._lock:
            if self._executor is not None:
                return
            self._stopping.clear()
            self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="job")
        conn = connect(self.db_path)
        try:
            unfinished = jobs_db.list_unfinished(conn)
        finally:
            conn.close()
        for row in unfinished:
            if row["kind"] in self._handlers:
                log.info("resuming %s job %s", row["kind"], row["id"])
                self._executor.submit(self._run, row["id"])

    def stop(self, timeout: float = 10.0) -> None:
        """Ask running jobs to stop between items; they resume at the next start."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is None:
            return
        self._stopping.set()
        deadline = time.monotonic() + timeout
        executor.shutdown(wait=False, cancel_futures=True)
        for thread in list(getattr(executor, "_threads", ())):
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("job thread %s did not stop within %.1fs", thread.name, timeout)

    def submit(self, conn: sqlite3.Connection, kind: str, params: dict[str, Any]) -> str:
        """Record a QUEUED job and schedule it; returns its id."""
        if kind not in self._handlers:
            raise ValueError(f"unknown job kind {kind!r}")
        job_id = uuid.uuid4().hex
        jobs_db.insert_job(conn, job_id, kind, params)
        if self._executor is None:
            self.start()
        assert self._executor is not None
        self._executor.submit(self._run, job_id)
        return job_id

    def cancel(self, conn: sqlite3.Connection, job_id: str) -> None:
        row = jobs_db.get_job(conn, job_id)
        if row is None:
            raise NotFound(f"job {job_id} not found", details={"job_id": job_id})
        if row["status"] not in jobs_db.ACTIVE_STATUSES:
            raise Conflict(f"job {job_id} is already {row['status']}", details={"status": row["status"]})
        if not jobs_db.cancel_if_queued(conn, job_id):
            jobs_db.request_cancel(conn, job_id)

    def wait(self, job_id: str, timeout: float = 60.0) -> sqlite3.Row:
        """Block until the job is terminal (tests and CLI use it)."""
        conn = connect(self.db_path)
        try:
            deadline = time.monotonic() + timeout
            while True:
                row = jobs_db.get_job(conn, job_id)
                if row is not None and row["status"] in jobs_db.TERMINAL_STATUSES:
                    return row
                if time.monotonic() > deadline:
                    raise TimeoutError(f"job {job_id} still {row['status'] if row else 'missing'}")
                time.sleep(0.05)
        finally:
            conn.close()

    def _run(self, job_id: str) -> None:
        conn = connect(self.db_path)
        try:
            row = jobs_db.get_job(conn, job_id)
            if row is None or not jobs_db.mark_running(conn, job_id):
                return
            handler = self._handlers[row["kind"]]
            ctx = JobContext(conn, job_id, self._stopping)
            # Resumed jobs keep their counters so progress never jumps backwards.
            ctx.counters = json.loads(row["counters"] or "{}")
            try:
                result = handler(ctx, json.loads(row["params"]))
            except JobCancelled:
                ctx.flush()
                jobs_db.finish_job(conn, job_id, "CANCELLED", result=ctx.counters)
            except JobInterrupted:
                ctx.flush()
                log.info("job %s interrupted by shutdown; it resumes at next start", job_id)
            except Exception as exc:  # a handler bug must not kill the worker thread
                log.exception("job %s failed", job_id)
                ctx.flush()
                jobs_db.finish_job(conn, job_id, "FAILED", result=ctx.counters, error=str(exc) or type(exc).__name__)
            else:
                ctx.flush()
                jobs_db.finish_job(conn, job_id, "SUCCEEDED", result=result if result is not None else ctx.counters)
        finally:
            conn.close()


def job_to_dict(conn: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    """The API shape of a job, with progress and an ETA."""
    counters = json.loads(row["counters"] or "{}")
    total = row["total"]
    done = row["done"]
    percent = 0.0
    if row["status"] == "SUCCEEDED":
        percent = 100.0
    elif total:
        percent = min(100.0, 100.0 * done / total)
    eta = None
    started = parse_iso(row["started_at"])
    if row["status"] == "RUNNING" and started and total and done:
        elapsed = (utcnow() - started).total_seconds()
        eta = round(elapsed / done * (total - done), 1)
    failures = [{"item": f["item"], "reason": f["reason"]} for f in jobs_db.list_failures(conn, row["id"])]
    body: dict[str, Any] = {
        "id": row["id"],
        "job_id": row["id"],
        "kind": row["kind"],
        "status": row["status"],
        "total": total,
        "done": done,
        "progress_percent": round(percent, 1),
        "eta_seconds": eta,
        "current_item": row["current_item"],
        "counters": counters,
        "failed": failures,
        "failed_count": counters.get("failed", 0),
        "error": row["error"],
        "cancel_requested": bool(row["cancel_requested"]),
        "params": json.loads(row["params"] or "{}"),
        "result": json.loads(row["result"]) if row["result"] else None,
        "created_at": row["created_at"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
    }
    for name in ("imported", "skipped_existing", "skipped_unsupported", "moved", "generated", "skipped"):
        if name in counters or row["kind"] == "import":
            body.setdefault(name, counters.get(name, 0))
    return body
