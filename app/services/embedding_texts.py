"""The texts of a file that get text vectors: what its latest completed analysis says (one summary text and
one per chapter, with its time range) and what is said in it (its transcript, in windows of about a minute).
Each source is a function registered in TEXT_SOURCES, one line each.

Every text starts with the file's name and folder, so a search by meaning also weighs what the user called
the file.
"""
from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Callable

from app.db import analysis as analysis_db
from app.db import search as search_db
from app.db import transcripts as transcripts_db
from app.inference.embeddings.base import MAX_SYNC_TEXT_CHARS
from app.utils.shapes import obj, objs, strings


@dataclass(frozen=True)
class TextItem:
    """One text to embed: its kind (summary, chapter, transcript), where it is in the file, and the text."""

    kind: str
    source: str
    text: str
    start_seconds: float | None = None
    end_seconds: float | None = None
    label: str | None = None

    @property
    def content_hash(self) -> str:
        key = f"{self.kind}|{self.source}|{self.start_seconds}|{self.end_seconds}|{self.label}|{self.text}"
        return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


TextSource = Callable[[sqlite3.Connection, sqlite3.Row], list[TextItem]]


def analysis_texts(conn: sqlite3.Connection, file: sqlite3.Row) -> list[TextItem]:
    """The summary (with description, keywords, classification) and each chapter of the latest completed run."""
    run_id = search_db.latest_completed_run_id(conn, file["id"])
    if run_id is None:
        return []
    run = analysis_db.get_run(conn, run_id)
    results = analysis_db.run_to_dict(run, analysis_db.list_results(conn, [run_id])[run_id])["results"]
    title = title_of(file)
    source = f"analysis:{run_id}"
    summary = obj(results.get("summary"))
    description = obj(results.get("description"))
    meta = obj(results.get("search_metadata")) or obj(results.get("metadata"))
    waterfall = obj(results.get("waterfall_classification"))
    parts = [summary.get("text"), *strings(summary.get("key_points")), description.get("text"),
             description.get("scene_type"), description.get("primary_subject"), *strings(description.get("key_points")),
             " ".join(strings(meta.get("keywords"))), " ".join(strings(waterfall.get("search_tags")))]
    items = []
    body = _join(parts)
    if body:
        items.append(TextItem("summary", source, _cut(f"{title}. {body}"), 0.0, file["duration_seconds"]))
    for chapter in objs(obj(results.get("chapters")).get("chapters")):
        text = _join([chapter.get("title"), chapter.get("summary"), *strings(chapter.get("key_points"))])
        if text:
            items.append(TextItem("chapter", source, _cut(f"{title}. {text}"), _number(chapter.get("start_seconds")),
                                  _number(chapter.get("end_seconds")), _label(chapter.get("title"))))
    return items


TRANSCRIPT_WINDOW_SECONDS = 60.0


def transcript_texts(conn: sqlite3.Connection, file: sqlite3.Row) -> list[TextItem]:
    """The transcript's lines gathered into windows of about a minute, each a text vector with its time range,
    so a query finds the moment something was said."""
    transcript = transcripts_db.get_transcript(conn, file["id"])
    if transcript is None or not transcript["text"].strip():
        return []
    title, source = title_of(file), f"transcript:{transcript['id']}"
    items: list[TextItem] = []
    window: list[sqlite3.Row] = []
    for segment in [*transcripts_db.list_segments(conn, transcript["id"]), None]:
        if window and (segment is None or segment["end_seconds"] - window[0]["start_seconds"]
                       > TRANSCRIPT_WINDOW_SECONDS):
            text = _join([line["text"] for line in window])
            if text:
                items.append(TextItem("transcript", source, _cut(f"{title}. {text}"), window[0]["start_seconds"],
                                      window[-1]["end_seconds"]))
            window = []
        if segment is not None:
            window.append(segment)
    return items


# Where text vectors come from, in order: one function per line.
TEXT_SOURCES: list[TextSource] = [
    analysis_texts,
    transcript_texts,
]


def file_texts(conn: sqlite3.Connection, file: sqlite3.Row) -> list[TextItem]:
    return [item for source in TEXT_SOURCES for item in source(conn, file)]


def title_of(file: sqlite3.Row) -> str:
    folder = PurePosixPath(file["folder"] or "/").name
    return f"{file['name']} in {folder}" if folder else str(file["name"])


def _join(parts: list[Any]) -> str:
    return " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())


def _cut(text: str) -> str:
    return text[:MAX_SYNC_TEXT_CHARS]


def _label(value: Any) -> str | None:
    return value.strip()[:200] if isinstance(value, str) and value.strip() else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


