"""The background batch poller: the one component that talks to the service about batch jobs.

Every cycle takes a database lease first, so across processes (several workers, a CLI, a second
run.py) exactly one poller acts at a time; a holder that dies loses the lease when it expires.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from app.db import batches as batches_db
from app.db import jobs as jobs_db
from app.db import poller as poller_db
from app.db.connection import connect, transaction
from app.errors import Conflict, NotFound
from app.inference.base import InferenceError
from app.services import batch_cleanup
from app.services.analysis import Services
from app.services.batch import common
from app.services.batch.process import process_batches_once
from app.services.batch.submit import record_submission
from app.services.batch.tracking import JOB_NAME_PREFIX
from app.utils.holders import holder_id, is_dead_local_holder

log = logging.getLogger(__name__)

LEASE_NAME = "batch-poller"
LOST_JOB_GRACE_SECONDS = 60


class BatchPoller:
    """start()/stop() run a daemon thread that calls poll_once() every BATCH_POLLER_INTERVAL seconds."""

    def __init__(self, db_path: Path, services: Services, *, jobs: Any = None, holder: str | None = None,
                 lease_seconds: float | None = None):
        settings = services.settings
        self.db_path = db_path
        self.services = services
        self.jobs = jobs
        self.interval = settings.BATCH_POLLER_INTERVAL
        self.enabled = settings.BATCH_POLLER_ENABLED
        self.holder = holder or holder_id()
        # Long enough to cover one slow cycle; renewed at the start of every cycle.
        self.lease_seconds = lease_seconds or max(120.0, 3 * self.interval)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._reconciled = False

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> bool:
        """Start the loop thread; False when it already runs."""
        with self._lock:
            if self.running:
                return False
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="batch-poller", daemon=True)
            self._thread.start()
            return True

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop the loop (immediately between cycles); False when it was not running."""
        with self._lock:
            thread = self._thread
            if thread is None:
                return False
            self._stop.set()
            thread.join(timeout)
            if thread.is_alive():
                log.warning("batch poller did not stop within %.1fs", timeout)
            self._thread = None
        self.release_lease()
        return True

    def release_lease(self) -> None:
        """Give the lease up now so another process need not wait for it to expire."""
        conn = connect(self.db_path)
        try:
            poller_db.release_lease(conn, LEASE_NAME, self.holder)
        finally:
            conn.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # the loop must outlive any fault
                log.exception("batch poller cycle failed")
            if self._stop.wait(self.interval):
                break

    def poll_once(self, now: datetime | None = None, *, force: bool = False) -> dict[str, Any]:
        """One full cycle: submit, refresh, ingest, clean up, record stats. Returns what it did."""
        started = time.monotonic()
        current = common.utc(now)
        conn = connect(self.db_path)
        try:
            if not self._take_lease(conn):
                holder = poller_db.lease_holder(conn, LEASE_NAME, now=time.time())
                return {"skipped": True, "reason": f"another poller holds the lease ({holder})"}
            first = not self._reconciled
            outcome: dict[str, Any] = {"skipped": False, "reconciled": first}
            errors: list[str] = []
            if first:
                try:
                    outcome["adopted"] = self._adopt_orphans(conn, current)
                except InferenceError as exc:
                    errors.append(f"adopt: {exc}")
            if self.jobs is not None:
                outcome["restarted_jobs"] = self._restart_lost_jobs(conn)
            # The first cycle after start-up checks every unfinished chunk regardless of the interval.
            pipeline = process_batches_once(conn, self.services, current, force=force or first)
            outcome["pipeline"] = pipeline
            errors.extend(pipeline.get("errors", []))
            cleaned = 0
            if self.services.settings.BATCH_AUTO_CLEANUP:
                report = batch_cleanup.cleanup(conn, self.services.store, dry_run=False)
                cleaned = report.jobs_cleaned
                outcome["cleanup"] = report.to_dict()
                errors.extend(f"cleanup chunk {e['chunk_id']}: {e['message']}" for e in report.errors)
            self._reconciled = True
            for message in errors:
                poller_db.record_error(conn, message)
            submit = pipeline.get("submit") or {}
            refresh = pipeline.get("refresh") or {}
            ingest = pipeline.get("ingest") or {}
            poller_db.add_stats(
                conn, cycle_seconds=round(time.monotonic() - started, 3), polls_count=1,
                jobs_checked=refresh.get("checked", 0),
                jobs_submitted=submit.get("submitted", 0) + submit.get("healed", 0),
                jobs_completed=ingest.get("ingested", 0),
                jobs_failed=submit.get("failed", 0) + ingest.get("fetch_failed", 0),
                results_fetched=ingest.get("ingested", 0), cleanups_performed=cleaned,
            )
            outcome["errors"] = errors
            outcome["cycle_seconds"] = round(time.monotonic() - started, 3)
            return outcome
        except Exception as exc:
            log.exception("batch poller cycle failed")
            poller_db.record_error(conn, f"cycle: {exc}")
            raise
        finally:
            conn.close()

    def _take_lease(self, conn) -> bool:
        now = time.time()
        if poller_db.take_lease(conn, LEASE_NAME, self.holder, now=now, seconds=self.lease_seconds):
            return True
        # A holder on this machine whose process is gone (killed, crashed) need not be waited out.
        holder = poller_db.lease_holder(conn, LEASE_NAME, now=now)
        if is_dead_local_holder(holder):
            log.warning("taking over the poller lease from dead process %s", holder)
            return poller_db.steal_lease(conn, LEASE_NAME, holder, self.holder, now=now, seconds=self.lease_seconds)
        return False

    def _adopt_orphans(self, conn, now: datetime) -> int:
        """Jobs that exist under our names but whose ARN was never recorded (a crash after create)."""
        orphans = {c["job_name"]: c for c in batches_db.chunks_with_status(conn, ("QUEUED",)) if not c["job_arn"]}
        if not orphans:
            return 0
        oldest = min(common.utc(datetime.fromisoformat(c["created_at"])) for c in orphans.values())
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

    def _restart_lost_jobs(self, conn) -> int:
        """Staging or on-demand work whose job never started (a crash right after the submission was saved)."""
        restarted = 0
        # Only submissions older than a minute: a fresh one is still starting its own jobs.
        cutoff = (common.utc(None) - timedelta(seconds=LOST_JOB_GRACE_SECONDS)).isoformat()
        rows = conn.execute(
            "SELECT DISTINCT b.id, b.stage_job_id FROM bedrock_batch_jobs c JOIN batches b ON b.id = c.batch_id"
            " WHERE c.status = 'STAGING' AND b.cancel_requested = 0 AND b.created_at < ?", (cutoff,)).fetchall()
        for row in rows:
            job = jobs_db.get_job(conn, row["stage_job_id"]) if row["stage_job_id"] else None
            if job is None or job["status"] in jobs_db.TERMINAL_STATUSES:
                job_id = self.jobs.submit(conn, "batch_stage", {"batch_id": row["id"]})
                with transaction(conn):
                    batches_db.update_batch(conn, row["id"], stage_job_id=job_id)
                restarted += 1
        orphans = conn.execute(
            "SELECT r.batch_id, r.id FROM analysis_runs r JOIN batches b ON b.id = r.batch_id"
            " WHERE r.mode = 'on_demand' AND r.status = 'PENDING' AND r.job_id IS NULL AND b.cancel_requested = 0"
            " AND b.created_at < ?", (cutoff,)).fetchall()
        by_batch: dict[int, list[int]] = {}
        for row in orphans:
            by_batch.setdefault(row["batch_id"], []).append(row["id"])
        for batch_id, run_ids in by_batch.items():
            job_id = self.jobs.submit(conn, "analyze", {"run_ids": run_ids})
            with transaction(conn):
                conn.executemany("UPDATE analysis_runs SET job_id = ? WHERE id = ?", [(job_id, r) for r in run_ids])
                batches_db.update_batch(conn, batch_id, on_demand_job_id=job_id)
            restarted += 1
        return restarted

    def status(self) -> dict[str, Any]:
        settings = self.services.settings
        conn = connect(self.db_path)
        try:
            stats = poller_db.get_stats(conn)
            errors = poller_db.recent_errors(conn)
            holder = poller_db.lease_holder(conn, LEASE_NAME, now=time.time())
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


def retry_fetch(conn, chunk_id: int) -> dict[str, Any]:
    """Put a RESULT_FETCH_FAILED chunk back in line for ingestion, with a fresh retry budget."""
    chunk = batches_db.get_chunk(conn, chunk_id)
    if chunk is None:
        raise NotFound(f"chunk {chunk_id} not found", code="chunk_not_found", details={"chunk_id": chunk_id})
    if chunk["status"] != "RESULT_FETCH_FAILED":
        raise Conflict(f"chunk {chunk_id} is {chunk['status']}; only RESULT_FETCH_FAILED chunks can be retried",
                       code="not_retryable", details={"status": chunk["status"]})
    with transaction(conn):
        batches_db.update_chunk(conn, chunk_id, expect_status=("RESULT_FETCH_FAILED",), status="FETCHING",
                                results_fetch_attempts=0, next_attempt_at=None)
    return {"chunk_id": chunk_id, "status": "FETCHING"}
