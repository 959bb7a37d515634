"""The media library: listing, filtering, showing and deleting files."""
from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import re
import sqlite3
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

from app.config import Settings
from app.db import files as files_db
from app.errors import BadRequest, NotFound
from app.media.segments import remove_segments
from app.services.importing import is_within
from app.services.params import (MAX_INT, bool_param, choice_param, day_param, float_param, int_param, invalid,
                                 id_list, optional, text_param)
from app.db import transaction

log = logging.getLogger(__name__)

MAX_PER_PAGE = 500
# Longer than any cursor this API makes: the longest sort value is a path (PATH_MAX is 4,096 bytes).
MAX_CURSOR_CHARS = 12_000
_CURSOR_TEXT = re.compile(r"[A-Za-z0-9_-]+")
ANALYSIS_STATES = ("none", "pending", "completed", "failed")


FILTER_KEYS = (
    "q", "media_type", "has_proxy", "analysis", "status", "min_size", "max_size", "min_duration", "max_duration",
    "created_from", "created_to", "imported_from", "imported_to", "directory", "recursive",
)


def parse_file_query(args: Mapping[str, Any], *, paged: bool = True) -> files_db.FileQuery:
    """Validate list parameters (query string or a JSON filter) into a FileQuery; 400 on bad input."""
    known = set(FILTER_KEYS) | ({"sort", "order", "page", "per_page", "cursor"} if paged else set())
    unknown = sorted(k for k in args if k not in known and k not in {"_"})
    if unknown and not paged:
        raise BadRequest(f"unknown filter key(s): {', '.join(unknown)}", code="invalid_filter",
                         details={"unknown": unknown, "allowed": list(FILTER_KEYS)})
    query = files_db.FileQuery()
    if optional(args, "q") is not None:
        query.q = _unicode_text("q", args["q"], 500)
    if optional(args, "media_type") is not None:
        query.media_type = choice_param("media_type", args["media_type"], ("video", "image"))
    if optional(args, "has_proxy") is not None:
        query.has_proxy = bool_param("has_proxy", args["has_proxy"])
    if optional(args, "analysis") is not None:
        query.analysis = choice_param("analysis", args["analysis"], ANALYSIS_STATES)
    if optional(args, "status") is not None:
        query.status = choice_param("status", args["status"], ("ready", "failed"))
    for key in ("min_size", "max_size"):
        if optional(args, key) is not None:
            setattr(query, key, int_param(key, args[key], 0))
    for key in ("min_duration", "max_duration"):
        if optional(args, key) is not None:
            setattr(query, key, float_param(key, args[key]))
    for key in ("created_from", "created_to", "imported_from", "imported_to"):
        if optional(args, key) is not None:
            setattr(query, key, day_param(key, args[key]).isoformat())
    if optional(args, "directory") is not None:
        directory = _unicode_text("directory", args["directory"], MAX_CURSOR_CHARS).strip()
        if not directory.startswith("/"):
            raise BadRequest("'directory' must be an absolute POSIX path", code="invalid_parameter",
                             details={"parameter": "directory"})
        query.directory = str(PurePosixPath(directory))
    if optional(args, "recursive") is not None:
        query.recursive = bool_param("recursive", args["recursive"])
    if paged:
        if optional(args, "sort") is not None:
            query.sort = choice_param("sort", args["sort"], tuple(files_db.SORT_COLUMNS))
        if optional(args, "order") is not None:
            query.order = choice_param("order", args["order"], ("asc", "desc"))
        if optional(args, "page") is not None:
            query.page = int_param("page", args["page"], 1, 10_000_000)
        if optional(args, "per_page") is not None:
            query.per_page = int_param("per_page", args["per_page"], 1, MAX_PER_PAGE)
        if optional(args, "cursor") is not None:
            if optional(args, "page") is not None:
                raise invalid("cursor", "give 'page' or 'cursor', not both: the cursor already says where "
                              "the page starts")
            query.after = decode_cursor(args["cursor"], query.sort, query.order)
    return query


def _unicode_text(name: str, value: Any, max_chars: int) -> str:
    """A string SQLite can bind: a JSON filter may hold a list, and a CLI argument undecodable bytes (Python
    passes them on as lone surrogates, which sqlite3 refuses with UnicodeEncodeError)."""
    text = text_param(name, value, max_chars)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid(name, f"'{name}' is not valid Unicode text") from None
    return text


