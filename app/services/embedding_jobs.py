"""Asynchronous video embeddings, followed by the batch poller: one pass per cycle submits queued
invocations, asks about running ones (one list call for all of them), stores the vectors of finished ones and
removes their objects. Also starts the embed task when files wait in the queue (EMBEDDINGS_ENABLED).

Crash safety: the client token is derived from the invocation row and stored before StartAsyncInvoke, and the
attempt is counted first; a row that may have reached the service without its ARN being recorded is looked up
by its token in the next pass (and starting again with the same token would return the same invocation).
"""
from __future__ import annotations

import logging
import sqlite3
from datetime import datetime, timedelta
from typing import Any

from app.db import embeddings as embeddings_db
from app.db import transaction
from app.db.embeddings import MEDIA_KINDS, VectorRow
from app.inference.base import ConflictError, InferenceError, QuotaExceededError, ValidationError
from app.inference.embeddings.base import RESULT_FILE, AsyncInvocation, parse_result_file, parse_segment_lines
from app.services import embeddings
from app.services.context import Services
from app.storage.base import ObjectStore, StorageError
from app.utils import leases
from app.utils.clock import iso, parse_iso, utc
from app.utils.crashpoints import crashpoint

log = logging.getLogger(__name__)

CLAIM_SECONDS = 300.0
MAX_BACKOFF_SECONDS = 3600.0
FETCH_ATTEMPTS = 5
KIND_OF_TYPE = {"AUDIO_VIDEO_COMBINED": "video", "VIDEO": "video", "AUDIO": "audio"}


def process_embeddings_once(conn: sqlite3.Connection, services: Services, now: datetime | None = None, *,
                            force: bool = False, status_checks: str = "due") -> dict[str, Any]:
    """One pass (the poller's provider pipeline "embeddings"): task, submit, refresh, ingest, orphans."""
    current = utc(now)
    out: dict[str, Any] = {"errors": [], "started_task": None}
    if services.embeddings is None:
        return out
    if services.settings.EMBEDDINGS_ENABLED and embeddings_db.count_pending(conn) \
            and embeddings.active_task(conn) is None:
        out["started_task"] = embeddings.start_task(services, conn)
    for step, run in (("submit", _submit), ("refresh", _refresh), ("ingest", _ingest)):
        try:
            out[step] = run(conn, services, current, force=force, status_checks=status_checks)
        except InferenceError as exc:  # the list call itself failed: the next pass tries again
            out["errors"].append(f"embeddings {step}: {exc}")
    out["orphans_removed"] = _remove_orphans(conn, services.store)
    return out


def unfinished(conn: sqlite3.Connection) -> int:
    return len(embeddings_db.invocations_with_status(conn, embeddings_db.UNFINISHED))


def _claimed(conn: sqlite3.Connection, services: Services, row: sqlite3.Row, now: datetime) -> bool:
    with transaction(conn):
        return leases.claim(conn, embeddings_db.INVOCATION_CLAIMS, row["id"], services.tasks.holder, now,
                            CLAIM_SECONDS)


# ---- submit -----------------------------------------------------------------------------------------

def _submit(conn: sqlite3.Connection, services: Services, now: datetime, **_: Any) -> dict[str, Any]:
    done: dict[str, Any] = {"submitted": 0, "healed": 0, "deferred": 0, "failed": 0, "failures": []}
    due = [r for r in embeddings_db.invocations_with_status(conn, ("QUEUED",))
           if not r["next_attempt_at"] or r["next_attempt_at"] <= iso(now)]
    if not due:
        return done
    running = len(embeddings_db.invocations_with_status(conn, ("IN_PROGRESS",)))
    slots = max(0, services.settings.EMBEDDING_MAX_CONCURRENT - running)
    found = _started_earlier(services, due)
    for row in due:
        if not _claimed(conn, services, row, now):
            continue
        info = found.get(row["client_token"])
        if info is not None:
            _record_start(conn, row, info.arn, now)
            done["healed"] += 1
            continue
        if slots <= 0:
            done["deferred"] += 1  # over EMBEDDING_MAX_CONCURRENT: waits for a running one to end
            continue
        outcome = _start(conn, services, row, now)
        if outcome == "quota":
            outcome, slots = "deferred", 0  # the account's limit is full: the rest stay queued
        done[outcome] += 1
        if outcome == "submitted":
            slots -= 1
        elif outcome == "failed":
            done["failures"].append(f"embedding of file {row['file_id']}: {_row_error(conn, row['id'])}")
    return done


