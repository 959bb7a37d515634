"""When a running chunk is expected to finish: its queue wait plus its records at this model's pace.

The pace comes from the model's own history in the database (the latest jobs that ran to the end: queue wait
= started - submitted, records per minute = records / (completed - started)); before there is any, from the
documented defaults below. Every estimate is a range: earliest (best case of the history), expected (its
median) and latest (its worst case), never later than the job's own expiry.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from app.db import chunks as chunks_db
from app.utils.clock import iso, parse_iso

HISTORY_JOBS = 20
LOCAL_MODEL_IDS = frozenset({"local-analyzer"})
ACTIVE = ("SUBMITTED", "IN_PROGRESS")


@dataclass(frozen=True)
class Pace:
    """(best, typical, worst) queue wait in seconds and records per minute, and where they come from."""

    queue_seconds: tuple[float, float, float]
    records_per_minute: tuple[float, float, float]
    basis: str


# Bedrock batch has no SLA: jobs queue first come, first served and typically finish within hours, best
# effort within 24 hours (docs/bedrock-facts.md §5 Quotas). Until this model has finished a job here, a job
# is expected to start within 3 hours (15 minutes at best, 20 at worst) and run 50 records a minute (200-10).
BEDROCK_DEFAULT = Pace((15 * 60.0, 3 * 3600.0, 20 * 3600.0), (200.0, 50.0, 10.0),
                       "Bedrock's published turnaround (no SLA, typically within hours): no job of this model "
                       "has finished here yet")
# The local engine starts a job as soon as a worker is free and answers about 2 records a second.
LOCAL_DEFAULT = Pace((0.0, 1.0, 30.0), (600.0, 120.0, 30.0),
                     "the local engine's usual pace: no job of this model has finished here yet")


def model_pace(conn: sqlite3.Connection, model_id: str) -> Pace:
    """The model's pace from its latest finished jobs, or the documented default before there is one."""
    queues: list[float] = []
    rates: list[float] = []
    for row in chunks_db.finished_timings(conn, model_id, HISTORY_JOBS):
        submitted, completed = parse_iso(row["submitted_at"]), parse_iso(row["completed_at"])
        started = parse_iso(row["started_at"]) or submitted
        queues.append(max(0.0, (started - submitted).total_seconds()))
        running = max(1.0, (completed - started).total_seconds())
        rates.append(row["records_total"] * 60.0 / running)
    if not rates:
        return LOCAL_DEFAULT if model_id in LOCAL_MODEL_IDS else BEDROCK_DEFAULT
    jobs = f"{len(rates)} earlier job{'s' if len(rates) != 1 else ''}"
    return Pace((min(queues), median(queues), max(queues)), (max(rates), median(rates), min(rates)),
                f"from {jobs} of this model")


def chunk_eta(chunk: sqlite3.Row, pace: Pace, now: datetime) -> dict[str, Any] | None:
    """{expected, earliest, latest, basis} for a submitted or running chunk; None for any other."""
    if chunk["status"] not in ACTIVE or not chunk["submitted_at"]:
        return None
    submitted = parse_iso(chunk["submitted_at"])
    total = chunk["records_total"] or 0
    done = chunk["records_processed"] or 0
    started = parse_iso(chunk["started_at"])
    finishes = []
    for queue, rate in zip(pace.queue_seconds, pace.records_per_minute):
        if chunk["status"] == "SUBMITTED":
            begin, left = submitted + timedelta(seconds=queue), total
        elif chunk["records_processed"] is not None:  # the provider reports how far it got
            begin, left = now, total - done
        else:
            begin, left = started or now, total
        finishes.append(max(now, begin + timedelta(minutes=max(0, left) / rate)))
    expires = parse_iso(chunk["expires_at"])
    if expires is not None:
        finishes = [min(finish, expires) for finish in finishes]
    earliest, expected, latest = sorted(finishes)
    return {"expected": iso(expected), "earliest": iso(earliest), "latest": iso(latest), "basis": pace.basis}


def progress_percent(chunk: sqlite3.Row) -> float | None:
    """How much of the chunk the provider says it processed (None when it does not say)."""
    if chunk["records_processed"] is None or not chunk["records_total"]:
        return None
    return round(min(100.0, 100.0 * chunk["records_processed"] / chunk["records_total"]), 1)


def submission_eta(etas: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """A submission ends with its last chunk: the latest of each bound over its running chunks."""
    running = [eta for eta in etas if eta is not None]
    if not running:
        return None
    return {key: max(eta[key] for eta in running) for key in ("expected", "earliest", "latest")} | {
        "basis": running[0]["basis"]}
