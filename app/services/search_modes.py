"""Search by words, by meaning, or both: `GET /api/search?mode=keyword|semantic|hybrid` (default hybrid).

keyword is the FTS5 search of services/search.py, unchanged. semantic embeds the query (the model's retrieval
purpose) and ranks files by their nearest vectors: images, video segments and analysis texts, each a
"moment" with its time. hybrid fuses the two rankings by reciprocal-rank fusion (RRF: each list gives a file
1 / (60 + rank), https://plg.uwaterloo.ca/~gvcormac/cormacksigir09-rrf.pdf), so a file both find comes first.
The library list's filters (type, folder, dates) narrow semantic and hybrid results. Every answer says which
mode ran and which backend made the vectors.
"""
from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from typing import Any, Mapping

import numpy as np

from app.db import embeddings as embeddings_db
from app.db import files as files_db
from app.db import search as search_db
from app.inference.embeddings.base import QUERY_PURPOSE, EmbeddingBackend
from app.services import search
from app.services.context import Services
from app.services.embeddings import backend_of, describe_backend
from app.services.library import get_file, parse_file_query

RRF_K = 60
FUSE_DEPTH = search.MAX_PER_PAGE  # files taken from each ranking before fusing
MAX_SEMANTIC_FILES = 100
MOMENTS_PER_FILE = 3
FILTER_KEYS = ("media_type", "directory", "recursive", "created_from", "created_to", "imported_from", "imported_to")
_QUERY_CACHE: OrderedDict[tuple[str, int, str], np.ndarray] = OrderedDict()
_QUERY_LOCK = threading.Lock()


