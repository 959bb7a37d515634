"""Names, times and small helpers shared by the batch pipeline's steps."""
from __future__ import annotations

import hashlib
import sqlite3
from datetime import datetime

from app.db import analysis as analysis_db
from app.db import chunks as chunks_db
from app.inference.base import validate_batch_s3_uri, validate_client_token, validate_job_name
from app.services.segments.records import queue_merges
from app.storage.base import ObjectStore

STAGING_ROOT = "nova_batch"
OUTPUT_ROOT = "nova_batch_output"
MANIFEST_NAME = "manifest.jsonl"
FILES_FOLDER = "files"
MAX_BACKOFF_SECONDS = 900


def backoff_seconds(attempt: int, base: float = 30.0) -> float:
    """30 s, 60 s, 120 s ... capped at 15 minutes."""
    return min(base * 2 ** max(attempt - 1, 0), MAX_BACKOFF_SECONDS)


def folder_stamp(created: datetime) -> str:
    return created.strftime("%Y%m%d_%H%M%S")


def staging_folder(stamp: str, sequence: int) -> str:
    """`nova_batch/job_YYYYMMDD_HHMMSS_NNN/`: the job's input folder (manifest and media under it)."""
    return f"{STAGING_ROOT}/job_{stamp}_{sequence:03d}/"


def output_prefix(stamp: str, sequence: int) -> str:
    return f"{OUTPUT_ROOT}/job_{stamp}_{sequence:03d}/"


def next_sequence(conn: sqlite3.Connection, stamp: str) -> int:
    """The first free NNN for folders made in this second (call inside the write transaction)."""
    prefix = f"{STAGING_ROOT}/job_{stamp}_"
    used = []
    for folder in chunks_db.staging_folders_like(conn, prefix):
        digits = folder[len(prefix):].rstrip("/")
        if digits.isdigit():
            used.append(int(digits))
    return max(used, default=0) + 1


def job_name_and_token(batch_id: int, chunk_index: int, created_at: str, folder: str) -> tuple[str, str]:
    """The chunk's Bedrock job name and clientRequestToken, fixed before the first create call.

    The hash covers the creation time and folder, so a reset database can never reuse the name of
    a job that an older installation created in the same account (lookups by name would find it).
    """
    digest = hashlib.sha256(f"{batch_id}:{chunk_index}:{created_at}:{folder}".encode()).hexdigest()
    name = validate_job_name(f"nova-b{batch_id}-c{chunk_index + 1}-{digest[:10]}")
    token = validate_client_token(f"nb{batch_id}c{chunk_index + 1}{digest[10:42]}")
    return name, token


def folder_uri(store: ObjectStore, folder: str) -> str:
    """s3://bucket/folder/ checked against Bedrock's strict input/output URI pattern."""
    return validate_batch_s3_uri(f"s3://{store.bucket}/{folder}")


def fail_chunk_runs(conn: sqlite3.Connection, chunk_id: int, *, code: str, message: str, now: datetime) -> int:
    """Fail every pending record of the chunk and roll its runs up (caller owns the transaction); a segmented
    run whose segments have now all answered or failed gets its merge queued (segments/records.py)."""
    failed = chunks_db.fail_pending_chunk_results(conn, chunk_id, code=code, message=message, now=now)
    run_ids = chunks_db.chunk_run_ids(conn, chunk_id)
    queue_merges(conn, run_ids, now)
    analysis_db.finalize_runs(conn, run_ids, now=now)
    return failed
