"""The background batch poller: the one component that talks to the service about batch jobs.

Every cycle takes a database lease first, so across processes (several servers on one database) exactly
one poller acts at a time; a holder that dies loses the lease at once on this machine, elsewhere when it
runs out. Every BATCH_POLLER_INTERVAL seconds a full cycle asks the provider about running jobs; a wake-up
(app/services/signals.py: a chunk ready to submit, a submission to roll up) runs a cycle at once without
asking the provider anything, and only a provider that says a job changed (the local engine) makes the
next cycle check every running job. So the interval alone governs the status calls sent to AWS.
"""
from __future__ import annotations

import logging
import sqlite3
import time
from datetime import datetime, timedelta
from typing import Any

from app.db import batches as batches_db
from app.db import chunks as chunks_db
from app.db import poller as poller_db
from app.db import tasks as tasks_db
from app.db import transaction
from app.errors import Conflict, NotFound
from app.inference.base import InferenceError
from app.services.analysis import start_on_demand
from app.services.batch import cleanup
from app.services.pipeline import provider_pipelines
from app.services.batch.submit import record_submission
from app.services.batch.tracking import JOB_NAME_PREFIX
from app.services.context import Services
from app.services.signals import BATCH, PROVIDER, WORK
from app.utils.background import BackgroundWorker
from app.utils.clock import parse_iso, utc
from app.utils.holders import holder_id
from app.utils.sqlite import connect

log = logging.getLogger(__name__)

LEASE_NAME = "batch-poller"
LOST_TASK_GRACE_SECONDS = 60
WAKE_CHECK_SECONDS = 1.0  # how often the loop looks for wake-ups left by other processes


class BatchPoller(BackgroundWorker):
    """start()/stop() a daemon thread that runs run_once() every BATCH_POLLER_INTERVAL seconds."""

    def __init__(self, services: Services, *, holder: str | None = None, lease_seconds: float | None = None):
        settings = services.settings
        super().__init__(name="batch-poller", interval=settings.BATCH_POLLER_INTERVAL, tick=WAKE_CHECK_SECONDS)
        self.db_path = settings.DATABASE_PATH
        self.services = services
        self.enabled = settings.BATCH_POLLER_ENABLED
        self.holder = holder or holder_id()
        # Long enough to cover one slow cycle; renewed at the start of every cycle.
        self.lease_seconds = lease_seconds or max(120.0, 3 * self.interval)
        self._reconciled = False
        self._seen: dict[str, int] | None = None  # wake-up counters as of the last look
        services.signals.listen(BATCH, self.wake)

    def pending(self) -> set[str]:
        """Reasons other processes (or this one) signalled since the last look."""
        conn = connect(self.db_path)
        try:
            counters = self.services.signals.counters(conn, BATCH, (WORK, PROVIDER))
        finally:
            conn.close()
        seen, self._seen = self._seen, counters
        if seen is None:
            return set()  # the first cycle checks everything anyway
        return {reason for reason, count in counters.items() if count != seen[reason]}

    def step(self, reasons: set[str], timed: bool) -> None:
        """A full cycle on the interval; at once, without status calls, when woken by local work."""
        if timed or PROVIDER in reasons:
            self.run_once(status_checks="all" if PROVIDER in reasons else "due")
        else:
            self.run_once(status_checks="none")

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop the loop (immediately between cycles) and give the lease up; False when it was not running."""
        stopped = super().stop(timeout)
        if stopped:
            self.release_lease()
        return stopped

    def release_lease(self) -> None:
        """Give the lease up now so another process need not wait for it to run out."""
        conn = connect(self.db_path)
        try:
            poller_db.release_lease(conn, LEASE_NAME, self.holder)
        finally:
            conn.close()

    def run_once(self, now: datetime | None = None, *, force: bool = False,
                 status_checks: str = "due") -> dict[str, Any]:
        """One cycle at `now`: submit, ask about running jobs (see process_batches_once), ingest, clean up,
        record stats. Returns what it did."""
        started = time.monotonic()
        current = utc(now)
        conn = connect(self.db_path)
        try:
            with transaction(conn):
                leased = poller_db.take_lease(conn, LEASE_NAME, self.holder, current, self.lease_seconds)
            if not leased:
                holder = poller_db.lease_holder(conn, LEASE_NAME, current)
                return {"skipped": True, "reason": f"another poller holds the lease ({holder})"}
            outcome = self._cycle(conn, current, force=force, status_checks=status_checks)
            outcome["cycle_seconds"] = round(time.monotonic() - started, 3)
            _record_stats(conn, outcome, current)
            return outcome
        except Exception as exc:
            log.exception("batch poller cycle failed")
            poller_db.record_error(conn, f"cycle: {exc}", current)
            raise
        finally:
            conn.close()

    def _cycle(self, conn: sqlite3.Connection, now: datetime, *, force: bool, status_checks: str) -> dict[str, Any]:
        first = not self._reconciled
        outcome: dict[str, Any] = {"skipped": False, "reconciled": first}
        errors: list[str] = []
        if first:
            try:
                outcome["adopted"] = self._adopt_orphans(conn, now)
            except InferenceError as exc:
                errors.append(f"adopt: {exc}")
        outcome["restarted_tasks"] = restart_lost_work(conn, self.services, now)
        # The first cycle after start-up checks every unfinished job regardless of the interval.
        outcome["pipelines"] = {}
        for name, run_pipeline in provider_pipelines().items():
            done = run_pipeline(conn, self.services, now, force=force or first,
                                status_checks="due" if first else status_checks)
            outcome["pipelines"][name] = done
            errors.extend(done.get("errors", []))
            for step in ("submit", "refresh", "ingest"):  # jobs that failed for good, with the reason
                errors.extend((done.get(step) or {}).get("failures", []))
        outcome["pipeline"] = outcome["pipelines"]["batch"]
        if self.services.settings.BATCH_AUTO_CLEANUP:
            report = cleanup.cleanup(conn, self.services.store, dry_run=False, now=now)
            outcome["cleanup"] = report.to_dict()
            errors.extend(f"cleanup chunk {e['chunk_id']}: {e['message']}" for e in report.errors)
        self._reconciled = True
        outcome["errors"] = errors
        return outcome

    def _adopt_orphans(self, conn: sqlite3.Connection, now: datetime) -> int:
        """Jobs that exist under our names but whose ARN was never recorded (a crash after create)."""
        orphans = {c["job_name"]: c for c in chunks_db.chunks_with_status(conn, ("QUEUED",)) if not c["job_arn"]}
        if not orphans:
            return 0
        oldest = min(parse_iso(c["created_at"]) for c in orphans.values())
        adopted = 0
        for info in self.services.backend.list_batch_jobs(name_contains=JOB_NAME_PREFIX,
                                                          submitted_after=oldest - timedelta(hours=1)):
            chunk = orphans.pop(info.name, None)
            if chunk is None:
                continue
            if info.client_token and info.client_token != chunk["client_token"]:
                continue
            record_submission(conn, chunk["id"], info.job_arn, now, provider_status=info.status)
            log.info("adopted job %s for chunk %s", info.job_arn, chunk["id"])
            adopted += 1
        return adopted

    def status(self) -> dict[str, Any]:
        settings = self.services.settings
        conn = connect(self.db_path)
        try:
            stats = poller_db.get_stats(conn)
            errors = poller_db.recent_errors(conn)
            holder = poller_db.lease_holder(conn, LEASE_NAME, utc())
        finally:
            conn.close()
        return {
            **{name: stats.get(name, 0) for name in poller_db.STAT_COUNTERS},
            "last_poll_time": stats.get("last_poll_time"),
            "last_cycle_seconds": stats.get("last_cycle_seconds"),
            "errors": errors,
            "running": self.running,
            "enabled": self.enabled,
            "poll_interval": self.interval,
            "batch_check_interval": settings.BATCH_CHECK_INTERVAL,
            "auto_cleanup": settings.BATCH_AUTO_CLEANUP,
            "lease_holder": holder,
            "holder": self.holder,
        }


def _record_stats(conn: sqlite3.Connection, outcome: dict[str, Any], now: datetime) -> None:
    """Add one cycle's counts to the shared stats and keep its errors."""
    for message in outcome["errors"]:
        poller_db.record_error(conn, message, now)
    def total(step: str, *keys: str) -> int:
        return sum((done.get(step) or {}).get(key, 0) for done in outcome["pipelines"].values() for key in keys)

    poller_db.add_stats(
        conn, now, cycle_seconds=outcome["cycle_seconds"], polls_count=1,
        jobs_checked=total("refresh", "checked"), jobs_submitted=total("submit", "submitted", "healed"),
        jobs_completed=total("ingest", "ingested"),
        jobs_failed=total("submit", "failed") + total("refresh", "failed") + total("ingest", "fetch_failed"),
        results_fetched=total("ingest", "ingested"),
        cleanups_performed=(outcome.get("cleanup") or {}).get("jobs_cleaned", 0),
    )


