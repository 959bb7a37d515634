"""The files of a segmented run's segments: cut from the proxy (app/media/segments.py, reused while the proxy
is unchanged), their real bounds recorded on the run's segments, and the media block or staged key of each."""
from __future__ import annotations

import base64
import sqlite3
from pathlib import Path
from typing import Any

from app.db import segments as segments_db
from app.db import transaction
from app.media.errors import MediaError
from app.media.segments import SegmentFile, ensure_segments
from app.nova.requests import video_media_s3
from app.services.context import Services
from app.storage.base import ObjectNotFound
from app.utils.filename_sanitizer import sanitize_filename

# Nova takes up to 25 MB inline (docs/bedrock-facts.md §2 Media input); larger pieces go by S3 URI.
INLINE_VIDEO_MAX_BYTES = 20 * 1024 * 1024


def run_pieces(conn: sqlite3.Connection, run: sqlite3.Row, row: sqlite3.Row, proxy_path: Path) -> list[SegmentFile]:
    """Every piece of the run's video (cut now unless made before), with the run's segments moved to the
    bounds the pieces really have; MediaError when the video no longer cuts as it did when the run began."""
    pieces = ensure_segments(proxy_path, duration=row["duration_seconds"], segment_seconds=run["segment_seconds"],
                             overlap=run["segment_overlap"])
    segments = segments_db.list_segments(conn, [run["id"]]).get(run["id"], [])
    if len(pieces) != len(segments):
        raise MediaError(f"the video now cuts into {len(pieces)} segments, not {len(segments)} as when this "
                         "analysis began; analyse it again")
    with transaction(conn):
        segments_db.set_bounds(conn, run["id"], [(p.index, p.start_seconds, p.end_seconds) for p in pieces])
    return pieces


def piece_key(row: sqlite3.Row, run: sqlite3.Row, index: int) -> str:
    """Where an on-demand call puts a piece too big to send inline (like analysis.media_block's proxy key)."""
    return (f"media/{row['id']}/{row['fingerprint'][:16]}/segments/{run['segment_seconds']}s-"
            f"{run['segment_overlap']}s/seg{index:03d}.mp4")


def staged_name(row: sqlite3.Row, index: int) -> str:
    """A piece's safe object name under a chunk's files/ folder, unique per file and segment."""
    return sanitize_filename(row["name"], f"{row['id']}-seg{index:03d}", extension=".mp4")


def media_block(services: Services, row: sqlite3.Row, run: sqlite3.Row, piece: SegmentFile) -> dict[str, Any]:
    """The video content block of one piece for an on-demand call: inline when small, else by URI."""
    if piece.size_bytes <= INLINE_VIDEO_MAX_BYTES:
        data = base64.b64encode(piece.path.read_bytes()).decode("ascii")
        return {"video": {"format": "mp4", "source": {"bytes": data}}}
    key = piece_key(row, run, piece.index)
    try:
        present = services.store.head(key).size == piece.size_bytes
    except ObjectNotFound:
        present = False
    if not present:
        services.store.put_file(key, piece.path, content_type="video/mp4")
    return video_media_s3(services.store.uri(key), "mp4")
