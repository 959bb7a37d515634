"""One pass of the batch pipeline: submit, then refresh, then ingest, then roll submissions up."""
from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any, Callable

from app.services.batch.ingest import ingest_ready_chunks
from app.services.batch.status import refresh_unfinished_batches
from app.services.batch.submit import submit_queued_chunks
from app.services.batch.tracking import refresh_active_chunks
from app.services.context import Services
from app.services.pass_steps import check_status_checks, run_steps
from app.utils.clock import utc


def process_batches_once(conn: sqlite3.Connection, services: Services, now: datetime | None = None, *,
                         force: bool = False, status_checks: str = "due") -> dict[str, Any]:
    """Run every step once at `now`; a step that raises is logged and the later steps still run.

    force ignores BATCH_CHECK_INTERVAL and retry back-off (the CLI's --wait and tests use it).
    status_checks: "due" asks the provider about chunks not checked for BATCH_CHECK_INTERVAL, "all" about
    every running chunk (the provider said a job changed), "none" skips asking (a wake-up for local work).
    """
    check_status_checks(status_checks)
    current = utc(now)
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("submit", lambda: submit_queued_chunks(conn, services, current, force=force)),
        ("ingest", lambda: ingest_ready_chunks(conn, services, current, force=force)),
        ("batches", lambda: refresh_unfinished_batches(conn, current)),
    ]
    if status_checks != "none":
        steps.insert(1, ("refresh", lambda: refresh_active_chunks(conn, services, current,
                                                                  force=force or status_checks == "all")))
    return run_steps(steps, pipeline="batch")
