"""Making vectors: each file's image or video segments and the texts of its analysis, kept current.

Files wait in `embedding_pending` (migration 0011: a trigger queues a file whenever one of its analysis runs
completes, on demand or by batch; backfills queue many). The `embed` task drains the queue: images and texts
are embedded at once (synchronous calls), a video is staged in the object store and queued as an asynchronous
invocation that the batch poller follows (embedding_jobs.py). Unchanged texts are not embedded again: every
vector keeps a hash of what it was made from.
"""
from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections import Counter
from datetime import datetime
from typing import Any

import numpy as np

from app.config import Settings
from app.db import embeddings as embeddings_db
from app.db import files as files_db
from app.db import tasks as tasks_db
from app.db import transaction
from app.db.embeddings import MEDIA_KINDS, TEXT_KINDS, VectorRow
from app.inference.base import InferenceError
from app.inference.embeddings.base import INDEX_PURPOSE, EmbeddingBackend
from app.media.errors import MediaError
from app.services.analysis import ensure_proxy
from app.services.context import Services
from app.services.embedding_texts import file_texts
from app.services.signals import BATCH
from app.services.tasks import TaskContext
from app.storage.base import StorageError
from app.utils import leases
from app.utils.clock import utcnow

log = logging.getLogger(__name__)

TASK_KIND = "embed"
CLAIM_SECONDS = 300.0
VIDEO_MODES = {"combined": "AUDIO_VIDEO_COMBINED", "separate": "AUDIO_VIDEO_SEPARATE"}


def backend_of(services: Services) -> EmbeddingBackend:
    if services.embeddings is None:
        raise RuntimeError("no embedding backend was built")
    return services.embeddings


def describe_backend(backend: EmbeddingBackend) -> dict[str, Any]:
    """Which backend made (and answers with) the vectors: shown with every result."""
    return {"name": backend.name, "model": backend.model_id, "dimension": backend.dimension}


def pack(vector: list[float] | np.ndarray) -> bytes:
    """A vector as stored: unit length (the service does not promise it), little-endian float32."""
    array = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(array))
    return (array / norm if norm > 0 else array).astype("<f4").tobytes()


