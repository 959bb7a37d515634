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
from app.errors import PayloadTooLarge, UnsupportedMedia
from app.media.probe import sniff_media_type
from app.services import importing, library

MB = 1024 * 1024


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
    """The user's file name made safe to store as one path segment (no separators, no control chars)."""
    name = unicodedata.normalize("NFC", filename or "")
    name = name.replace("/", "_").replace("\\", "_")
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip().lstrip(".")
    return name[:200] or "upload"


def store_upload(conn: sqlite3.Connection, settings: Settings, filename: str | None, temp_path: Path) -> dict[str, Any]:
    """Check what the bytes really are, move them into place and add the file to the library."""
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
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / display_name(filename)
    os.replace(temp_path, target)
    info = target.stat()
    values = importing.file_values(str(target), info, importing.fingerprint_file(str(target), info.st_size), kind, "upload")
    with transaction(conn):
        file_id = files_db.insert_file(conn, values)
    return library.file_to_dict(files_db.get_file(conn, file_id))