def encode_cursor(sort: str, order: str, key: tuple[Any, int]) -> str:
    """An opaque position for keyset paging: base64url (unpadded) of [sort, order, sort value, id]."""
    raw = json.dumps([sort, order, key[0], key[1]], ensure_ascii=False, separators=(",", ":"))
    return _base64url(raw.encode("utf-8"))


def decode_cursor(text: Any, sort: str, order: str) -> tuple[Any, int]:
    """The (sort value, id) of a cursor made by encode_cursor for this sort and order; 400 for anything else.

    Clients can send any bytes, so every part is checked before it is bound to a query (never put in SQL):
    canonical base64url, a JSON list of four, the same sort and order, a value of the sort column's type
    (finite, within SQLite's integers, valid Unicode) and an id.
    """
    if not isinstance(text, str) or len(text) > MAX_CURSOR_CHARS or not _CURSOR_TEXT.fullmatch(text):
        raise invalid("cursor", "'cursor' is not a cursor from this API (base64url text expected)")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
        if _base64url(raw) != text:
            raise ValueError("not canonical")
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (binascii.Error, ValueError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise invalid("cursor", "'cursor' is not a cursor from this API") from None
    if not isinstance(data, list) or len(data) != 4:
        raise invalid("cursor", "'cursor' is not a cursor from this API")
    cursor_sort, cursor_order, value, file_id = data
    if (cursor_sort, cursor_order) != (sort, order):
        raise invalid("cursor", "'cursor' belongs to another sort or order; start again without it")
    if not _is_int(file_id) or not 0 <= file_id <= MAX_INT or not _valid_sort_value(sort, value):
        raise invalid("cursor", "'cursor' is not a cursor from this API")
    return value, file_id


def _base64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _valid_sort_value(sort: str, value: Any) -> bool:
    types, nullable = files_db.SORT_VALUE_TYPES[sort]
    if value is None:
        return nullable
    if isinstance(value, bool) or not isinstance(value, types):
        return False
    if isinstance(value, int):
        return -MAX_INT - 1 <= value <= MAX_INT
    if isinstance(value, float):
        return math.isfinite(value)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def file_to_dict(row: sqlite3.Row, *, detail: bool = False) -> dict[str, Any]:
    """The API shape of a file row (from files_db.LIST_SELECT)."""
    file_id = row["id"]
    has_proxy = row["proxy_path"] is not None
    body: dict[str, Any] = {
        "id": file_id,
        "name": row["name"],
        "path": row["path"],
        "folder": row["folder"],
        "media_type": row["media_type"],
        "mime_type": row["mime_type"],
        "size_bytes": row["size_bytes"],
        "duration_seconds": row["duration_seconds"],
        "width": row["width"],
        "height": row["height"],
        "fps": row["fps"],
        "video_codec": row["video_codec"],
        "audio_codec": row["audio_codec"],
        "created_at": row["created_at"],
        "imported_at": row["imported_at"],
        "status": row["status"],
        "error": row["error"],
        "has_proxy": has_proxy,
        "thumbnail_url": f"/api/files/{file_id}/thumbnail" if row["thumbnail_path"] else None,
        "proxy_url": f"/api/files/{file_id}/proxy" if has_proxy else None,
        "analysis": {"status": row["analysis_status"], "latest_run_id": row["latest_run_id"]},
    }
    if detail:
        body.update(
            container=row["container"], bitrate=row["bitrate"], audio_channels=row["audio_channels"],
            created_source=row["created_source"], gps_latitude=row["gps_latitude"],
            gps_longitude=row["gps_longitude"], camera=row["camera"], orientation=row["orientation"],
            fingerprint=row["fingerprint"], origin=row["origin"], mtime=row["mtime"],
            proxy={"size_bytes": row["proxy_size_bytes"], "width": row["proxy_width"],
                   "height": row["proxy_height"], "spec": row["proxy_spec"]} if has_proxy else None,
        )
    return body


def list_files(conn: sqlite3.Connection, query: files_db.FileQuery) -> dict[str, Any]:
    """A page of files with the total and summary of everything matching; `next` continues after it."""
    rows, more = files_db.list_page(conn, query)
    next_cursor = encode_cursor(query.sort, query.order, files_db.sort_key(rows[-1], query.sort)) if more else None
    return {
        "items": [file_to_dict(row) for row in rows],
        "total": None,
        # A cursor page has no number: rows may have come or gone before it since page 1.
        "page": query.page if query.after is None else None,
        "per_page": query.per_page,
        "next": next_cursor,
        "summary": None,
    } | _with_summary(conn, query)


def _with_summary(conn: sqlite3.Connection, query: files_db.FileQuery) -> dict[str, Any]:
    summary = files_db.summarize_files(conn, query)
    return {"total": summary["count"], "summary": summary}


def get_file(conn: sqlite3.Connection, file_id: int) -> sqlite3.Row:
    row = files_db.get_file(conn, file_id)
    if row is None:
        raise NotFound(f"file {file_id} not found", code="file_not_found", details={"file_id": file_id})
    return row


def resolve_file_ids(conn: sqlite3.Connection, body: Mapping[str, Any]) -> list[int]:
    """`file_ids` or `filter` from a JSON body, resolved on the server."""
    if "file_ids" in body and body["file_ids"] is not None:
        ids = id_list("file_ids", body["file_ids"])
        found = {row["id"] for row in files_db.get_files(conn, ids)}
        missing = [i for i in ids if i not in found]
        if missing:
            raise NotFound(f"{len(missing)} file id(s) not found", code="file_not_found",
                           details={"missing": missing[:50]})
        return ids
    if "filter" in body and body["filter"] is not None:
        if not isinstance(body["filter"], dict):
            raise BadRequest("'filter' must be an object of list query keys", code="invalid_parameter",
                             details={"parameter": "filter"})
        query = parse_file_query(body["filter"], paged=False)
        return list(files_db.iter_file_ids(conn, query))
    raise BadRequest("give 'file_ids' or 'filter'", code="missing_parameter", details={"parameter": "file_ids"})


def delete_file(conn: sqlite3.Connection, settings: Settings, file_id: int, *, delete_original: bool) -> dict[str, Any]:
    """Remove the record and derived files; the original only for an app-stored upload, when asked."""
    row = get_file(conn, file_id)
    derived = files_db.get_derivatives(conn, file_id)
    removed: list[str] = []
    original_deleted = False
    if delete_original and row["origin"] != "upload":
        raise BadRequest("only files uploaded into the app can have their original deleted; "
                         "library originals always stay on disk", code="original_not_owned",
                         details={"file_id": file_id})
    with transaction(conn):
        files_db.delete_file(conn, file_id)
    for kind, derivative in derived.items():
        target = _data_path(settings, derivative["path"])
        if target is not None and target.exists():
            target.unlink()
            removed.append(kind)
        if kind == "proxy" and target is not None and remove_segments(target):
            removed.append("segments")  # the pieces of a long video cut from that proxy
    if delete_original and row["origin"] == "upload":
        original = Path(row["path"]).resolve()
        if is_within(original, settings.uploads_dir.resolve()) and original.exists():
            original.unlink()
            original_deleted = True
            try:
                original.parent.rmdir()
            except OSError:
                pass
    return {"deleted": True, "file_id": file_id, "derivatives_removed": removed, "original_deleted": original_deleted}


def _data_path(settings: Settings, relative: str) -> Path | None:
    """A stored relative derivative path under DATA_DIR, or None if it would escape it."""
    target = (settings.DATA_DIR / relative).resolve()
    return target if is_within(target, settings.DATA_DIR.resolve()) else None


def derivative_path(settings: Settings, conn: sqlite3.Connection, file_id: int, kind: str) -> tuple[Path, sqlite3.Row]:
    """The on-disk path of a file's proxy or thumbnail; 404 when it has none."""
    row = get_file(conn, file_id)
    derived = files_db.get_derivatives(conn, file_id).get(kind)
    if derived is None:
        raise NotFound(f"file {file_id} has no {kind} yet", code=f"{kind}_not_found", details={"file_id": file_id})
    target = _data_path(settings, derived["path"])
    if target is None or not target.exists():
        raise NotFound(f"the {kind} of file {file_id} is missing on disk; generate it again",
                       code=f"{kind}_missing", details={"file_id": file_id})
    return target, row
