"""The history of submissions over a date range, with their runs and costs, as JSON or CSV."""
from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import date, timedelta
from typing import Any

from app.db import batches as batches_db

FORMATS = ("json", "csv")
RUN_COLUMNS = ("batch_id", "batch_created_at", "batch_status", "model", "batch_mode", "batch_estimated_cost_usd",
               "batch_actual_cost_usd", "file_id", "file_name", "file_path", "media_type", "run_id", "run_mode",
               "run_status", "analysis_types", "tokens_input", "tokens_output", "cost_usd", "error_code",
               "error_message", "started_at", "completed_at")
# A spreadsheet runs a cell that starts like a formula; file names and model errors are not ours to trust.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def history(conn: sqlite3.Connection, start: date, end: date) -> dict[str, Any]:
    """Every submission created from start to end (inclusive) with its runs."""
    lo, hi = start.isoformat(), (end + timedelta(days=1)).isoformat()
    runs: dict[int, list[dict[str, Any]]] = {}
    for row in batches_db.runs_of_submissions_between(conn, lo, hi):
        runs.setdefault(row["batch_id"], []).append(_run(row))
    submissions = []
    for batch in batches_db.submissions_between(conn, lo, hi):
        submissions.append({
            "id": batch["id"], "created_at": batch["created_at"], "completed_at": batch["completed_at"],
            "status": batch["status"], "model": batch["model_key"], "model_id": batch["model_id"],
            "mode": batch["mode"], "analysis_types": json.loads(batch["analysis_types"]),
            "files_total": batch["files_total"], "records_total": batch["records_total"],
            "estimated_cost_usd": batch["estimated_cost_usd"], "actual_cost_usd": batch["actual_cost_usd"],
            "retry_of": batch["retry_of"], "runs": runs.get(batch["id"], []),
        })
    return {"from": start.isoformat(), "to": end.isoformat(), "submissions": submissions,
            "totals": {"submissions": len(submissions), "runs": sum(len(s["runs"]) for s in submissions),
                       "estimated_cost_usd": round(sum(s["estimated_cost_usd"] for s in submissions), 6),
                       "actual_cost_usd": round(sum(s["actual_cost_usd"] for s in submissions), 6)}}


def history_csv(data: dict[str, Any]) -> str:
    """One line per run, its submission's fields repeated; cells that would start a formula are quoted."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(RUN_COLUMNS)
    for batch in data["submissions"]:
        for run in batch["runs"]:
            writer.writerow([_cell(value) for value in (
                batch["id"], batch["created_at"], batch["status"], batch["model"], batch["mode"],
                batch["estimated_cost_usd"], batch["actual_cost_usd"], run["file_id"], run["file_name"],
                run["file_path"], run["media_type"], run["run_id"], run["mode"], run["status"],
                ",".join(run["analysis_types"]), run["tokens_input"], run["tokens_output"], run["cost_usd"],
                run["error_code"], run["error_message"], run["started_at"], run["completed_at"])])
    return out.getvalue()


def _run(row: sqlite3.Row) -> dict[str, Any]:
    return {"run_id": row["id"], "file_id": row["file_id"], "file_name": row["file_name"],
            "file_path": row["file_path"], "media_type": row["file_media_type"], "mode": row["mode"],
            "status": row["status"], "analysis_types": json.loads(row["analysis_types"]),
            "tokens_input": row["tokens_input"], "tokens_output": row["tokens_output"], "cost_usd": row["cost_usd"],
            "error_code": row["error_code"], "error_message": row["error_message"], "started_at": row["started_at"],
            "completed_at": row["completed_at"]}


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value
