"""Usage reports: tokens, cost, success rates and submissions over a date range."""
from __future__ import annotations

import json
import sqlite3
from datetime import date, timedelta
from typing import Any, Mapping

from app.db import usage as usage_db
from app.errors import BadRequest
from app.services.params import day_param, optional
from app.services.transcripts.usage import transcription_usage
from app.utils.clock import utcnow

MAX_DAYS = 366
DEFAULT_DAYS = 7
# The days a report may name. Nothing is stored before the Unix epoch (times come from the system clock),
# and a range ends the day before the last one the calendar has, as the query runs to the next midnight.
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date.max - timedelta(days=1)


def parse_range(args: Mapping[str, Any], today: date | None = None) -> tuple[date, date]:
    """`from`/`to` as YYYY-MM-DD (inclusive), default the last 7 days; at most 366 days."""
    today = today or utcnow().date()
    end = _day(args, "to") or today
    start = _day(args, "from") or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise BadRequest("'from' must not be after 'to'", code="invalid_parameter", details={"parameter": "from"})
    if (end - start).days + 1 > MAX_DAYS:
        raise BadRequest(f"the range may span at most {MAX_DAYS} days", code="invalid_parameter",
                         details={"parameter": "from", "max_days": MAX_DAYS})
    return start, end


def _day(args: Mapping[str, Any], name: str) -> date | None:
    raw = optional(args, name)
    return None if raw is None else day_param(name, raw, FIRST_DAY, LAST_DAY)


def _sums(row: sqlite3.Row) -> dict[str, Any]:
    completed, failed = row["completed"] or 0, row["failed"] or 0
    finished = completed + failed
    return {
        "runs": row["runs"] or 0, "completed": completed, "failed": failed, "pending": row["pending"] or 0,
        "success_rate": round(completed / finished, 4) if finished else None,
        "tokens_input": row["tokens_input"], "tokens_output": row["tokens_output"],
        "cost_usd": round(row["cost_usd"] or 0.0, 6),
    }


def usage_report(conn: sqlite3.Connection, start: date, end: date) -> dict[str, Any]:
    """Everything the Reports page shows for the days start..end (inclusive)."""
    lo, hi = start.isoformat(), (end + timedelta(days=1)).isoformat()
    by_day = {row["day"]: _sums(row) for row in usage_db.runs_per_day(conn, lo, hi)}
    empty = {"runs": 0, "completed": 0, "failed": 0, "pending": 0, "success_rate": None,
             "tokens_input": 0, "tokens_output": 0, "cost_usd": 0.0}
    days = [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]
    totals_row = usage_db.run_totals(conn, lo, hi)
    submissions = usage_db.submissions(conn, lo, hi, limit=20)
    sums = submissions["sums"]
    tasks = [dict(row) for row in usage_db.tasks_by_kind(conn, lo, hi)]
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "totals": {**_sums(totals_row), "files_analysed": totals_row["files_analysed"]},
        "per_day": [{"day": day, **by_day.get(day, empty)} for day in days],
        "per_model": [{"model": row["key"], **_sums(row)} for row in usage_db.runs_by(conn, "model_key", lo, hi)],
        "per_mode": [{"mode": row["key"], **_sums(row)} for row in usage_db.runs_by(conn, "mode", lo, hi)],
        "submissions": {
            "count": sums["count"], "files": sums["files"], "by_status": submissions["by_status"],
            "estimated_cost_usd": round(sums["estimated"], 6), "actual_cost_usd": round(sums["actual"], 6),
            "items": [_submission(r) for r in submissions["items"]],
            "estimate_error": _estimate_error(submissions["items"]),
        },
        "tasks": {"by_kind": tasks, "total": sum(t["total"] for t in tasks),
                  "succeeded": sum(t["succeeded"] or 0 for t in tasks), "failed": sum(t["failed"] or 0 for t in tasks)},
        "transcription": transcription_usage(conn, start, end),
    }


_FINISHED = ("COMPLETED", "PARTIAL")


def _submission(row: sqlite3.Row) -> dict[str, Any]:
    """One submission's estimate against what it really used: by cost, or by tokens when the model is free."""
    totals = (json.loads(row["plan"] or "{}").get("totals") or {})
    estimated_tokens = sum((totals.get(part) or {}).get(key, 0) for part in ("batch", "on_demand")
                           for key in ("input_tokens", "output_tokens"))
    by_cost = row["estimated_cost_usd"] > 0 and row["actual_cost_usd"] > 0
    estimated, actual = ((row["estimated_cost_usd"], row["actual_cost_usd"]) if by_cost
                         else (estimated_tokens, row["actual_tokens"]))
    error = None
    if row["status"] in _FINISHED and estimated and actual:
        error = round(100.0 * (estimated - actual) / actual, 1)  # +44: the estimate was 44% above
    return {"id": row["id"], "status": row["status"], "model": row["model_key"], "mode": row["mode"],
            "files_total": row["files_total"], "records_total": row["records_total"],
            "estimated_cost_usd": row["estimated_cost_usd"], "actual_cost_usd": row["actual_cost_usd"],
            "estimated_tokens": estimated_tokens, "actual_tokens": row["actual_tokens"],
            "estimate_error_pct": error, "estimate_error_by": "cost" if by_cost else "tokens",
            "created_at": row["created_at"], "completed_at": row["completed_at"]}


def _estimate_error(rows: list[sqlite3.Row]) -> dict[str, Any]:
    """How far off the estimates were: the mean absolute error of the finished submissions, oldest first,
    and that mean as it ran after each one (so a page shows whether estimates are learning)."""
    errors = [e for e in (_submission(r)["estimate_error_pct"] for r in reversed(rows)) if e is not None]
    running = [round(sum(abs(e) for e in errors[:n]) / n, 1) for n in range(1, len(errors) + 1)]
    return {"submissions": len(errors), "mean_abs_pct": running[-1] if running else None, "running": running}
