"""SQL for semantic search: vectors (`embeddings`), the queue of files to embed (`embedding_pending`),
asynchronous video invocations (`embedding_invocations`) and their orphaned objects (migration 0011)."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Iterator

from app.utils.clock import iso
from app.utils.sqlite import in_batches
from app.utils.leases import Claims

PENDING_CLAIMS = Claims("embedding_pending", "file_id")
INVOCATION_CLAIMS = Claims("embedding_invocations", "id", "status IN ('QUEUED', 'IN_PROGRESS', 'FETCHING')")
MEDIA_KINDS = ("image", "video", "audio")
TEXT_KINDS = ("summary", "chapter", "transcript")
UNFINISHED = ("QUEUED", "IN_PROGRESS", "FETCHING")
INVOCATION_COLUMNS = ("status", "provider_status", "invocation_arn", "output_uri", "attempts", "next_attempt_at",
                      "last_error", "failure_message", "submitted_at", "last_checked_at", "completed_at")


@dataclass(frozen=True)
class VectorRow:
    """One vector to store: what it is of, where in the file, and where it came from."""

    file_id: int
    kind: str
    start_seconds: float | None
    end_seconds: float | None
    source: str
    label: str | None
    content_hash: str
    vector: bytes


# ---- the queue ----------------------------------------------------------------------------------

def queue_files(conn: sqlite3.Connection, file_ids: Iterable[int], now: datetime) -> int:
    stamp = iso(now)
    return conn.executemany("INSERT OR IGNORE INTO embedding_pending (file_id, queued_at) VALUES (?, ?)",
                            [(i, stamp) for i in file_ids]).rowcount


def count_pending(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COUNT(*) FROM embedding_pending").fetchone()[0]


def clear_pending(conn: sqlite3.Connection, file_id: int) -> None:
    conn.execute("DELETE FROM embedding_pending WHERE file_id = ?", (file_id,))


# ---- vectors ------------------------------------------------------------------------------------

def insert_vectors(conn: sqlite3.Connection, rows: Iterable[VectorRow], *, backend: str, model: str,
                   dimension: int, now: datetime) -> int:
    stamp = iso(now)
    return conn.executemany(
        "INSERT INTO embeddings (file_id, kind, start_seconds, end_seconds, source, label, content_hash, backend,"
        " model, dimension, vector, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(r.file_id, r.kind, r.start_seconds, r.end_seconds, r.source, r.label, r.content_hash, backend, model,
          dimension, r.vector, stamp) for r in rows]).rowcount


def delete_vectors(conn: sqlite3.Connection, file_id: int, model: str, dimension: int, kinds: tuple[str, ...],
                   *, keep_hashes: Iterable[str] = ()) -> int:
    keep = list(keep_hashes)
    sql = (f"DELETE FROM embeddings WHERE file_id = ? AND model = ? AND dimension = ?"
           f" AND kind IN ({','.join('?' * len(kinds))})")
    if keep:
        sql += f" AND content_hash NOT IN ({','.join('?' * len(keep))})"
    return conn.execute(sql, [file_id, model, dimension, *kinds, *keep]).rowcount


def content_hashes(conn: sqlite3.Connection, file_id: int, model: str, dimension: int,
                   kinds: tuple[str, ...]) -> set[str]:
    rows = conn.execute(
        f"SELECT content_hash FROM embeddings WHERE file_id = ? AND model = ? AND dimension = ?"
        f" AND kind IN ({','.join('?' * len(kinds))})", [file_id, model, dimension, *kinds])
    return {row[0] for row in rows}


def space_state(conn: sqlite3.Connection, model: str, dimension: int) -> tuple[int, int, int]:
    """(largest id, count, delete counter) of a space: what a vector index compares itself against."""
    row = conn.execute("SELECT COALESCE(MAX(id), 0), COUNT(*) FROM embeddings WHERE model = ? AND dimension = ?",
                       (model, dimension)).fetchone()
    version = conn.execute("SELECT version FROM embedding_index_state WHERE name = 'deletes'").fetchone()[0]
    return row[0], row[1], version


def space_ids(conn: sqlite3.Connection, model: str, dimension: int) -> list[int]:
    return [row[0] for row in conn.execute(
        "SELECT id FROM embeddings WHERE model = ? AND dimension = ? ORDER BY id", (model, dimension))]


def iter_space(conn: sqlite3.Connection, model: str, dimension: int, after_id: int = 0,
               batch: int = 5000) -> Iterator[list[sqlite3.Row]]:
    """(id, file_id, kind, vector) of a space with ids above after_id, `batch` rows at a time, in id order."""
    while True:
        rows = conn.execute(
            "SELECT id, file_id, kind, vector FROM embeddings WHERE model = ? AND dimension = ? AND id > ?"
            " ORDER BY id LIMIT ?", (model, dimension, after_id, batch)).fetchall()
        if not rows:
            return
        yield rows
        after_id = rows[-1]["id"]


def vector_rows(conn: sqlite3.Connection, ids: list[int]) -> dict[int, sqlite3.Row]:
    if not ids:
        return {}
    rows = conn.execute(
        "SELECT id, file_id, kind, start_seconds, end_seconds, source, label FROM embeddings"
        f" WHERE id IN ({','.join('?' * len(ids))})", ids)
    return {row["id"]: row for row in rows}


def file_vectors(conn: sqlite3.Connection, file_id: int, model: str, dimension: int,
                 kinds: tuple[str, ...]) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT id, kind, start_seconds, end_seconds, vector FROM embeddings WHERE file_id = ? AND model = ?"
        f" AND dimension = ? AND kind IN ({','.join('?' * len(kinds))}) ORDER BY start_seconds, id",
        [file_id, model, dimension, *kinds]).fetchall()


def space_counts(conn: sqlite3.Connection, model: str, dimension: int) -> dict[str, Any]:
    kinds = {row[0]: row[1] for row in conn.execute(
        "SELECT kind, COUNT(*) FROM embeddings WHERE model = ? AND dimension = ? GROUP BY kind", (model, dimension))}
    files = conn.execute("SELECT COUNT(DISTINCT file_id) FROM embeddings WHERE model = ? AND dimension = ?",
                         (model, dimension)).fetchone()[0]
    return {"vectors": sum(kinds.values()), "files": files, "by_kind": kinds}


def files_with_media_vectors(conn: sqlite3.Connection, model: str, dimension: int) -> set[int]:
    return {row[0] for row in conn.execute(
        "SELECT DISTINCT file_id FROM embeddings WHERE model = ? AND dimension = ? AND kind IN ('image', 'video')",
        (model, dimension))}


# ---- asynchronous invocations -----------------------------------------------------------------------

def insert_invocation(conn: sqlite3.Connection, *, file_id: int, model: str, dimension: int, segment_seconds: int,
                      mode: str, input_key: str, output_prefix: str, now: datetime) -> int:
    """A QUEUED invocation; its client token is derived from its id (set_client_token), before any call."""
    stamp = iso(now)
    cur = conn.execute(
        "INSERT INTO embedding_invocations (file_id, model, dimension, segment_seconds, embedding_mode, client_token,"
        " input_key, output_prefix, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'unset-' || random(), ?, ?, ?, ?)",
        (file_id, model, dimension, segment_seconds, mode, input_key, output_prefix, stamp, stamp))
    return int(cur.lastrowid)


def set_client_token(conn: sqlite3.Connection, invocation_id: int, token: str) -> None:
    conn.execute("UPDATE embedding_invocations SET client_token = ? WHERE id = ?", (token, invocation_id))


def get_invocation(conn: sqlite3.Connection, invocation_id: int) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM embedding_invocations WHERE id = ?", (invocation_id,)).fetchone()


def update_invocation(conn: sqlite3.Connection, invocation_id: int, now: datetime, *,
                      expect_status: tuple[str, ...] | None = None, **values: Any) -> bool:
    """Set columns (names from INVOCATION_COLUMNS only); False when the row is not in an expected status."""
    unknown = set(values) - set(INVOCATION_COLUMNS)
    if unknown:
        raise ValueError(f"unknown invocation columns {sorted(unknown)}")
    assignments = ", ".join(f"{name} = ?" for name in values)
    sql = f"UPDATE embedding_invocations SET {assignments}, updated_at = ? WHERE id = ?"
    params: list[Any] = [*values.values(), iso(now), invocation_id]
    if expect_status:
        sql += f" AND status IN ({','.join('?' * len(expect_status))})"
        params.extend(expect_status)
    return conn.execute(sql, params).rowcount == 1


def invocations_with_status(conn: sqlite3.Connection, statuses: tuple[str, ...]) -> list[sqlite3.Row]:
    return conn.execute(
        f"SELECT * FROM embedding_invocations WHERE status IN ({','.join('?' * len(statuses))}) ORDER BY id",
        statuses).fetchall()


def unfinished_invocation(conn: sqlite3.Connection, file_id: int, model: str, dimension: int) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT * FROM embedding_invocations WHERE file_id = ? AND model = ? AND dimension = ?"
        " AND status IN ('QUEUED', 'IN_PROGRESS', 'FETCHING') ORDER BY id DESC LIMIT 1",
        (file_id, model, dimension)).fetchone()


def invocation_counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {row[0]: row[1] for row in conn.execute(
        "SELECT status, COUNT(*) FROM embedding_invocations GROUP BY status")}


def orphan_prefixes(conn: sqlite3.Connection, limit: int = 100) -> list[str]:
    return [row[0] for row in conn.execute("SELECT prefix FROM embedding_orphans LIMIT ?", (limit,))]


def forget_orphan(conn: sqlite3.Connection, prefix: str) -> None:
    conn.execute("DELETE FROM embedding_orphans WHERE prefix = ?", (prefix,))


# ---- what a backfill would embed ------------------------------------------------------------------

def backfill_candidates(conn: sqlite3.Connection, file_ids: list[int]) -> list[sqlite3.Row]:
    """Media type, duration and whether a completed run exists, for ready files among file_ids."""
    rows: list[sqlite3.Row] = []
    for part, marks in in_batches(file_ids):
        rows.extend(conn.execute(
            "SELECT f.id, f.media_type, f.duration_seconds, f.size_bytes, f.latest_run_id,"
            " EXISTS (SELECT 1 FROM analysis_runs r WHERE r.file_id = f.id"
            " AND r.status IN ('COMPLETED', 'PARTIAL')) AS analysed"
            f" FROM files f WHERE f.status = 'ready' AND f.id IN ({marks})", part))
    return rows


def files_with_text_vectors(conn: sqlite3.Connection, model: str, dimension: int) -> set[int]:
    return {row[0] for row in conn.execute(
        "SELECT DISTINCT file_id FROM embeddings WHERE model = ? AND dimension = ?"
        " AND kind IN ('summary', 'chapter', 'transcript')", (model, dimension))}