def _started_earlier(services: Services, rows: list[sqlite3.Row]) -> dict[str, AsyncInvocation]:
    """Invocations already started for rows whose start may have reached the service (one list call)."""
    tried = [r for r in rows if r["attempts"] > 0]
    if not tried:
        return {}
    tokens = {r["client_token"] for r in tried}
    oldest = min(parse_iso(r["created_at"]) for r in tried) - timedelta(hours=1)
    return {info.client_token: info for info in services.embeddings.list_invocations(submitted_after=oldest)
            if info.client_token in tokens}


def _start(conn: sqlite3.Connection, services: Services, row: sqlite3.Row, now: datetime) -> str:
    store = services.store
    # Counted before the call: a crash after it leaves attempts > 0, so the next pass looks the token up.
    with transaction(conn):
        embeddings_db.update_invocation(conn, row["id"], now, attempts=row["attempts"] + 1)
    try:
        arn = services.embeddings.start_video(
            video_uri=store.uri(row["input_key"]), video_format="mp4", output_uri=store.uri(row["output_prefix"].rstrip("/")) + "/",
            client_token=row["client_token"], segment_seconds=row["segment_seconds"], mode=row["embedding_mode"])
    except ConflictError:
        info = services.embeddings.find_invocation(row["client_token"], parse_iso(row["created_at"]) - timedelta(hours=1))
        if info is None:
            return _fail(conn, services, row, now, "StartAsyncInvoke reported a conflict and no invocation has its token")
        arn = info.arn
    except InferenceError as exc:
        if exc.transient:
            delay = min(MAX_BACKOFF_SECONDS, 30.0 * 2 ** row["attempts"])
            with transaction(conn):
                embeddings_db.update_invocation(conn, row["id"], now, last_error=str(exc),
                                                next_attempt_at=iso(now + timedelta(seconds=delay)))
            return "quota" if isinstance(exc, QuotaExceededError) else "deferred"
        return _fail(conn, services, row, now, str(exc))
    crashpoint("embedding-start")
    _record_start(conn, row, arn, now)
    return "submitted"


def _record_start(conn: sqlite3.Connection, row: sqlite3.Row, arn: str, now: datetime) -> None:
    with transaction(conn):
        embeddings_db.update_invocation(conn, row["id"], now, expect_status=("QUEUED",), status="IN_PROGRESS",
                                        invocation_arn=arn, provider_status="InProgress", submitted_at=iso(now),
                                        last_error=None, next_attempt_at=None)
    log.info("embedding invocation %s started for file %s", arn, row["file_id"])


def _fail(conn: sqlite3.Connection, services: Services, row: sqlite3.Row, now: datetime, message: str) -> str:
    with transaction(conn):
        embeddings_db.update_invocation(conn, row["id"], now, status="FAILED", failure_message=message[:2000],
                                        completed_at=iso(now))
    _remove_objects(services.store, row)
    return "failed"


def _row_error(conn: sqlite3.Connection, invocation_id: int) -> str:
    row = embeddings_db.get_invocation(conn, invocation_id)
    return (row["failure_message"] or row["last_error"] or "failed") if row else "failed"


# ---- refresh ----------------------------------------------------------------------------------------

def _refresh(conn: sqlite3.Connection, services: Services, now: datetime, *, force: bool = False,
             status_checks: str = "due") -> dict[str, Any]:
    done: dict[str, Any] = {"checked": 0, "completed": 0, "failed": 0, "failures": []}
    rows = embeddings_db.invocations_with_status(conn, ("IN_PROGRESS",))
    if status_checks == "none" or not rows:
        return done
    every = force or status_checks == "all"
    cutoff = iso(now - timedelta(seconds=services.settings.BATCH_CHECK_INTERVAL))
    due = [r for r in rows if every or not r["last_checked_at"] or r["last_checked_at"] <= cutoff]
    if not due:
        return done
    oldest = min(parse_iso(r["submitted_at"] or r["created_at"]) for r in due) - timedelta(hours=1)
    # One ListAsyncInvokes walk answers for every running invocation (pages of 1000).
    seen = {info.arn: info for info in services.embeddings.list_invocations(submitted_after=oldest)}
    for row in due:
        info = seen.get(row["invocation_arn"]) or services.embeddings.get_invocation(row["invocation_arn"])
        done["checked"] += 1
        if info.status == "Completed":
            with transaction(conn):
                embeddings_db.update_invocation(conn, row["id"], now, expect_status=("IN_PROGRESS",),
                                                status="FETCHING", provider_status=info.status,
                                                output_uri=info.output_uri, last_checked_at=iso(now), attempts=0)
            done["completed"] += 1
        elif info.status == "Failed":
            _fail(conn, services, row, now, info.failure_message or "the invocation failed")
            done["failed"] += 1
            done["failures"].append(f"embedding of file {row['file_id']}: {info.failure_message or 'failed'}")
        else:
            with transaction(conn):
                embeddings_db.update_invocation(conn, row["id"], now, provider_status=info.status,
                                                last_checked_at=iso(now))
    return done


