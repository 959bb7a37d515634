"""Still frames of a video at a given time, for search moments: cut from the proxy once, then cached on disk
beside it (named by the file's fingerprint, so a reused file id never shows another file's frame)."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from app.config import Settings
from app.errors import BadRequest
from app.media.thumbnails import extract_frame_jpeg
from app.services import library
from app.services.derivatives import derivative_dir
from app.services.params import float_param

FRAME_WIDTH = 320
STEP_SECONDS = 0.5  # times are rounded to this, which bounds the cache to two frames per second of video


def frame_path(settings: Settings, conn: sqlite3.Connection, file_id: int, t: object) -> Path:
    """The JPEG of the frame shown at `t` seconds (validated; past the end, the last frame)."""
    proxy, row = library.derivative_path(settings, conn, file_id, "proxy")
    if row["media_type"] != "video":
        raise BadRequest(f"file {file_id} is not a video", code="not_a_video", details={"file_id": file_id})
    limit = float(row["duration_seconds"] or 0.0) + STEP_SECONDS
    seconds = round(float_param("t", t, 0.0, max(limit, STEP_SECONDS)) / STEP_SECONDS) * STEP_SECONDS
    target = derivative_dir(settings, file_id) / "frames" / f"{row['fingerprint'][:16]}-{int(seconds * 1000)}.jpg"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        extract_frame_jpeg(proxy, seconds, target, FRAME_WIDTH)
    return target