def unpack(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


def queue_files(services: Services, conn: sqlite3.Connection, file_ids: list[int], now: datetime) -> int:
    with transaction(conn):
        return embeddings_db.queue_files(conn, file_ids, now)


def start_task(services: Services, conn: sqlite3.Connection) -> str:
    return services.tasks.submit(conn, TASK_KIND, {})


def active_task(conn: sqlite3.Connection) -> str | None:
    for row in tasks_db.list_tasks(conn, kind=TASK_KIND, limit=5):
        if row["status"] in tasks_db.ACTIVE_STATUSES:
            return row["id"]
    return None


# ---- the embed task --------------------------------------------------------------------------------

def run_embed_task(services: Services, ctx: TaskContext, params: dict[str, Any]) -> dict[str, Any]:
    """Embed every queued file (claimed one at a time, so several tasks or processes never share one)."""
    conn = ctx.conn
    holder = services.tasks.holder
    ctx.set_total(ctx.done + embeddings_db.count_pending(conn))
    while True:
        ctx.check()
        now = utcnow()
        with transaction(conn):
            file_id = leases.claim_next(conn, embeddings_db.PENDING_CLAIMS, holder, now, CLAIM_SECONDS,
                                        order_by="queued_at, file_id")
        if file_id is None:
            break
        ctx.set_current(f"file {file_id}")
        try:
            done = embed_file(services, conn, int(file_id), now)
        except InferenceError as exc:
            if exc.transient:  # throttled or unavailable: the file stays queued for the next task
                with transaction(conn):
                    leases.release(conn, embeddings_db.PENDING_CLAIMS, file_id, holder)
                ctx.count("retry_later")
                log.warning("embedding paused: %s", exc)
                break
            done = _failed(ctx, int(file_id), exc)
        except (MediaError, StorageError, OSError, RuntimeError) as exc:
            done = _failed(ctx, int(file_id), exc)
        ctx.advance(1, **done)
        with transaction(conn):
            embeddings_db.clear_pending(conn, int(file_id))
    return {k: v for k, v in ctx.counters.items() if not k.startswith("_")}


def _failed(ctx: TaskContext, file_id: int, exc: Exception) -> dict[str, int]:
    ctx.fail_item(f"file {file_id}", str(exc))
    return {}


def embed_file(services: Services, conn: sqlite3.Connection, file_id: int, now: datetime) -> dict[str, int]:
    """Bring one file's vectors up to date: its picture or video (if not yet embedded) and its texts."""
    row = files_db.get_file(conn, file_id)
    counts: Counter[str] = Counter()
    if row is None or row["status"] != "ready":
        counts["skipped"] += 1
        return dict(counts)
    backend = backend_of(services)
    media_hash = row["fingerprint"][:32]
    if media_hash not in embeddings_db.content_hashes(conn, file_id, backend.model_id, backend.dimension, MEDIA_KINDS):
        if row["media_type"] == "image":
            counts["images"] += _embed_image(services, conn, row, now)
        elif embeddings_db.unfinished_invocation(conn, file_id, backend.model_id, backend.dimension) is None:
            counts["videos_queued"] += queue_video(services, conn, row, now)
    counts.update(_embed_texts(backend, conn, row, now))
    return dict(counts)


def _embed_image(services: Services, conn: sqlite3.Connection, row: sqlite3.Row, now: datetime) -> int:
    backend = backend_of(services)
    proxy = ensure_proxy(services.settings, conn, row)  # a JPEG of at most 896 px: well inside the 25 MB limit
    image_format = "png" if proxy.suffix.lower() == ".png" else "jpeg"
    vector = backend.embed_image(proxy.read_bytes(), image_format, purpose=INDEX_PURPOSE)
    item = VectorRow(row["id"], "image", None, None, "media", None, row["fingerprint"][:32], pack(vector))
    with transaction(conn):
        embeddings_db.delete_vectors(conn, row["id"], backend.model_id, backend.dimension, MEDIA_KINDS)
        embeddings_db.insert_vectors(conn, [item], backend=backend.name, model=backend.model_id,
                                     dimension=backend.dimension, now=now)
    return 1


def _embed_texts(backend: EmbeddingBackend, conn: sqlite3.Connection, row: sqlite3.Row, now: datetime) -> Counter[str]:
    texts = file_texts(conn, row)
    wanted = {item.content_hash for item in texts}
    have = embeddings_db.content_hashes(conn, row["id"], backend.model_id, backend.dimension, TEXT_KINDS)
    fresh = [item for item in texts if item.content_hash not in have]
    if not fresh and have <= wanted:
        return Counter()
    # The calls happen outside the transaction: it only swaps the rows.
    rows = [VectorRow(row["id"], item.kind, item.start_seconds, item.end_seconds, item.source, item.label,
                      item.content_hash, pack(backend.embed_text(item.text, purpose=INDEX_PURPOSE)))
            for item in fresh]
    with transaction(conn):
        removed = embeddings_db.delete_vectors(conn, row["id"], backend.model_id, backend.dimension, TEXT_KINDS,
                                               keep_hashes=wanted)
        embeddings_db.insert_vectors(conn, rows, backend=backend.name, model=backend.model_id,
                                     dimension=backend.dimension, now=now)
    return Counter(texts=len(rows), texts_removed=removed)


def queue_video(services: Services, conn: sqlite3.Connection, row: sqlite3.Row, now: datetime) -> int:
    """Stage the video's proxy in the object store and record a QUEUED invocation; the poller starts it."""
    backend = backend_of(services)
    settings: Settings = services.settings
    proxy = ensure_proxy(settings, conn, row)
    folder = f"embeddings/{row['id']}/{row['fingerprint'][:16]}"
    input_key = f"{folder}/input/proxy.mp4"
    services.store.put_file(input_key, proxy, content_type="video/mp4")
    mode = VIDEO_MODES[settings.EMBEDDING_VIDEO_MODE]
    with transaction(conn):
        invocation_id = embeddings_db.insert_invocation(
            conn, file_id=row["id"], model=backend.model_id, dimension=backend.dimension,
            segment_seconds=settings.EMBEDDING_SEGMENT_SECONDS, mode=mode, input_key=input_key,
            output_prefix=f"{folder}/output/", now=now)
        embeddings_db.set_client_token(conn, invocation_id, client_token(invocation_id, row, backend, settings))
    services.signals.notify(BATCH)
    return 1


def client_token(invocation_id: int, row: sqlite3.Row, backend: EmbeddingBackend, settings: Settings) -> str:
    """Deterministic per invocation row: a start repeated after a crash or a lost answer reuses it."""
    params = f"{row['fingerprint']}|{backend.model_id}|{backend.dimension}|{settings.EMBEDDING_SEGMENT_SECONDS}|" \
             f"{settings.EMBEDDING_VIDEO_MODE}"
    return f"mlib-emb-{invocation_id}-{hashlib.sha256(params.encode('utf-8')).hexdigest()[:16]}"
