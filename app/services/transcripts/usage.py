"""Transcription in the usage report: minutes of audio, billed minutes and cost per day, beside Nova's."""
from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from typing import Any

from app.db import transcripts as transcripts_db


def transcription_usage(conn: sqlite3.Connection, start: date, end: date) -> dict[str, Any]:
    """Jobs finished in start..end (inclusive): totals, per backend and per day; free subtitle transcripts."""
    lo, hi = start.isoformat(), (end + timedelta(days=1)).isoformat()
    rows = transcripts_db.usage_per_day(conn, lo, hi)
    by_backend: dict[str, dict[str, Any]] = {}
    per_day: dict[str, dict[str, Any]] = {}
    for row in rows:
        for bucket in (by_backend.setdefault(row["backend"], {"backend": row["backend"]}),
                       per_day.setdefault(row["day"], {"day": row["day"]})):
            for key in ("jobs", "completed", "failed", "audio_seconds", "billed_seconds", "cost_usd"):
                bucket[key] = bucket.get(key, 0) + (row[key] or 0)

    def shaped(bucket: dict[str, Any]) -> dict[str, Any]:
        return {**bucket, "minutes": round(bucket.get("audio_seconds", 0) / 60, 2),
                "billed_minutes": round(bucket.get("billed_seconds", 0) / 60, 2),
                "cost_usd": round(bucket.get("cost_usd", 0), 6)}

    totals = shaped({key: sum(b.get(key, 0) for b in by_backend.values())
                     for key in ("jobs", "completed", "failed", "audio_seconds", "billed_seconds", "cost_usd")})
    return {**totals, "from_subtitles": transcripts_db.subtitle_transcripts(conn, lo, hi),
            "by_backend": [shaped(b) for b in by_backend.values()],
            "per_day": [shaped(d) for _, d in sorted(per_day.items())]}
