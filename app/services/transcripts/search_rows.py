"""A transcript's rows in the full-text index: one per line with the time it is said, so a hit opens the player
at that moment (services/search.py). A transcript with more lines than MAX_ROWS puts a few lines in a row."""
from __future__ import annotations

import math
import sqlite3

from app.db import transcripts as transcripts_db

FIELD = "transcript"
MAX_ROWS = 2_000  # of the index's 4,096 rows per file (db/search.py), the rest stay for the analysis


def transcript_rows(conn: sqlite3.Connection, file_id: int) -> list[tuple[str, float | None, str]]:
    """(field, start_seconds, text) rows of the file's transcript; none without words."""
    transcript = transcripts_db.get_transcript(conn, file_id)
    if transcript is None or not transcript["text"]:
        return []
    segments = [s for s in transcripts_db.list_segments(conn, transcript["id"]) if s["text"]]
    per_row = max(1, math.ceil(len(segments) / MAX_ROWS))
    return [(FIELD, segments[n]["start_seconds"], " ".join(s["text"] for s in segments[n:n + per_row]))
            for n in range(0, len(segments), per_row)]
