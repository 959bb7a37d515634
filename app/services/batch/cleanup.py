"""Batch staging storage: what it holds, and deleting the folders of fully ingested chunks."""
from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.db import chunks as chunks_db
from app.errors import BadRequest
from app.services.batch.common import OUTPUT_ROOT as _OUTPUT, STAGING_ROOT as _STAGING
from app.services.params import float_param, json_bool
from app.storage.base import ObjectStore, StorageError
from app.utils.clock import utc
from app.utils.crashpoints import crashpoint

log = logging.getLogger(__name__)

STAGING_ROOT = f"{_STAGING}/"
OUTPUT_ROOT = f"{_OUTPUT}/"
# The cut-off is now minus this many days: a century is more than any chunk's age, and far below where
# the date arithmetic overflows (about 7.4e5 days back from today; 1e30 or 1e308 used to reach it).
MAX_AGE_DAYS = 36_500


def _prefixes(chunk: sqlite3.Row) -> list[str]:
    prefixes = []
    for value in (chunk["staging_folder"], chunk["output_prefix"]):
        if value:
            prefixes.append(value if value.endswith("/") else value + "/")
    # Never touch anything outside the app's own batch roots (the library's proxies live elsewhere).
    return [p for p in prefixes if p.startswith((STAGING_ROOT, OUTPUT_ROOT)) and p not in (STAGING_ROOT, OUTPUT_ROOT)]


@dataclass
class CleanupReport:
    dry_run: bool
    jobs_processed: int = 0
    jobs_cleaned: int = 0
    objects_deleted: int = 0
    bytes_freed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "jobs_processed": self.jobs_processed, "jobs_cleaned": self.jobs_cleaned,
                "objects_deleted": self.objects_deleted, "bytes_freed": self.bytes_freed, "errors": self.errors}


def cleanup_chunk(conn: sqlite3.Connection, store: ObjectStore, chunk: sqlite3.Row, now: datetime, *,
                  dry_run: bool, report: CleanupReport) -> None:
    """Delete (or count, in a dry run) every object of one chunk's staging and output folders."""
    report.jobs_processed += 1
    try:
        objects = [info for prefix in _prefixes(chunk) for info in store.list(prefix)]
        if not dry_run and objects:
            store.delete_many(info.key for info in objects)
            crashpoint("cleanup")
    except StorageError as exc:
        report.errors.append({"chunk_id": chunk["id"], "message": str(exc), "transient": exc.transient})
        log.warning("cleanup of chunk %s failed: %s", chunk["id"], exc)
        return
    report.objects_deleted += len(objects)
    report.bytes_freed += sum(info.size for info in objects)
    report.jobs_cleaned += 1
    if not dry_run:
        chunks_db.mark_cleaned(conn, chunk["id"], now)


def parse_request(body: dict[str, Any]) -> dict[str, Any]:
    """The options of POST /reports/api/storage/batch/cleanup: cleanup()'s keyword arguments."""
    # Only a JSON boolean false deletes; anything else (missing, "false", 0) is a dry run.
    dry_run = body.get("dry_run", True) is not False
    older = body.get("older_than_days")
    if older is not None and (isinstance(older, bool) or not isinstance(older, (int, float))):
        raise BadRequest("'older_than_days' must be a non-negative number", code="invalid_parameter",
                         details={"parameter": "older_than_days"})
    return {"dry_run": dry_run, "include_failed": json_bool("include_failed", body.get("include_failed", False)),
            "older_than_days": older_days(older)}


def older_days(value: Any) -> float | None:
    """A job age in days, 0 to MAX_AGE_DAYS (finite: NaN and infinities are refused)."""
    return None if value is None else float_param("older_than_days", value, 0, MAX_AGE_DAYS)


def cleanup(conn: sqlite3.Connection, store: ObjectStore, *, dry_run: bool = True, include_failed: bool = False,
            older_than_days: float | None = None, chunk_ids: list[int] | None = None,
            now: datetime | None = None) -> CleanupReport:
    """Clean every eligible chunk; the dry run counts exactly what a real run would delete."""
    current = utc(now)
    report = CleanupReport(dry_run=dry_run)
    for chunk in chunks_db.cleanable_chunks(conn, current, include_failed=include_failed,
                                            older_than_days=older_days(older_than_days)):
        if chunk_ids is not None and chunk["id"] not in chunk_ids:
            continue
        cleanup_chunk(conn, store, chunk, current, dry_run=dry_run, report=report)
    return report


def storage_report(conn: sqlite3.Connection, store: ObjectStore) -> dict[str, Any]:
    """What the batch folders hold right now, measured from the store itself."""
    folders: set[str] = set()
    inputs = {"count": 0, "bytes": 0}
    outputs = {"count": 0, "bytes": 0}
    for info in store.list(STAGING_ROOT):
        folders.add(info.key[len(STAGING_ROOT):].split("/", 1)[0])
        inputs["count"] += 1
        inputs["bytes"] += info.size
    for info in store.list(OUTPUT_ROOT):
        folders.add(info.key[len(OUTPUT_ROOT):].split("/", 1)[0])
        outputs["count"] += 1
        outputs["bytes"] += info.size
    return {
        "batch_folders": {"count": len(folders), "objects": inputs["count"] + outputs["count"],
                          "bytes": inputs["bytes"] + outputs["bytes"]},
        "input_files": inputs,
        "output_files": outputs,
        "cleanable_jobs": len(chunks_db.cleanable_chunks(conn, utc())),
        "total_bytes": inputs["bytes"] + outputs["bytes"],
    }
