"""Background tasks: imports, proxies, analyses and staging, each a database row run by a TaskRunner.

A task is claimed by the process that runs it (app/utils/leases.py), so a task whose process died is
resumed by the next runner, and two processes never run the same task. Handlers report progress through
a TaskContext and stop between items when cancelled or when the app shuts down.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from app.db import tasks as tasks_db
from app.errors import Conflict, NotFound
from app.utils import leases
from app.utils.background import BackgroundWorker
from app.utils.clock import Clock, parse_iso, utc, utcnow
from app.utils.holders import holder_id
from app.utils.sqlite import connect, transaction

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.25
CLAIM_SECONDS = 120.0
# How often the runner renews its claims and looks for tasks other processes left; new tasks of this
# process wake it at once.
INTERVAL_SECONDS = 10.0


class TaskCancelled(Exception):
    """Raised inside a handler when the user cancelled its task."""


class TaskInterrupted(Exception):
    """Raised inside a handler when the app is shutting down; the task resumes at the next start."""


class TaskContext:
    """What a running task handler uses to report progress and learn of cancellation."""

    def __init__(self, conn: sqlite3.Connection, task_id: str, stopping: threading.Event,
                 on_flush: Callable[["TaskContext"], None] | None = None):
        self.conn = conn
        self.task_id = task_id
        self._stopping = stopping
        self._on_flush = on_flush
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
        """Raise if the task should stop now (between items)."""
        if self._stopping.is_set():
            raise TaskInterrupted()
        if tasks_db.is_cancel_requested(self.conn, self.task_id):
            raise TaskCancelled()

    def should_stop(self) -> bool:
        try:
            self.check()
        except (TaskCancelled, TaskInterrupted):
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
        now = utcnow()
        with transaction(self.conn):
            tasks_db.update_progress(self.conn, self.task_id, total=snapshot[0], done=snapshot[1],
                                     counters=snapshot[2], current_item=snapshot[3], now=now)
            if failures:
                tasks_db.add_failures(self.conn, self.task_id, failures, now)
        if self._on_flush is not None:
            self._on_flush(self)


Handler = Callable[[TaskContext, dict], "dict | None"]
# What a finished task leads to: (kind, params) of the tasks to start next, from its params and result.
FollowUps = Callable[[dict, dict], "list[tuple[str, dict]]"]


class TaskRunner(BackgroundWorker):
    """Runs registered task kinds, `workers` at a time, each in its own thread; every task is a row."""

    def __init__(self, db_path: Path, workers: int = 2, *, holder: str | None = None) -> None:
        super().__init__(name="task-runner", interval=INTERVAL_SECONDS, slots=workers)
        self.db_path = db_path
        self.holder = holder or holder_id()
        self._handlers: dict[str, Handler] = {}
        self._follow_ups: dict[str, FollowUps] = {}

    def register(self, kind: str, handler: Handler, *, then: FollowUps | None = None) -> None:
        self._handlers[kind] = handler
        if then is not None:
            self._follow_ups[kind] = then

    def enqueue(self, conn: sqlite3.Connection, kind: str, params: dict[str, Any],
                now: datetime | None = None) -> str:
        """Record a QUEUED task (in the caller's transaction, if any); call wake() once it is committed."""
        if kind not in self._handlers:
            raise ValueError(f"unknown task kind {kind!r}")
        task_id = uuid.uuid4().hex
        tasks_db.insert_task(conn, task_id, kind, params, utc(now))
        return task_id

    def submit(self, conn: sqlite3.Connection, kind: str, params: dict[str, Any]) -> str:
        """Record a QUEUED task and start it as soon as a worker is free; returns its id."""
        task_id = self.enqueue(conn, kind, params)
        self.wake()
        return task_id

    def cancel(self, conn: sqlite3.Connection, task_id: str) -> None:
        row = tasks_db.get_task(conn, task_id)
        if row is None:
            raise NotFound(f"task {task_id} not found", code="task_not_found", details={"task_id": task_id})
        if row["status"] not in tasks_db.ACTIVE_STATUSES:
            raise Conflict(f"task {task_id} is already {row['status']}", details={"status": row["status"]})
        now = utcnow()
        if not tasks_db.cancel_if_queued(conn, task_id, now):
            tasks_db.request_cancel(conn, task_id, now)

    def run_once(self, now: datetime | None = None) -> list[str]:
        """Renew this runner's claims, then start claimable tasks while workers are free; their ids.

        Not started, the runner runs them here, one after another, follow-ups included."""
        clock = Clock(now)
        started: list[str] = []
        conn = connect(self.db_path)
        try:
            with transaction(conn):
                leases.renew_all(conn, tasks_db.CLAIMS, self.holder, clock.start, CLAIM_SECONDS)
                leases.free_dead_claims(conn, tasks_db.CLAIMS, clock.start)
            while len(self.busy()) < self.slots and not self.stopping.is_set():
                with transaction(conn):
                    task_id = leases.claim_next(conn, tasks_db.CLAIMS, self.holder, clock.now(), CLAIM_SECONDS,
                                                order_by="created_at, rowid", exclude=self.busy() | set(started))
                if task_id is None:
                    break
                started.append(task_id)
                self.spawn(task_id, lambda task_id=task_id: self._execute(task_id))
        finally:
            conn.close()
        return started

    def run_in_foreground(self, conn: sqlite3.Connection, task_id: str, *,
                          on_flush: Callable[[TaskContext], None] | None = None) -> sqlite3.Row:
        """Run one recorded task in this thread (the CLI's way), its follow-ups left to the caller; Ctrl-C
        cancels it. A task another process already runs is followed until it ends. Its final row."""
        with transaction(conn):
            claimed = leases.claim(conn, tasks_db.CLAIMS, task_id, self.holder, utcnow(), CLAIM_SECONDS)
        if not claimed:
            return self._follow(conn, task_id)
        try:
            self._execute(task_id, conn=conn, on_flush=on_flush, enqueue_follow_ups=False)
        except KeyboardInterrupt:
            tasks_db.finish_task(conn, task_id, "CANCELLED", utcnow(), error="interrupted")
            raise
        return tasks_db.get_task(conn, task_id)

    def _follow(self, conn: sqlite3.Connection, task_id: str) -> sqlite3.Row:
        """Wait for a task run elsewhere (or already over) to end."""
        while True:
            row = tasks_db.get_task(conn, task_id)
            if row is None or row["status"] in tasks_db.TERMINAL_STATUSES:
                return row
            self.stopping.wait(0.2)

    def follow_ups(self, kind: str, params: dict, result: dict) -> list[tuple[str, dict]]:
        """The tasks a finished task of this kind leads to."""
        chain = self._follow_ups.get(kind)
        return chain(params, result) if chain is not None else []

    def _execute(self, task_id: str, *, conn: sqlite3.Connection | None = None,
                 on_flush: Callable[[TaskContext], None] | None = None, enqueue_follow_ups: bool = True) -> None:
        own = conn is None
        conn = conn or connect(self.db_path)
        try:
            row = tasks_db.get_task(conn, task_id)
            if row is None or not tasks_db.mark_running(conn, task_id, utcnow()):
                return
            ctx = TaskContext(conn, task_id, self.stopping, on_flush)
            # Resumed tasks keep their counters so progress never jumps backwards.
            ctx.counters = json.loads(row["counters"] or "{}")
            params = json.loads(row["params"])
            self._run_handler(ctx, row["kind"], params, enqueue_follow_ups)
        finally:
            if own:
                conn.close()

    def _run_handler(self, ctx: TaskContext, kind: str, params: dict, enqueue_follow_ups: bool) -> None:
        conn, task_id = ctx.conn, ctx.task_id
        try:
            result = self._handlers[kind](ctx, params)
        except TaskCancelled:
            ctx.flush()
            tasks_db.finish_task(conn, task_id, "CANCELLED", utcnow(), result=ctx.counters)
        except TaskInterrupted:
            ctx.flush()
            leases.release(conn, tasks_db.CLAIMS, task_id, self.holder)
            log.info("task %s interrupted by shutdown; it resumes at the next start", task_id)
        except Exception as exc:  # a handler bug must not kill the worker thread
            log.exception("task %s failed", task_id)
            ctx.flush()
            tasks_db.finish_task(conn, task_id, "FAILED", utcnow(), result=ctx.counters,
                                 error=str(exc) or type(exc).__name__)
        else:
            ctx.flush()
            result = dict(result if result is not None else ctx.counters)
            with transaction(conn):
                if enqueue_follow_ups:
                    for next_kind, next_params in self.follow_ups(kind, params, result):
                        result[f"{next_kind}_task_id"] = self.enqueue(conn, next_kind, next_params)
                tasks_db.finish_task(conn, task_id, "SUCCEEDED", utcnow(), result=result)
            if enqueue_follow_ups:
                self.wake()


def task_to_dict(conn: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    """The API shape of a task, with progress and an ETA."""
    counters = json.loads(row["counters"] or "{}")
    total, done = row["total"], row["done"]
    percent = 100.0 if row["status"] == "SUCCEEDED" else min(100.0, 100.0 * done / total) if total else 0.0
    eta = None
    started = parse_iso(row["started_at"])
    if row["status"] == "RUNNING" and started and total and done:
        elapsed = (utcnow() - started).total_seconds()
        eta = round(elapsed / done * (total - done), 1)
    failures = [{"item": f["item"], "reason": f["reason"]} for f in tasks_db.list_failures(conn, row["id"])]
    body: dict[str, Any] = {
        "id": row["id"],
        "task_id": row["id"],
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


def list_tasks(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """GET /api/tasks: the latest tasks, newest first."""
    return [task_to_dict(conn, row) for row in tasks_db.list_tasks(conn)]


def get_task(conn: sqlite3.Connection, task_id: str) -> dict[str, Any]:
    """GET /api/tasks/<id>: one task; 404 when unknown."""
    row = tasks_db.get_task(conn, task_id)
    if row is None:
        raise NotFound(f"task {task_id} not found", code="task_not_found", details={"task_id": task_id})
    return task_to_dict(conn, row)
