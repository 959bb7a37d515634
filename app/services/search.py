"""Full-text search: keeping the FTS5 index current and answering queries safely.

The index holds, per file, its name and folder and the text of its latest completed analysis run
(summary, chapters with their start times, elements, keywords, search metadata, classification).
Triggers from migration 0005 queue a file in `search_dirty` whenever it is added, renamed or gets a
newly completed run (by on-demand analysis or batch ingest alike), and deletes remove its rows.
`index_pending` drains that queue; `search` calls it first, so results are always current.
"""
from __future__ import annotations

import logging
import re
import sqlite3
import unicodedata
from typing import Any, Iterable

from app.db import analysis as analysis_db
from app.db import search as search_db
from app.db import transaction
from app.services.params import choice_param, int_param, optional, text_param
from app.services.transcripts.search_rows import transcript_rows
from app.utils.shapes import obj, objs, strings

log = logging.getLogger(__name__)

SEARCH_MODES = ("hybrid", "semantic", "keyword")
MAX_QUERY_CHARS = 500
MAX_TERMS = 12
MAX_TERM_CHARS = 64
MAX_TEXT_CHARS = 4000
MAX_PER_PAGE = 50
HITS_PER_FILE = 3
SNIPPET_TOKENS = 24
INDEX_BATCH = 200
# A search indexes what is queued first (about 0.5 ms a file); past this many it answers with what is
# indexed and says how many files are still waiting, so one search never stalls for long.
INDEX_PER_SEARCH = 5000

FIELD_LABELS = {
    "name": "File name", "folder": "Folder", "summary": "Summary", "chapter": "Chapter",
    "element": "Elements", "keyword": "Keywords", "metadata": "Search metadata",
    "classification": "Classification", "description": "Description",
    "transcript": "Transcript",
}

_TERM_RE = re.compile(r"[^\W_]+")
_MARKERS = str.maketrans({search_db.MARK_START: " ", search_db.MARK_END: " "})


# ---- indexing --------------------------------------------------------------------------------

def index_pending(conn: sqlite3.Connection, *, limit: int | None = None) -> int:
    """Re-index every queued file (or at most `limit`); returns how many were indexed."""
    done = 0
    if not search_db.dirty_file_ids(conn, 1):
        return 0  # the common case: no write lock taken
    while limit is None or done < limit:
        batch_size = INDEX_BATCH if limit is None else min(INDEX_BATCH, limit - done)
        with transaction(conn):
            ids = search_db.dirty_file_ids(conn, batch_size)
            for file_id in ids:
                _index_file(conn, file_id)
            search_db.clear_dirty(conn, ids)
        done += len(ids)
        if len(ids) < batch_size:
            break
    return done


def index_file(conn: sqlite3.Connection, file_id: int) -> None:
    """Rebuild one file's rows now (in the caller's transaction, if any)."""
    with transaction(conn):
        _index_file(conn, file_id)
        search_db.clear_dirty(conn, [file_id])


def reindex_all(conn: sqlite3.Connection) -> int:
    """Queue every file and rebuild the whole index."""
    with transaction(conn):
        search_db.mark_all_dirty(conn)
    return index_pending(conn)


def _index_file(conn: sqlite3.Connection, file_id: int) -> None:
    search_db.delete_file_rows(conn, file_id)
    row = search_db.file_name_and_folder(conn, file_id)
    if row is None:
        return
    results: dict[str, Any] = {}
    run_id = search_db.latest_completed_run_id(conn, file_id)
    if run_id is not None:
        run = analysis_db.get_run(conn, run_id)
        results = analysis_db.run_to_dict(run, analysis_db.list_results(conn, [run_id])[run_id])["results"]
    rows = document_rows(row["name"], row["folder"], results)
    rows += transcript_rows(conn, file_id)  # what is said, timed (services/transcripts/search_rows.py)
    search_db.insert_file_rows(conn, file_id, rows)


