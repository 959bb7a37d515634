"""Importing a folder into the library: which folders may be imported, walking them, probing new files."""
from __future__ import annotations

import errno
import hashlib
import logging
import os
import sqlite3
import stat
from pathlib import Path, PurePosixPath
from typing import Any, Iterator, Sequence

from app.config import Settings
from app.db import files as files_db
from app.errors import BadRequest, Forbidden
from app.media.probe import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, MediaError, probe_file
from app.services.tasks import TaskContext
from app.db import transaction

log = logging.getLogger(__name__)

FINGERPRINT_CHUNK = 64 * 1024
IMPORT_BATCH = 50


# Linux's limits: a path of at most PATH_MAX - 1 bytes, each name at most NAME_MAX bytes. Checked before
# the path reaches the file system, which would answer ENAMETOOLONG.
MAX_PATH_BYTES = 4095
MAX_NAME_BYTES = 255
OUTSIDE_ROOTS = "outside the library roots (LIBRARY_ROOTS)"


def resolve_library_dir(settings: Settings, raw_path: Any) -> Path:
    """Validate a folder the user asked to import; raise 400/403 with a clear message.

    A refusal says which rule refused the path, never where it led (a symlink such as /proc/self/cwd would
    reveal the server's working directory) nor the configured roots."""
    resolved = _resolve(_requested_path(raw_path))
    if not any(is_within(resolved, root) for root in settings.LIBRARY_ROOTS):
        raise Forbidden(f"the folder is {OUTSIDE_ROOTS}; only folders inside them may be imported",
                        code="path_not_allowed", details={"field": "path", "setting": "LIBRARY_ROOTS"})
    shown = raw_path.strip()
    try:
        info = os.stat(resolved)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise BadRequest(f"folder not found: {shown}", code="path_not_found", details={"path": shown}) from None
        raise unusable(exc) from None
    if not stat.S_ISDIR(info.st_mode):
        raise BadRequest(f"not a folder: {shown}", code="not_a_directory", details={"path": shown})
    if not os.access(resolved, os.R_OK | os.X_OK):
        raise BadRequest(f"folder is not readable: {shown}", code="not_readable", details={"path": shown})
    return resolved


def _requested_path(raw_path: Any) -> Path:
    """The absolute path asked for, checked as text: no NUL, valid UTF-8, within the length limits."""
    if not isinstance(raw_path, str) or not raw_path.strip():
        raise BadRequest("'path' must be a non-empty string naming a folder", details={"field": "path"})
    text = raw_path.strip()
    if "\x00" in text:
        raise BadRequest("'path' contains a NUL character", details={"field": "path"})
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no file has such a name
        raise BadRequest("'path' is not valid Unicode text", details={"field": "path"}) from None
    if len(encoded) > MAX_PATH_BYTES or any(len(part) > MAX_NAME_BYTES for part in encoded.split(b"/")):
        raise BadRequest(f"'path' is too long: at most {MAX_PATH_BYTES} bytes, and {MAX_NAME_BYTES} bytes a name",
                         code="path_too_long", details={"field": "path"})
    if text == "~" or text.startswith("~/"):
        try:
            return Path(text).expanduser()  # the server user's home folder
        except RuntimeError:
            raise BadRequest("'~' cannot be expanded: the server's user has no home folder",
                             details={"field": "path"}) from None
    if text.startswith("~"):
        # ~name would tell whether a user exists; only the server's own ~ is expanded.
        raise BadRequest("'~name' paths are not expanded; give an absolute path", details={"field": "path"})
    candidate = Path(text)
    if not candidate.is_absolute():
        raise BadRequest("'path' must be an absolute path", details={"field": "path", "path": text[:300]})
    return candidate


def _resolve(candidate: Path) -> Path:
    """The path with every symlink and `..` resolved. os.path.realpath, not Path.resolve: in Python 3.11
    the latter raises RuntimeError on a symlink loop; a loop inside a root is reported by the stat after."""
    return Path(os.path.realpath(candidate))


def unusable(exc: OSError) -> BadRequest:
    reasons = {errno.ELOOP: ("symlink_loop", "the path leads into a symlink loop"),
               errno.ENAMETOOLONG: ("path_too_long", "the path is too long once its symlinks are followed"),
               errno.EACCES: ("not_readable", "permission denied on the path")}
    code, message = reasons.get(exc.errno, ("path_unusable", f"the path cannot be read: {exc.strerror}"))
    return BadRequest(message, code=code, details={"field": "path"})


def is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def media_type_for_name(name: str) -> str | None:
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext in VIDEO_EXTENSIONS:
        return "video"
    if ext in IMAGE_EXTENSIONS:
        return "image"
    return None


