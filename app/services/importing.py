"""Importing a folder into the library: which folders may be imported, walking them, probing new files."""
from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import stat
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

from app.config import Settings
from app.db import files as files_db
from app.errors import BadRequest, Forbidden
from app.media.probe import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, MediaError, probe_file
from app.services.tasks import TaskContext
from app.db import transaction

log = logging.getLogger(__name__)

FINGERPRINT_CHUNK = 64 * 1024
IMPORT_BATCH = 50


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
    if not any(is_within(resolved, root) for root in settings.LIBRARY_ROOTS):
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


def is_within(path: Path, root: Path) -> bool:
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


def run_import(ctx: TaskContext, params: dict[str, Any]) -> dict[str, Any]:
    """Task handler: scan a folder and add new media; re-imports add only what is new."""
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


def _import_batch(ctx: TaskContext, batch: list[tuple[str, str]], new_ids: list[int]) -> None:
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


def _utf8_ok(path: str, ctx: TaskContext) -> bool:
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
