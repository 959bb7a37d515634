"""What a Nova prompt says about a file besides its media: its name, folder, dates and place, which part of a
long video a segment is, and what is said in the media sent (its transcript, trimmed to a token budget)."""
from __future__ import annotations

import dataclasses
import sqlite3
from typing import Iterable, Mapping

from app.config import Settings
from app.nova.prompts import FileContext, SegmentContext
from app.services import transcripts


def file_context(row: sqlite3.Row) -> FileContext:
    """The file's own facts, without a transcript (with_transcript adds it)."""
    gps = None
    if row["gps_latitude"] is not None and row["gps_longitude"] is not None:
        gps = (row["gps_latitude"], row["gps_longitude"])
    exif_date = row["created_at"] if row["created_source"] == "exif" else None
    return FileContext(name=row["name"], folder=row["folder"], duration_seconds=row["duration_seconds"],
                       exif_date=exif_date, gps=gps, camera=row["camera"], media_type=row["media_type"])


def segment_context(ctx: FileContext, segment: sqlite3.Row, count: int) -> FileContext:
    """The file's prompt context for one segment: which part of the whole it is (times relative to it)."""
    return dataclasses.replace(ctx, segment=SegmentContext(
        segment["segment_index"], count, segment["start_seconds"], segment["end_seconds"], ctx.duration_seconds))


def with_transcript(conn: sqlite3.Connection, settings: Settings, ctx: FileContext, file_id: int) -> FileContext:
    """ctx with what is said in the media it describes: the whole video's transcript, or for a segment the
    lines overlapping it with times from its start; unchanged for images, without a transcript, or with
    TRANSCRIPT_PROMPT_TOKENS=0."""
    if ctx.media_type != "video" or settings.TRANSCRIPT_PROMPT_TOKENS <= 0:
        return ctx
    segment = ctx.segment
    text = transcripts.prompt_excerpt(
        conn, file_id, start_seconds=segment.start_seconds if segment else None,
        end_seconds=segment.end_seconds if segment else None, max_tokens=settings.TRANSCRIPT_PROMPT_TOKENS,
        time_offset=segment.start_seconds if segment else 0.0)
    return dataclasses.replace(ctx, transcript=text) if text else ctx


def transcript_tokens(conn: sqlite3.Connection, settings: Settings, rows: Iterable[sqlite3.Row]) -> Mapping[int, int]:
    """{video id: tokens of its whole transcript as prompt lines} for estimating many files at once (one
    query); files without words are left out. Not capped: the planner caps each request at the budget."""
    if settings.TRANSCRIPT_PROMPT_TOKENS <= 0:
        return {}
    videos = [row["id"] for row in rows if row["media_type"] == "video"]
    return transcripts.prompt_tokens_by_file(conn, videos, max_tokens=2**31) if videos else {}