def walk_media(root: Path, recursive: bool, on_error, roots: Sequence[Path] | None = None
               ) -> Iterator[tuple[str, str | None]]:
    """Yield (path, media type by extension or None) for every file; what is skipped goes to on_error.

    Everything the walk reaches resolves inside `roots` (default: the folder being imported): a symlink
    to a file or folder elsewhere is reported and skipped, as is a symlink loop or a folder reached twice.
    Only symlinks need resolving: any other entry of a folder that resolves inside a root is inside too."""
    base = Path(os.path.realpath(root))
    allowed = [Path(os.path.realpath(r)) for r in roots] if roots else [base]
    outside = OUTSIDE_ROOTS if roots else "outside the folder being imported"
    if not any(is_within(base, r) for r in allowed):
        on_error(str(root), f"the folder is {outside}; skipped")
        return
    seen_dirs: set[tuple[int, int]] = set()
    stack = [(root, base)]
    while stack:
        folder, real = stack.pop()
        try:
            info = os.stat(real)
        except OSError as exc:
            on_error(str(folder), f"cannot read folder: {exc.strerror or exc}")
            continue
        key = (info.st_dev, info.st_ino)
        if key in seen_dirs:
            on_error(str(folder), "folder already visited through another symlink; skipped")
            continue
        seen_dirs.add(key)
        try:  # the folder checked above is the one listed, whatever its path's symlinks say now
            entries = sorted(os.scandir(real), key=lambda e: e.name)
        except OSError as exc:
            on_error(str(folder), f"cannot list folder: {exc.strerror or exc}")
            continue
        subdirs = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            shown = os.path.join(folder, entry.name)  # files keep the path they were found by
            target = entry_target(entry, shown, real, allowed, outside, recursive, on_error)
            if target is None:
                continue
            path, is_dir = target
            if is_dir and is_within(real, path):  # leads back to this folder or one above it
                on_error(shown, "symlink loop: it leads back to a folder above it; not followed")
            elif is_dir:
                subdirs.append((Path(shown), path))
            else:
                yield shown, media_type_for_name(entry.name)
        stack.extend(reversed(subdirs))


def entry_target(entry: os.DirEntry, shown: str, real_folder: Path, allowed: list[Path], outside: str,
                  recursive: bool, on_error) -> tuple[Path, bool] | None:
    """(where the entry really is, whether it is a folder), or None when it is skipped (and reported).
    Plain entries answer from the directory listing; only symlinks cost a stat and a resolve."""
    try:
        if not entry.is_symlink():
            is_dir = entry.is_dir(follow_symlinks=False)
            if (is_dir and not recursive) or not (is_dir or entry.is_file(follow_symlinks=False)):
                return None  # a folder of a flat import; sockets, fifos, devices: not media
            return real_folder / entry.name, is_dir
        target_info = os.stat(entry.path)  # follows the link: ELOOP for a loop, ENOENT when broken
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            on_error(shown, "symlink loop; not followed")
        elif exc.errno in (errno.ENOENT, errno.ENOTDIR):
            on_error(shown, "broken symlink")
        else:
            on_error(shown, f"cannot stat: {exc.strerror or exc}")
        return None
    is_dir = stat.S_ISDIR(target_info.st_mode)
    if (is_dir and not recursive) or not (is_dir or stat.S_ISREG(target_info.st_mode)):
        return None
    target = Path(os.path.realpath(entry.path))
    if not any(is_within(target, r) for r in allowed):
        on_error(shown, f"symlink leads {outside}; skipped")
        return None
    return target, is_dir


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


def run_import(ctx: TaskContext, params: dict[str, Any], roots: Sequence[Path] | None = None) -> dict[str, Any]:
    """Task handler: scan a folder and add new media; re-imports add only what is new. Symlinks are
    followed only where they stay inside `roots` (LIBRARY_ROOTS; without them, inside the folder itself).
    Each file is counted once: imported, updated, moved, skipped_* or failed (with its reason)."""
    root = Path(params["path"])
    recursive = bool(params.get("recursive", True))
    for name in ("imported", "skipped_existing", "skipped_unsupported", "moved", "updated", "failed"):
        ctx.counters.setdefault(name, 0)

    candidates: list[tuple[str, str]] = []
    unsupported = 0
    for path, media_type in walk_media(root, recursive, ctx.fail_item, roots):
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
            else:
                file_id = files_db.insert_file(conn, values)
            if values["status"] == "failed":
                # The row stays in the library with its reason; the file counts as failed, not imported.
                ctx.fail_item(values["path"], values["error"])
                ctx.advance()
            elif existing is not None:
                ctx.advance(updated=1)
            else:
                new_ids.append(file_id)
                ctx.advance(imported=1)


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