def restart_lost_work(conn: sqlite3.Connection, services: Services, now: datetime) -> int:
    """Staging whose task ended with chunks still to stage, and on-demand runs no task runs (data written
    before tasks were recorded with their submission); only submissions older than a minute."""
    cutoff = now - timedelta(seconds=LOST_TASK_GRACE_SECONDS)
    restarted = 0
    for row in chunks_db.stale_staging_batches(conn, cutoff):
        task = tasks_db.get_task(conn, row["stage_task_id"]) if row["stage_task_id"] else None
        if task is None or task["status"] in tasks_db.TERMINAL_STATUSES:
            with transaction(conn):
                task_id = services.tasks.enqueue(conn, "batch_stage", {"batch_id": row["id"]}, now)
                batches_db.update_batch(conn, row["id"], now, stage_task_id=task_id)
            services.tasks.wake()
            restarted += 1
    by_batch: dict[int, list[int]] = {}
    for row in batches_db.orphaned_on_demand_runs(conn, cutoff):
        by_batch.setdefault(row["batch_id"], []).append(row["id"])
    for batch_id, run_ids in by_batch.items():
        start_on_demand(services, conn, run_ids, batch_id=batch_id)
        restarted += 1
    return restarted


def retry_fetch(conn: sqlite3.Connection, services: Services, chunk_id: int) -> dict[str, Any]:
    """Put a RESULT_FETCH_FAILED chunk back in line for ingestion, with a fresh retry budget."""
    chunk = chunks_db.get_chunk(conn, chunk_id)
    if chunk is None:
        raise NotFound(f"chunk {chunk_id} not found", code="chunk_not_found", details={"chunk_id": chunk_id})
    if chunk["status"] != "RESULT_FETCH_FAILED":
        raise Conflict(f"chunk {chunk_id} is {chunk['status']}; only RESULT_FETCH_FAILED chunks can be retried",
                       code="not_retryable", details={"status": chunk["status"]})
    with transaction(conn):
        chunks_db.update_chunk(conn, chunk_id, utc(), expect_status=("RESULT_FETCH_FAILED",), status="FETCHING",
                               results_fetch_attempts=0, next_attempt_at=None)
    services.signals.notify(BATCH)
    return {"chunk_id": chunk_id, "status": "FETCHING"}
