"""Embedding the whole library (or a filtered part): what it would cost first, then the queue and the task.

Prices: text input is $0.000135 per 1,000 tokens (us-east-1 on demand; docs/embeddings-facts.md cites the
reading). AWS publishes no image or video price that we could confirm, so those come from the settings
EMBEDDING_IMAGE_PRICE_USD and EMBEDDING_VIDEO_PRICE_USD_PER_SECOND and are reported as unknown when unset.
Tokens are estimated as characters / 4 on a sample of the texts.
"""
from __future__ import annotations

import math
import sqlite3
from typing import Any, Mapping

from app.db import embeddings as embeddings_db
from app.db import files as files_db
from app.errors import BadRequest
from app.services import embeddings
from app.services.context import Services
from app.services.embedding_texts import file_texts
from app.services.library import parse_file_query
from app.services.params import json_bool
from app.utils.clock import utcnow

TEXT_PRICE_PER_1K_TOKENS = 0.000135
PRICE_SOURCE = "https://aws.amazon.com/bedrock/pricing/"
CHARS_PER_TOKEN = 4
TEXT_SAMPLE_FILES = 200


def plan(services: Services, conn: sqlite3.Connection, filters: Mapping[str, Any] | None,
         missing_only: bool) -> tuple[list[int], dict[str, Any]]:
    """The files a backfill would queue and its estimate: counts, tokens, seconds and cost."""
    backend = embeddings.backend_of(services)
    settings = services.settings
    query = parse_file_query(filters or {}, paged=False)
    rows = embeddings_db.backfill_candidates(conn, list(files_db.iter_file_ids(conn, query)))
    have_media = embeddings_db.files_with_media_vectors(conn, backend.model_id, backend.dimension) if missing_only else set()
    have_text = embeddings_db.files_with_text_vectors(conn, backend.model_id, backend.dimension) if missing_only else set()
    chosen: list[int] = []
    text_files: list[int] = []
    counts = {"images": 0, "videos": 0, "video_seconds": 0.0, "video_segments": 0}
    for row in rows:
        media = row["id"] not in have_media
        text = bool(row["analysed"]) and row["id"] not in have_text
        if not (media or text):
            continue
        chosen.append(row["id"])
        if text:
            text_files.append(row["id"])
        if media and row["media_type"] == "image":
            counts["images"] += 1
        elif media:
            seconds = float(row["duration_seconds"] or 0.0)
            counts["videos"] += 1
            counts["video_seconds"] += seconds
            counts["video_segments"] += max(1, math.ceil(seconds / settings.EMBEDDING_SEGMENT_SECONDS))
    texts, chars = _sample_texts(conn, text_files)
    estimate = {"backend": embeddings.describe_backend(backend), "files": len(chosen), **counts,
                "video_seconds": round(counts["video_seconds"], 1), "text_files": len(text_files),
                "texts": texts, "text_tokens": math.ceil(chars / CHARS_PER_TOKEN),
                "missing_only": missing_only}
    estimate["cost_usd"] = _cost(estimate, settings.EMBEDDING_IMAGE_PRICE_USD,
                                 settings.EMBEDDING_VIDEO_PRICE_USD_PER_SECOND, charged=backend.name == "bedrock")
    return chosen, estimate


def _sample_texts(conn: sqlite3.Connection, file_ids: list[int]) -> tuple[int, int]:
    """(texts, characters) over these files, measured on a sample and scaled up."""
    if not file_ids:
        return 0, 0
    step = max(1, len(file_ids) // TEXT_SAMPLE_FILES)
    sample = file_ids[::step][:TEXT_SAMPLE_FILES]
    items = [item for row in files_db.get_files(conn, sample) for item in file_texts(conn, row)]
    scale = len(file_ids) / len(sample)
    return round(len(items) * scale), round(sum(len(i.text) for i in items) * scale)


def _cost(estimate: dict[str, Any], image_price: float | None, second_price: float | None, *,
          charged: bool) -> dict[str, Any]:
    parts = {"text": estimate["text_tokens"] / 1000 * TEXT_PRICE_PER_1K_TOKENS,
             "images": None if image_price is None else estimate["images"] * image_price,
             "video": None if second_price is None else estimate["video_seconds"] * second_price}
    unknown = [name for name, value in parts.items() if value is None and estimate[
        "images" if name == "images" else "videos" if name == "video" else "text_files"]]
    known = sum(v for v in parts.values() if v is not None)
    return {"charged": charged, "total": round(known, 6) if charged else 0.0,
            "bedrock": {k: None if v is None else round(v, 6) for k, v in parts.items()},
            "bedrock_known_total": round(known, 6), "unknown": unknown,
            "note": ("Text is priced at $0.000135 per 1,000 tokens; set EMBEDDING_IMAGE_PRICE_USD and "
                     "EMBEDDING_VIDEO_PRICE_USD_PER_SECOND from the pricing page for the rest."
                     if unknown else "Prices from the settings and the text price."),
            "price_source": PRICE_SOURCE}


def parse_backfill(body: Mapping[str, Any]) -> tuple[dict[str, Any] | None, bool]:
    filters = body.get("filter")
    if filters is not None and not isinstance(filters, dict):
        raise BadRequest("'filter' must be an object of list query keys", code="invalid_parameter",
                         details={"parameter": "filter"})
    missing_only = json_bool("missing_only", body.get("missing_only", True))
    return filters, missing_only


def start_backfill(services: Services, conn: sqlite3.Connection, body: Mapping[str, Any]) -> dict[str, Any]:
    """Queue the planned files and start the embed task; the caller must have seen the estimate (confirm)."""
    filters, missing_only = parse_backfill(body)
    if body.get("confirm") is not True:
        raise BadRequest("look at the estimate first (GET /api/embeddings/estimate), then send \"confirm\": true",
                         code="confirm_required")
    file_ids, estimate = plan(services, conn, filters, missing_only)
    queued = embeddings.queue_files(services, conn, file_ids, utcnow())
    task_id = embeddings.start_task(services, conn) if file_ids else None
    return {"task_id": task_id, "queued": queued, "estimate": estimate}


def status(services: Services, conn: sqlite3.Connection) -> dict[str, Any]:
    """What is embedded in the configured space, what waits, and what runs."""
    backend = embeddings.backend_of(services)
    return {"backend": embeddings.describe_backend(backend), "enabled": services.settings.EMBEDDINGS_ENABLED,
            **embeddings_db.space_counts(conn, backend.model_id, backend.dimension),
            "pending_files": embeddings_db.count_pending(conn), "task_id": embeddings.active_task(conn),
            "invocations": embeddings_db.invocation_counts(conn),
            "segment_seconds": services.settings.EMBEDDING_SEGMENT_SECONDS}