# ---- ingest -----------------------------------------------------------------------------------------

def _ingest(conn: sqlite3.Connection, services: Services, now: datetime, **_: Any) -> dict[str, Any]:
    done: dict[str, Any] = {"ingested": 0, "vectors": 0, "fetch_failed": 0, "failures": []}
    backend = services.embeddings
    for row in embeddings_db.invocations_with_status(conn, ("FETCHING",)):
        if not _claimed(conn, services, row, now):
            continue
        try:
            segments, skipped = read_output(services.store, row["output_uri"] or "", backend.dimension)
        except (StorageError, ValidationError) as exc:
            attempts = row["attempts"] + 1
            if getattr(exc, "transient", False) and attempts < FETCH_ATTEMPTS:
                with transaction(conn):
                    embeddings_db.update_invocation(conn, row["id"], now, attempts=attempts, last_error=str(exc))
                continue
            _fail(conn, services, row, now, f"the output could not be read: {exc}")
            done["fetch_failed"] += 1
            done["failures"].append(f"embedding of file {row['file_id']}: {exc}")
            continue
        fingerprint = conn.execute("SELECT fingerprint FROM files WHERE id = ?", (row["file_id"],)).fetchone()
        items = [VectorRow(row["file_id"], KIND_OF_TYPE.get(s.embedding_type, "video"), s.start_seconds,
                           s.end_seconds, "media", None, (fingerprint[0] if fingerprint else "")[:32],
                           embeddings.pack(s.vector)) for s in segments]
        with transaction(conn):
            embeddings_db.delete_vectors(conn, row["file_id"], row["model"], row["dimension"], MEDIA_KINDS)
            embeddings_db.insert_vectors(conn, items, backend=backend.name, model=row["model"],
                                         dimension=row["dimension"], now=now)
            embeddings_db.update_invocation(conn, row["id"], now, expect_status=("FETCHING",), status="COMPLETED",
                                            completed_at=iso(now),
                                            last_error="; ".join(skipped)[:2000] if skipped else None)
        _remove_objects(services.store, row)
        done["ingested"] += 1
        done["vectors"] += len(items)
    return done


def read_output(store: ObjectStore, output_uri: str, dimension: int) -> tuple[list, list[str]]:
    """The segments of a finished invocation: segmented-embedding-result.json, then each file it names."""
    prefix = store.key_from_uri(output_uri.rstrip("/"))
    segments, skipped = [], []
    for result in parse_result_file(_read(store, f"{prefix}/{RESULT_FILE}")):
        kind = str(result.get("embeddingType") or "")
        if result.get("status") not in ("SUCCESS", "PARTIAL_SUCCESS") or not result.get("outputFileUri"):
            skipped.append(f"{kind}: {result.get('failureReason') or result.get('status')}")
            continue
        found, failed = parse_segment_lines(_read(store, store.key_from_uri(result["outputFileUri"])), kind, dimension)
        segments.extend(found)
        skipped.extend(failed)
    return segments, skipped


def _read(store: ObjectStore, key: str) -> bytes:
    with store.open_read(key) as handle:
        return handle.read()


def _remove_objects(store: ObjectStore, row: sqlite3.Row) -> None:
    """The staged video and everything under the output prefix; a failure is left to the orphan sweep."""
    try:
        keys = [row["input_key"], *(info.key for info in store.list(row["output_prefix"]))]
        store.delete_many(keys)
    except StorageError as exc:
        log.warning("could not remove the objects of embedding invocation %s: %s", row["id"], exc)


def _remove_orphans(conn: sqlite3.Connection, store: ObjectStore) -> int:
    removed = 0
    for prefix in embeddings_db.orphan_prefixes(conn):
        try:
            store.delete_many([info.key for info in store.list(prefix)] if prefix.endswith("/") else [prefix])
        except StorageError as exc:
            log.warning("could not remove orphaned embedding objects %s: %s", prefix, exc)
            continue
        with transaction(conn):
            embeddings_db.forget_orphan(conn, prefix)
        removed += 1
    return removed
