"""SQL for transcripts (tables transcripts and transcript_segments) and the transcription usage report."""
from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any, Iterable, Sequence

from app.utils.clock import iso
from app.utils.sqlite import in_batches

SOURCES = ("aws", "local", "subtitle_stream", "sidecar")
# (start_seconds, end_seconds, speaker or None, text)
SegmentRow = tuple[float, float, "str | None", str]

_WRITABLE = ("source", "source_detail", "language", "language_score", "text", "note", "segment_count",
             "speaker_count", "audio_seconds", "billed_seconds", "cost_usd", "job_id")


def save_transcript(conn: sqlite3.Connection, file_id: int, values: dict[str, Any], segments: Sequence[SegmentRow],
                    now: datetime) -> int:
    """Create or replace the file's transcript (its id is kept) with these segments; the transcript id.
    The caller owns the transaction, so readers never see a transcript without its segments."""
    unknown = set(values) - set(_WRITABLE)
    if unknown:
        raise ValueError(f"not transcript columns: {sorted(unknown)}")
    row = {name: values.get(name) for name in _WRITABLE}
    row["segment_count"] = len(segments)
    row["speaker_count"] = len({s[2] for s in segments if s[2]})
    row["billed_seconds"] = row["billed_seconds"] or 0
    row["cost_usd"] = row["cost_usd"] or 0
    stamp = iso(now)
    # Not an UPSERT: its conflict clause would override the OR IGNORE of the search triggers (migration 0010).
    found = conn.execute("SELECT id FROM transcripts WHERE file_id = ?", (file_id,)).fetchone()
    if found is None:
        transcript_id = conn.execute(
            f"INSERT INTO transcripts (file_id, {', '.join(_WRITABLE)}, created_at, updated_at)"
            f" VALUES (?, {', '.join('?' * len(_WRITABLE))}, ?, ?)", (file_id, *row.values(), stamp, stamp)).lastrowid
    else:
        transcript_id = found[0]
        conn.execute(f"UPDATE transcripts SET {', '.join(f'{name} = ?' for name in _WRITABLE)}, updated_at = ?"
                     " WHERE id = ?", (*row.values(), stamp, transcript_id))
    conn.execute("DELETE FROM transcript_segments WHERE transcript_id = ?", (transcript_id,))
    conn.executemany(
        "INSERT INTO transcript_segments (transcript_id, seq, start_seconds, end_seconds, speaker, text)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [(transcript_id, seq, start, end, speaker, text) for seq, (start, end, speaker, text) in enumerate(segments)])
    return int(transcript_id)


def get_transcript(conn: sqlite3.Connection, file_id: int) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM transcripts WHERE file_id = ?", (file_id,)).fetchone()


def delete_transcript(conn: sqlite3.Connection, file_id: int) -> bool:
    return conn.execute("DELETE FROM transcripts WHERE file_id = ?", (file_id,)).rowcount == 1


def list_segments(conn: sqlite3.Connection, transcript_id: int, *, start: float | None = None,
                  end: float | None = None) -> list[sqlite3.Row]:
    """Segments in order; with start/end only those overlapping [start, end)."""
    sql = "SELECT seq, start_seconds, end_seconds, speaker, text FROM transcript_segments WHERE transcript_id = ?"
    params: list[Any] = [transcript_id]
    if start is not None:
        sql += " AND end_seconds > ?"
        params.append(start)
    if end is not None:
        sql += " AND start_seconds < ?"
        params.append(end)
    return conn.execute(sql + " ORDER BY seq", params).fetchall()


def sources_by_file(conn: sqlite3.Connection, file_ids: Iterable[int]) -> dict[int, str]:
    """{file id: transcript source} for the files of these ids that have a transcript."""
    found: dict[int, str] = {}
    for part, marks in in_batches(file_ids):
        found.update((row[0], row[1]) for row in conn.execute(
            f"SELECT file_id, source FROM transcripts WHERE file_id IN ({marks})", part))
    return found


def text_sizes_by_file(conn: sqlite3.Connection, file_ids: Iterable[int],
                       line_overhead_bytes: int) -> dict[int, int]:
    """{file id: UTF-8 bytes of its segment texts plus `line_overhead_bytes` a segment}, for estimates."""
    sizes: dict[int, int] = {}
    for part, marks in in_batches(file_ids):
        sizes.update((row[0], row[1] or 0) for row in conn.execute(
            "SELECT t.file_id, SUM(length(CAST(s.text AS BLOB)) + ?) FROM transcripts t"
            " JOIN transcript_segments s ON s.transcript_id = t.id"
            f" WHERE t.file_id IN ({marks}) AND s.text <> '' GROUP BY t.file_id", [line_overhead_bytes, *part]))
    return sizes


# ---- usage -----------------------------------------------------------------------------------

_JOB_DAY = "substr(completed_at, 1, 10)"


def usage_per_day(conn: sqlite3.Connection, start: str, end: str) -> list[sqlite3.Row]:
    """Finished jobs per UTC day and backend: count, audio and billed seconds, cost (end exclusive)."""
    return conn.execute(
        f"SELECT {_JOB_DAY} AS day, backend, COUNT(*) AS jobs, SUM(status = 'COMPLETED') AS completed,"
        " SUM(status = 'FAILED') AS failed, COALESCE(SUM(audio_seconds), 0) AS audio_seconds,"
        " COALESCE(SUM(billed_seconds), 0) AS billed_seconds, COALESCE(SUM(cost_usd), 0) AS cost_usd"
        " FROM transcription_jobs WHERE completed_at IS NOT NULL"
        f" AND {_JOB_DAY} >= ? AND {_JOB_DAY} < ? GROUP BY day, backend ORDER BY day, backend",
        (start, end)).fetchall()


def subtitle_transcripts(conn: sqlite3.Connection, start: str, end: str) -> int:
    """Transcripts taken from subtitles (free) created in the range."""
    return conn.execute(
        "SELECT COUNT(*) FROM transcripts WHERE source IN ('sidecar', 'subtitle_stream')"
        " AND substr(created_at, 1, 10) >= ? AND substr(created_at, 1, 10) < ?", (start, end)).fetchone()[0]