def run_search(services: Services, conn: sqlite3.Connection, args: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the query string and answer in the mode it asks for (400 for an unknown mode)."""
    parsed = search.parse_search_args(args)
    filters = {k: args.get(k) for k in FILTER_KEYS if args.get(k) not in (None, "")}
    query = parse_file_query(filters, paged=False)
    allowed = None
    if filters and parsed["mode"] != "keyword":
        allowed = np.fromiter(files_db.iter_file_ids(conn, query), dtype=np.int64)
    backend = backend_of(services)
    info = {"mode": parsed["mode"], "backend": describe_backend(backend), "filters": filters}
    if parsed["mode"] == "keyword":
        return {**search.search(conn, parsed["q"], parsed["media_type"], parsed["page"], parsed["per_page"]), **info}
    ranked = semantic_ranking(services, conn, parsed["q"], allowed)
    if parsed["mode"] == "semantic":
        vectors = services.vectors.get(conn, backend.model_id, backend.dimension).size
        return {**_semantic_body(conn, parsed, ranked, vectors), **info}
    if not ranked and allowed is None:  # nothing to fuse with: the keyword answer as it is
        return {**search.search(conn, parsed["q"], parsed["media_type"], parsed["page"], parsed["per_page"]), **info}
    return {**_hybrid_body(conn, parsed, ranked, allowed), **info}


# ---- by meaning ---------------------------------------------------------------------------------

def query_vector(backend: EmbeddingBackend, q: str) -> np.ndarray | None:
    """The query's unit vector (a short cache saves repeated calls while paging); None for an empty query."""
    text = " ".join(q.split())[:search.MAX_QUERY_CHARS]
    if not any(ch.isalnum() for ch in text):
        return None
    key = (backend.model_id, backend.dimension, text)
    with _QUERY_LOCK:
        if key in _QUERY_CACHE:
            _QUERY_CACHE.move_to_end(key)
            return _QUERY_CACHE[key]
    vector = np.asarray(backend.embed_text(text, purpose=QUERY_PURPOSE), dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    if norm == 0:
        return None
    vector /= norm
    with _QUERY_LOCK:
        _QUERY_CACHE[key] = vector
        while len(_QUERY_CACHE) > 256:
            _QUERY_CACHE.popitem(last=False)
    return vector


def semantic_ranking(services: Services, conn: sqlite3.Connection, q: str, allowed: np.ndarray | None,
                     *, limit: int = MAX_SEMANTIC_FILES) -> list[dict[str, Any]]:
    """Files by their best vector for the query: [{file_id, score, moments}], best first."""
    backend = backend_of(services)
    index = services.vectors.get(conn, backend.model_id, backend.dimension)
    if index.size == 0:
        return []
    vector = query_vector(backend, q)
    if vector is None:
        return []
    return nearest_files(conn, index, vector, limit, files=allowed)


def nearest_files(conn: sqlite3.Connection, index: Any, vector: np.ndarray, limit: int, **where: Any) -> list[dict[str, Any]]:
    """The `limit` files nearest to `vector`, each with its best few moments; only positive similarity counts."""
    depth = max(200, limit * 10)
    while True:
        matches = index.search(vector, depth, **where)
        grouped: OrderedDict[int, list] = OrderedDict()
        for match in matches:
            if match.score <= 0:
                break
            if match.file_id in grouped or len(grouped) < limit:
                grouped.setdefault(match.file_id, []).append(match)
        exhausted = len(matches) < depth or (matches and matches[-1].score <= 0)
        if len(grouped) >= limit or exhausted:
            break
        depth *= 4
    rows = embeddings_db.vector_rows(conn, [m.embedding_id for ms in grouped.values() for m in ms[:MOMENTS_PER_FILE]])
    return [{"file_id": file_id, "score": ms[0].score,
             "moments": [_moment(file_id, rows[m.embedding_id], m.score) for m in ms[:MOMENTS_PER_FILE]
                         if m.embedding_id in rows]}
            for file_id, ms in grouped.items()]


def _moment(file_id: int, row: sqlite3.Row, score: float) -> dict[str, Any]:
    start = row["start_seconds"]
    timed = start is not None and row["kind"] != "summary"
    url = f"/files/{file_id}" + (f"?t={search._seconds(start)}" if timed else "")
    return {"kind": row["kind"], "start_seconds": start if timed else None,
            "end_seconds": row["end_seconds"] if timed else None, "label": row["label"], "score": round(score, 6),
            "url": url, "frame_url": f"/api/files/{file_id}/frame?t={search._seconds(start)}" if timed else None}


def with_files(conn: sqlite3.Connection, ranked: list[dict[str, Any]], hits: dict[int, list] | None = None,
               scores: dict[int, float] | None = None) -> list[dict[str, Any]]:
    """Result items in the keyword search's shape, plus their moments."""
    files = search_db.files_by_id(conn, [r["file_id"] for r in ranked])
    items = []
    for entry in ranked:
        row = files.get(entry["file_id"])
        if row is None:
            continue
        item = search._item(row, 0.0, [])
        item["score"] = round(scores[entry["file_id"]] if scores else entry["score"], 6)
        item["hits"] = (hits or {}).get(entry["file_id"], [])
        item["moments"] = entry.get("moments", [])
        items.append(item)
    return items


def _page(parsed: dict[str, Any], entries: list) -> tuple[list, dict[str, Any]]:
    page, per_page = parsed["page"], parsed["per_page"]
    total = len(entries)
    return entries[(page - 1) * per_page: page * per_page], {
        "query": parsed["q"], "media_type": parsed["media_type"], "page": page, "per_page": per_page,
        "total": total, "pages": (total + per_page - 1) // per_page}


def _semantic_body(conn: sqlite3.Connection, parsed: dict[str, Any], ranked: list[dict[str, Any]],
                   vectors: int) -> dict[str, Any]:
    shown, body = _page(parsed, ranked)
    body["items"] = with_files(conn, shown)
    if not vectors:
        body["message"] = "Nothing to compare with yet: build embeddings for the library (below, or flask embeddings backfill)."
    elif not parsed["q"].strip():
        body["message"] = "Describe what you are looking for, e.g. someone cutting stone."
    elif not ranked:
        body["message"] = "Nothing in the library is close to that; try other words."
    return body


def _hybrid_body(conn: sqlite3.Connection, parsed: dict[str, Any], ranked: list[dict[str, Any]],
                 allowed: np.ndarray | None) -> dict[str, Any]:
    words = search.search(conn, parsed["q"], parsed["media_type"], 1, FUSE_DEPTH)
    allowed_ids = None if allowed is None else set(allowed.tolist())
    keyword = [item for item in words["items"] if allowed_ids is None or item["file"]["id"] in allowed_ids]
    fused: dict[int, float] = {}
    for position, item in enumerate(keyword, 1):
        fused[item["file"]["id"]] = fused.get(item["file"]["id"], 0.0) + 1.0 / (RRF_K + position)
    for position, entry in enumerate(ranked[:FUSE_DEPTH], 1):
        fused[entry["file_id"]] = fused.get(entry["file_id"], 0.0) + 1.0 / (RRF_K + position)
    moments = {entry["file_id"]: entry["moments"] for entry in ranked}
    order = sorted(fused, key=lambda file_id: (-fused[file_id], file_id))
    shown, body = _page(parsed, order)
    hits = {item["file"]["id"]: item["hits"] for item in keyword}
    body["items"] = with_files(conn, [{"file_id": f, "score": fused[f], "moments": moments.get(f, [])} for f in shown],
                               hits, fused)
    for key in ("terms", "indexing_pending", "message"):
        if key in words and not (key == "message" and body["items"]):
            body[key] = words[key]
    return body


# ---- find similar -------------------------------------------------------------------------------

def similar(services: Services, conn: sqlite3.Connection, file_id: int, at: float | None,
            limit: int) -> dict[str, Any]:
    """Files whose pictures look like this image, or like the moment `at` seconds into this video."""
    row = get_file(conn, file_id)
    backend = backend_of(services)
    body: dict[str, Any] = {"file_id": file_id, "t": at, "backend": describe_backend(backend), "source": None,
                            "items": []}
    own = embeddings_db.file_vectors(conn, file_id, backend.model_id, backend.dimension, ("image", "video"))
    if not own:
        body["message"] = "This file has no vectors yet: build embeddings first (Search page)."
        return body
    chosen = _source_vector(own, at) if row["media_type"] == "video" else own[0]
    vector = np.frombuffer(chosen["vector"], dtype="<f4").astype(np.float32) if chosen is not None else \
        _mean([np.frombuffer(r["vector"], dtype="<f4") for r in own])
    body["source"] = {"kind": own[0]["kind"], "start_seconds": chosen["start_seconds"] if chosen is not None else None,
                      "end_seconds": chosen["end_seconds"] if chosen is not None else None}
    index = services.vectors.get(conn, backend.model_id, backend.dimension)
    ranked = nearest_files(conn, index, vector, limit, kinds=("image", "video"), exclude_file=file_id)
    body["items"] = with_files(conn, ranked)
    return body


def _source_vector(rows: list[sqlite3.Row], at: float | None) -> sqlite3.Row | None:
    """The segment playing at `at` (or the nearest one); None means the whole video."""
    if at is None:
        return None
    inside = [r for r in rows if r["start_seconds"] is not None and r["start_seconds"] <= at
              and (r["end_seconds"] is None or at < r["end_seconds"])]
    if inside:
        return inside[0]
    return min(rows, key=lambda r: abs((r["start_seconds"] or 0.0) - at))


def _mean(vectors: list[np.ndarray]) -> np.ndarray:
    mean = np.mean(np.stack(vectors).astype(np.float32), axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 0 else mean
