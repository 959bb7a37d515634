"""Files uploaded through the API: content sniffed, size limits enforced, stored under DATA_DIR/uploads."""
from __future__ import annotations

import os
import re
import sqlite3
import unicodedata
import uuid
from pathlib import Path
from typing import Any

from app.config import Settings
from app.db import files as files_db
from app.db import transaction
from app.errors import AppError, PayloadTooLarge, UnsupportedMedia
from app.media.probe import sniff_media_type
from app.services import importing, library

MB = 1024 * 1024
# A file name is at most 255 bytes on Linux, macOS and Windows file systems (NAME_MAX); 90 CJK characters
# are 270 bytes, so names are cut by bytes, not characters.
MAX_NAME_BYTES = 255
MAX_EXTENSION_BYTES = 16


def size_limit_for(settings: Settings, filename: str | None) -> int:
    """The byte limit while streaming: by extension first; content is checked after."""
    kind = importing.media_type_for_name(filename or "")
    if kind == "image":
        return settings.MAX_IMAGE_SIZE_MB * MB
    return settings.MAX_VIDEO_SIZE_MB * MB


def incoming_dir(settings: Settings) -> Path:
    path = settings.uploads_dir / ".incoming"
    path.mkdir(parents=True, exist_ok=True)
    return path


def display_name(filename: str | None) -> str:
    """The user's file name made safe to store as one path segment: no separators, no control characters,
    valid UTF-8 and at most MAX_NAME_BYTES bytes (the extension kept), as file systems count bytes."""
    name = unicodedata.normalize("NFC", filename or "")
    name = name.encode("utf-8", "replace").decode("utf-8")  # a lone surrogate becomes "?"
    name = name.replace("/", "_").replace("\\", "_")
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip().lstrip(".")
    return _cut_to_bytes(name, MAX_NAME_BYTES) or "upload"


def _cut_to_bytes(name: str, limit: int) -> str:
    """name in at most limit UTF-8 bytes: the stem is cut on a character boundary, the extension kept."""
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext.encode("utf-8")) > MAX_EXTENSION_BYTES:
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    budget = limit - len(suffix.encode("utf-8"))
    return stem.encode("utf-8")[:budget].decode("utf-8", "ignore").rstrip() + suffix


def store_upload(conn: sqlite3.Connection, settings: Settings, filename: str | None, temp_path: Path) -> dict[str, Any]:
    """Check what the bytes really are, move them into place and add the file to the library. On any
    failure nothing is left behind: not the temp file, the file moved into place nor its folder."""
    kind = sniff_media_type(temp_path)
    size = temp_path.stat().st_size
    if kind is None:
        temp_path.unlink(missing_ok=True)
        raise UnsupportedMedia(f"{display_name(filename)!r} is not a supported video or image",
                               code="unsupported_media", details={"filename": display_name(filename)})
    if kind == "image" and size > settings.MAX_IMAGE_SIZE_MB * MB:
        temp_path.unlink(missing_ok=True)
        raise PayloadTooLarge(f"image exceeds MAX_IMAGE_SIZE_MB={settings.MAX_IMAGE_SIZE_MB}",
                              details={"filename": display_name(filename), "limit_mb": settings.MAX_IMAGE_SIZE_MB})
    target_dir = settings.uploads_dir / uuid.uuid4().hex[:12]
    target = target_dir / display_name(filename)
    try:
        target_dir.mkdir(parents=True, exist_ok=False)
        os.replace(temp_path, target)
        info = target.stat()
        values = importing.file_values(str(target), info, importing.fingerprint_file(str(target), info.st_size),
                                       kind, "upload")
        with transaction(conn):
            file_id = files_db.insert_file(conn, values)
    except BaseException:
        temp_path.unlink(missing_ok=True)
        target.unlink(missing_ok=True)
        if target_dir.is_dir():
            target_dir.rmdir()
        raise
    return library.file_to_dict(files_db.get_file(conn, file_id))


def store_uploads(conn: sqlite3.Connection, settings: Settings, received: list[tuple[str | None, Path]]) -> dict[str, Any]:
    """Store every received (filename, temp file); {"items", "errors"} when at least one was stored.
    When none was, the error itself (413 if one was too large, else the first file's), each file's
    error in its details, so the answer has the API's error shape."""
    stored: list[dict[str, Any]] = []
    failures: list[tuple[str, AppError]] = []
    for filename, temp in received:
        try:
            stored.append(store_upload(conn, settings, filename, temp))
        except AppError as exc:
            failures.append((display_name(filename), exc))
    errors = [{"filename": name, **exc.to_dict()["error"]} for name, exc in failures]
    if stored or not failures:
        return {"items": stored, "errors": errors}
    first = next((exc for _, exc in failures if exc.status == PayloadTooLarge.status), failures[0][1])
    message = first.message if len(failures) == 1 else f"none of the {len(failures)} files was stored: {first.message}"
    error = type(first)(message, code=first.code, details={"errors": errors})
    raise error
