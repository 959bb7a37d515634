"""The media library: importing folders, listing, showing and deleting files."""
from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import stat
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Any, Iterator, Mapping

from app.config import Settings
from app.db import files as files_db
from app.db.connection import transaction
from app.errors import BadRequest, Forbidden, NotFound
from app.media.probe import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, MediaError, probe_file
from app.services.jobs import JobContext

log = logging.getLogger(__name__)

FINGERPRINT_CHUNK = 64 * 1024
IMPORT_BATCH = 50
MAX_PER_PAGE = 500
ANALYSIS_STATES = ("none", "pending", "completed", "failed")


# ---- paths and roots -------------------------------------------------------------------------

def resolve_library_dir(settings: Settings, raw_path: Any) -> Path:
    """Validate a folder the user asked to import; raise 400/403 with a clear message."""
    if not isinstance(raw_path, str) or not raw_path.strip():
        raise BadRequest("'path' must be a non-empty string naming a folder", details={"field": "path"})
    if "\x00" in raw_path:
        raise BadRequest("'path' contains a NUL character", details={"field": "path"})
    candidate = Path(raw_path.strip()).expanduser()
    if not candidate.is_absolute():
        raise BadRequest("'path' must be an absolute path", details={"field": "path", "path": raw_path})
    resolved = candidate.resolve()
    if not any(_is_within(resolved, root) for root in settings.LIBRARY_ROOTS):
        raise Forbidden(
            f"{resolved} is outside the allowed library roots; add it to LIBRARY_ROOTS to import it",
            code="path_not_allowed",
            details={"path": str(resolved), "library_roots": [str(r) for r in settings.LIBRARY_ROOTS],
                     "setting": "LIBRARY_ROOTS"},
        )
    if not resolved.exists():
        raise BadRequest(f"folder not found: {resolved}", code="path_not_found", details={"path": str(resolved)})
    if not resolved.is_dir():
        raise BadRequest(f"not a folder: {resolved}", code="not_a_directory", details={"path": str(resolved)})
    if not os.access(resolved, os.R_OK | os.X_OK):
        raise BadRequest(f"folder is not readable: {resolved}", code="not_readable", details={"path": str(resolved)})
    return resolved


def _is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def media_type_for_name(name: str) -> str | None:
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext in VIDEO_EXTENSIONS:
        return "video"
    if ext in IMAGE_EXTENSIONS:
        return "image"
    return None


def walk_media(root: Path, recursive: bool, on_error) -> Iterator[tuple[str, str | None]]:
    """Yield (path, media type by extension or None) for every file; loops and errors go to on_error."""
    seen_dirs: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            info = folder.stat()
        except OSError as exc:
            on_error(str(folder), f"cannot read folder: {exc.strerror or exc}")
            continue
        key = (info.st_dev, info.st_ino)
        if key in seen_dirs:
            on_error(str(folder), "symlink loop: folder already visited")
            continue
        seen_dirs.add(key)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            on_error(str(folder), f"cannot list folder: {exc.strerror or exc}")
            continue
        subdirs = []
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
                is_file = not is_dir and entry.is_file(follow_symlinks=True)
            except OSError as exc:
                on_error(entry.path, f"cannot stat: {exc.strerror or exc}")
                continue
            if is_dir:
                if recursive and not entry.name.startswith("."):
                    subdirs.append(Path(entry.path))
            elif is_file:
                if entry.name.startswith("."):
                    continue
                yield entry.path, media_type_for_name(entry.name)
            elif entry.is_symlink():
                on_error(entry.path, "broken symlink")
        stack.extend(reversed(subdirs))


def fingerprint_file(path: str, size: int) -> str:
    """sha256 of size + first and last 64 KiB: fast, and stable when a file moves."""
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(FINGERPRINT_CHUNK))
        if size > 2 * FINGERPRINT_CHUNK:
            handle.seek(-FINGERPRINT_CHUNK, os.SEEK_END)
            digest.update(handle.read(FINGERPRINT_CHUNK))
        elif size > FINGERPRINT_CHUNK:
            digest.update(handle.read())
    return digest.hexdigest()


def _display_path(path: str) -> str:
    return path.encode("utf-8", "backslashreplace").decode("utf-8")


# ---- import ----------------------------------------------------------------------------------