def document_rows(name: str, folder: str, results: dict[str, Any]) -> list[tuple[str, float | None, str]]:
    """The (field, start_seconds, text) rows for one file: what search can find it by."""
    rows: list[tuple[str, float | None, str]] = []

    def add(field: str, text: Any, start: Any = None) -> None:
        if isinstance(text, (list, tuple)):
            text = " · ".join(str(t) for t in text if isinstance(t, (str, int, float)) and str(t).strip())
        if not isinstance(text, str):
            return
        clean = text.translate(_MARKERS).strip()[:MAX_TEXT_CHARS]
        if clean:
            rows.append((field, float(start) if isinstance(start, (int, float)) else None, clean))

    add("name", name)
    add("folder", folder)
    summary = obj(results.get("summary"))
    add("summary", [summary.get("text"), *strings(summary.get("key_points"))])
    description = obj(results.get("description"))
    add("description", [description.get("text"), description.get("scene_type"), description.get("primary_subject"),
                        *strings(description.get("key_points"))])
    for chapter in objs(obj(results.get("chapters")).get("chapters")):
        add("chapter", [chapter.get("title"), chapter.get("summary"), *strings(chapter.get("key_points"))],
            chapter.get("start_seconds"))
    _add_elements(add, obj(results.get("elements")))
    for key in ("search_metadata", "metadata"):
        meta = obj(results.get(key))
        add("keyword", strings(meta.get("keywords")))
        project = obj(meta.get("project"))
        location = obj(meta.get("location"))
        add("metadata", [project.get("name"), project.get("customer"), project.get("code"), location.get("name"),
                         location.get("city"), location.get("region"), location.get("country"), meta.get("camera"),
                         *[e.get("value") for e in objs(meta.get("entities"))]])
    waterfall = obj(results.get("waterfall_classification"))
    add("keyword", [*strings(waterfall.get("search_tags")), *strings(waterfall.get("product_keywords"))])
    labels = [waterfall.get(k) for k in ("family", "tier_level", "functional_type", "sub_type")]
    add("classification", [v for v in labels if v != "Unknown"] + strings(waterfall.get("evidence")))
    return rows


def _add_elements(add, elements: dict[str, Any]) -> None:
    for item in objs(elements.get("equipment")):
        add("element", [item.get("name"), item.get("category")], _first_start(item))
    for item in objs(elements.get("topics")):
        add("element", [item.get("name"), item.get("description")], _first_start(item))
    for item in objs(elements.get("speakers")):
        add("element", [item.get("label"), item.get("role")], _first_start(item))
    add("element", strings(obj(elements.get("people")).get("descriptions")))
    add("element", strings(elements.get("text_visible")))


def _first_start(item: dict[str, Any]) -> float | None:
    ranges = objs(item.get("time_ranges"))
    return ranges[0].get("start_seconds") if ranges else None


# ---- querying --------------------------------------------------------------------------------

def query_terms(text: str) -> list[str]:
    """The words of a user's query: letters and digits only, so FTS syntax never reaches SQLite."""
    normalized = unicodedata.normalize("NFC", text[:MAX_QUERY_CHARS])
    terms = [t[:MAX_TERM_CHARS] for t in _TERM_RE.findall(normalized)]
    return list(dict.fromkeys(t.lower() for t in terms))[:MAX_TERMS]


def _fts_term(term: str) -> str:
    # Quoted, so AND/OR/NEAR are plain words; a trailing * makes it a prefix (not for 1 letter).
    return f'"{term}"*' if len(term) > 1 else f'"{term}"'


def parse_search_args(args: Any) -> dict[str, Any]:
    """Validate `q`, `media_type`, `page`, `per_page`, `mode` from a query string (the first of repeated keys) or
    a mapping; a list or an object where a value belongs is a 400, not its text."""
    raw_q = args.get("q")
    q = "" if raw_q is None else text_param("q", raw_q, MAX_QUERY_CHARS)
    raw_type = optional(args, "media_type")
    media_type = None if raw_type is None else choice_param("media_type", raw_type, ("video", "image"))
    page = optional(args, "page")
    per_page = optional(args, "per_page")
    raw_mode = optional(args, "mode")
    return {"q": q, "media_type": media_type,
            "page": 1 if page is None else int_param("page", page, 1, 10_000),
            "per_page": 20 if per_page is None else int_param("per_page", per_page, 1, MAX_PER_PAGE),
            # How to search (services/search_modes.py): words (FTS5), meaning (vectors), or both fused.
            "mode": "hybrid" if raw_mode is None else choice_param("mode", raw_mode, SEARCH_MODES)}


def search(conn: sqlite3.Connection, q: str, media_type: str | None = None, page: int = 1,
           per_page: int = 20) -> dict[str, Any]:
    """Files matching every word of `q` (prefixes), best first, each with its best hits."""
    index_pending(conn, limit=INDEX_PER_SEARCH)
    terms = query_terms(q)
    body: dict[str, Any] = {"query": q[:MAX_QUERY_CHARS], "terms": terms, "media_type": media_type,
                            "page": page, "per_page": per_page, "total": 0, "pages": 0, "items": []}
    waiting = search_db.count_dirty(conn) if search_db.dirty_file_ids(conn, 1) else 0
    if waiting:
        body["indexing_pending"] = waiting
    if not terms:
        body["message"] = "Type a word to search file names, folders, summaries, chapters and keywords."
        return body
    all_terms = [_fts_term(t) for t in terms]
    any_query = " OR ".join(all_terms)
    try:
        total = search_db.count_matching_files(conn, all_terms, media_type)
        ranked = search_db.rank_files(conn, any_query, all_terms, media_type, per_page, (page - 1) * per_page)
        hits = search_db.file_hits(conn, any_query, [r["file_id"] for r in ranked], SNIPPET_TOKENS)
    except sqlite3.OperationalError as exc:
        # Terms are letters and digits only, so this should not happen; never let it become a 500.
        log.warning("search for %r failed: %s", q[:100], exc)
        body["message"] = "That search could not be run; try other words."
        return body
    files = search_db.files_by_id(conn, [r["file_id"] for r in ranked])
    grouped: dict[int, list[sqlite3.Row]] = {}
    for hit in hits:
        grouped.setdefault(hit["file_id"], []).append(hit)
    body["total"] = total
    body["pages"] = (total + per_page - 1) // per_page
    body["items"] = [_item(files[r["file_id"]], r["score"], grouped.get(r["file_id"], []))
                     for r in ranked if r["file_id"] in files]
    return body


def _item(row: sqlite3.Row, score: float, hits: Iterable[sqlite3.Row]) -> dict[str, Any]:
    file_id = row["id"]
    chosen = _best_hits(list(hits))
    return {
        "file": {
            "id": file_id, "name": row["name"], "folder": row["folder"], "media_type": row["media_type"],
            "duration_seconds": row["duration_seconds"], "analysis_status": row["analysis_status"],
            "thumbnail_url": f"/api/files/{file_id}/thumbnail" if row["thumbnail_path"] else None,
            "url": f"/files/{file_id}",
        },
        "score": round(-score, 6),
        "hits": [_hit(file_id, h) for h in chosen],
    }


def _best_hits(hits: list[sqlite3.Row]) -> list[sqlite3.Row]:
    """The best few hits; prefer one per field so a file shows why it matched in different places."""
    chosen: list[sqlite3.Row] = []
    seen: set[str] = set()
    for hit in hits:
        if hit["field"] not in seen:
            chosen.append(hit)
            seen.add(hit["field"])
    for hit in hits:
        if hit not in chosen:
            chosen.append(hit)
    return chosen[:HITS_PER_FILE]


def _hit(file_id: int, hit: sqlite3.Row) -> dict[str, Any]:
    start = hit["start_seconds"]
    url = f"/files/{file_id}"
    if start is not None:
        url += f"?t={_seconds(start)}"
    return {"field": hit["field"], "field_label": FIELD_LABELS.get(hit["field"], hit["field"]),
            "start_seconds": start, "url": url, "snippet": snippet_segments(hit["snippet"] or "")}


def _seconds(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def snippet_segments(marked: str) -> list[dict[str, Any]]:
    """Split snippet() output at its markers into [{"text", "match"}] for the client to render as text."""
    segments: list[dict[str, Any]] = []
    for part in re.split(f"({search_db.MARK_START}[^{search_db.MARK_END}]*{search_db.MARK_END})", marked):
        if not part:
            continue
        if part.startswith(search_db.MARK_START):
            segments.append({"text": part[1:-1], "match": True})
        else:
            segments.append({"text": part.replace(search_db.MARK_START, "").replace(search_db.MARK_END, ""),
                             "match": False})
    return segments