def file_values(path: str, info: os.stat_result, fingerprint: str, media_type: str, origin: str) -> dict[str, Any]:
    """Probe a file and return the row values; a probe failure gives a 'failed' row with the reason."""
    pure = PurePosixPath(path)
    values: dict[str, Any] = {
        "path": path,
        "folder": str(pure.parent),
        "name": pure.name,
        "size_bytes": info.st_size,
        "mtime": info.st_mtime,
        "fingerprint": fingerprint,
        "media_type": media_type,
        "origin": origin,
        "status": "ready",
        "error": None,
    }
    try:
        media = probe_file(Path(path))
    except MediaError as exc:
        values.update(status="failed", error=exc.reason)
        return values
    values.update(
        media_type=media.media_type, mime_type=media.mime_type, container=media.container,
        duration_seconds=media.duration_seconds, width=media.width, height=media.height, fps=media.fps,
        video_codec=media.video_codec, audio_codec=media.audio_codec,
        audio_channels=getattr(media, "audio_channels", None), bitrate=media.bitrate,
        created_at=media.created_at, created_source=media.created_source,
        gps_latitude=media.gps_latitude, gps_longitude=media.gps_longitude, camera=media.camera,
        orientation=media.orientation,
    )
    return values


def run_import(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Job handler: scan a folder and add new media; re-imports add only what is new."""
    root = Path(params["path"])
    recursive = bool(params.get("recursive", True))
    for name in ("imported", "skipped_existing", "skipped_unsupported", "moved", "updated", "failed"):
        ctx.counters.setdefault(name, 0)

    candidates: list[tuple[str, str]] = []
    unsupported = 0
    for path, media_type in walk_media(root, recursive, ctx.fail_item):
        if media_type is None:
            unsupported += 1
        else:
            candidates.append((path, media_type))
    ctx.counters["skipped_unsupported"] = unsupported
    ctx.done = 0
    ctx.set_total(len(candidates))

    new_ids: list[int] = []
    for start in range(0, len(candidates), IMPORT_BATCH):
        ctx.check()
        _import_batch(ctx, candidates[start : start + IMPORT_BATCH], new_ids)
    ctx.set_current(None)
    return {**ctx.counters, "new_files": len(new_ids)}


def _import_batch(ctx: JobContext, batch: list[tuple[str, str]], new_ids: list[int]) -> None:
    conn = ctx.conn
    safe = [(p, t) for p, t in batch if _utf8_ok(p, ctx)]
    known = files_db.existing_by_path(conn, [p for p, _ in safe])
    rows: list[tuple[str, Any]] = []
    for path, media_type in safe:
        ctx.set_current(_display_path(path))
        try:
            info = os.stat(path)
        except OSError as exc:
            ctx.fail_item(path, f"cannot stat: {exc.strerror or exc}")
            ctx.advance()
            continue
        if not stat.S_ISREG(info.st_mode):
            ctx.advance(skipped_unsupported=1)
            continue
        existing = known.get(path)
        if existing is not None and existing["size_bytes"] == info.st_size and existing["mtime"] == info.st_mtime:
            ctx.advance(skipped_existing=1)
            continue
        if not os.access(path, os.R_OK):
            ctx.fail_item(path, "permission denied: file is not readable")
            ctx.advance()
            continue
        try:
            fingerprint = fingerprint_file(path, info.st_size)
        except OSError as exc:
            ctx.fail_item(path, f"cannot read: {exc.strerror or exc}")
            ctx.advance()
            continue
        if existing is None:
            moved = _find_moved(conn, fingerprint, info.st_size)
            if moved is not None:
                rows.append(("move", (moved, path, info)))
                continue
        values = file_values(path, info, fingerprint, media_type, "library")
        rows.append(("update" if existing is not None else "insert", (existing, values)))
    with transaction(conn):
        for action, payload in rows:
            if action == "move":
                file_id, path, info = payload
                pure = PurePosixPath(path)
                files_db.update_file(conn, file_id, {"path": path, "folder": str(pure.parent), "name": pure.name,
                                                     "mtime": info.st_mtime})
                ctx.advance(moved=1)
                continue
            existing, values = payload
            if existing is not None:
                files_db.update_file(conn, existing["id"], values)
                ctx.advance(updated=1)
                file_id = existing["id"]
            else:
                file_id = files_db.insert_file(conn, values)
                new_ids.append(file_id)
                ctx.advance(imported=1)
            if values["status"] == "failed":
                ctx.fail_item(values["path"], values["error"])


def _utf8_ok(path: str, ctx: JobContext) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        ctx.fail_item(_display_path(path), "file name is not valid UTF-8; rename the file to import it")
        ctx.advance()
        return False
    return True


def _find_moved(conn: sqlite3.Connection, fingerprint: str, size: int) -> int | None:
    """A known file with this fingerprint whose old path is gone has moved: keep its id and history."""
    for row in files_db.find_by_fingerprint(conn, fingerprint, size):
        if not os.path.exists(row["path"]):
            return int(row["id"])
    return None


# ---- listing ---------------------------------------------------------------------------------

_BOOL_TRUE = {"1", "true", "yes", "on"}
_BOOL_FALSE = {"0", "false", "no", "off"}


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _BOOL_TRUE:
        return True
    if text in _BOOL_FALSE:
        return False
    raise BadRequest(f"'{name}' must be true or false", code="invalid_parameter", details={"parameter": name})


def _as_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    try:
        if isinstance(value, bool):
            raise ValueError
        number = int(str(value).strip())
    except ValueError:
        raise BadRequest(f"'{name}' must be an integer", code="invalid_parameter",
                         details={"parameter": name, "value": str(value)[:100]}) from None
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise BadRequest(f"'{name}' must be {bounds}", code="invalid_parameter",
                         details={"parameter": name, "value": number})
    return number


def _as_float(name: str, value: Any) -> float:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise BadRequest(f"'{name}' must be a number", code="invalid_parameter",
                         details={"parameter": name, "value": str(value)[:100]}) from None
    if number != number or number < 0:
        raise BadRequest(f"'{name}' must be a non-negative number", code="invalid_parameter",
                         details={"parameter": name})
    return number


def _as_day(name: str, value: Any) -> str:
    try:
        return date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise BadRequest(f"'{name}' must be a date as YYYY-MM-DD", code="invalid_parameter",
                         details={"parameter": name, "value": str(value)[:100]}) from None


def _as_choice(name: str, value: Any, options: tuple[str, ...] | list[str]) -> str:
    text = str(value).strip().lower()
    if text not in options:
        raise BadRequest(f"'{name}' must be one of: {', '.join(options)}", code="invalid_parameter",
                         details={"parameter": name, "allowed": list(options)})
    return text


FILTER_KEYS = (
    "q", "media_type", "has_proxy", "analysis", "status", "min_size", "max_size", "min_duration", "max_duration",
    "created_from", "created_to", "imported_from", "imported_to", "directory", "recursive",
)


def parse_file_query(args: Mapping[str, Any], *, paged: bool = True) -> files_db.FileQuery:
    """Validate list parameters (query string or a JSON filter) into a FileQuery; 400 on bad input."""
    known = set(FILTER_KEYS) | ({"sort", "order", "page", "per_page"} if paged else set())
    unknown = sorted(k for k in args if k not in known and k not in {"_"})
    if unknown and not paged:
        raise BadRequest(f"unknown filter key(s): {', '.join(unknown)}", code="invalid_filter",
                         details={"unknown": unknown, "allowed": list(FILTER_KEYS)})
    query = files_db.FileQuery()

    def present(key: str) -> bool:
        value = args.get(key)
        return value is not None and str(value).strip() != ""

    if present("q"):
        query.q = str(args["q"])[:500]
    if present("media_type"):
        query.media_type = _as_choice("media_type", args["media_type"], ("video", "image"))
    if present("has_proxy"):
        query.has_proxy = _as_bool("has_proxy", args["has_proxy"])
    if present("analysis"):
        query.analysis = _as_choice("analysis", args["analysis"], ANALYSIS_STATES)
    if present("status"):
        query.status = _as_choice("status", args["status"], ("ready", "failed"))
    for key in ("min_size", "max_size"):
        if present(key):
            setattr(query, key, _as_int(key, args[key], 0))
    for key in ("min_duration", "max_duration"):
        if present(key):
            setattr(query, key, _as_float(key, args[key]))
    for key in ("created_from", "created_to", "imported_from", "imported_to"):
        if present(key):
            setattr(query, key, _as_day(key, args[key]))
    if present("directory"):
        directory = str(args["directory"]).strip()
        if not directory.startswith("/"):
            raise BadRequest("'directory' must be an absolute POSIX path", code="invalid_parameter",
                             details={"parameter": "directory"})
        query.directory = str(PurePosixPath(directory))
    if present("recursive"):
        query.recursive = _as_bool("recursive", args["recursive"])
    if paged:
        if present("sort"):
            query.sort = _as_choice("sort", args["sort"], tuple(files_db.SORT_COLUMNS))
        if present("order"):
            query.order = _as_choice("order", args["order"], ("asc", "desc"))
        if present("page"):
            query.page = _as_int("page", args["page"], 1, 10_000_000)
        if present("per_page"):
            query.per_page = _as_int("per_page", args["per_page"], 1, MAX_PER_PAGE)
    return query


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
    rows = files_db.list_files(conn, query)
    return {
        "items": [file_to_dict(row) for row in rows],
        "total": None,
        "page": query.page,
        "per_page": query.per_page,
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
        raw = body["file_ids"]
        if not isinstance(raw, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in raw):
            raise BadRequest("'file_ids' must be a list of integers", code="invalid_parameter",
                             details={"parameter": "file_ids"})
        ids = list(dict.fromkeys(raw))
        if not ids:
            raise BadRequest("'file_ids' is empty", code="invalid_parameter", details={"parameter": "file_ids"})
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


# ---- delete ----------------------------------------------------------------------------------

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
    if delete_original and row["origin"] == "upload":
        original = Path(row["path"]).resolve()
        if _is_within(original, settings.uploads_dir.resolve()) and original.exists():
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
    return target if _is_within(target, settings.DATA_DIR.resolve()) else None


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
