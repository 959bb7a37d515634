"""Validators of the text sections: summary (video), description (image) and chapters (video)."""
from __future__ import annotations

import operator

from app.nova.cleaning import paragraphs
from app.nova.contract import DEPTHS, MAX_CHAPTERS, MAX_KEY_POINTS, MAX_PARAGRAPH, MAX_TEXT
from app.nova.times import END_KEYS, START_KEYS, seconds_at
from app.nova.values import Run, fast_round, first_items, is_scalar, optional_line, str_list

_START_OF = operator.itemgetter("start_seconds")


def summary_section(data: dict, run: Run) -> dict:
    """The summary result."""
    raw = data.get("text", data.get("summary"))
    text = paragraphs(raw, MAX_TEXT) if is_scalar(raw) else ""
    if not text:
        run.warn("summary text missing")
    depth = run.options.get("summary_depth") or data.get("depth")
    return {
        "text": text,
        "depth": depth if depth in DEPTHS else "standard",
        "language": optional_line(data.get("language"), 40),
        "key_points": str_list(data.get("key_points"), MAX_KEY_POINTS, 500),
    }


def description_section(data: dict, run: Run) -> dict:
    """The image description result."""
    raw = data.get("text", data.get("description", data.get("overview")))
    text = paragraphs(raw, MAX_TEXT) if is_scalar(raw) else ""
    if not text:
        run.warn("description text missing")
    return {
        "text": text,
        "scene_type": optional_line(data.get("scene_type"), 100),
        "primary_subject": optional_line(data.get("primary_subject")),
        "key_points": str_list(data.get("key_points"), MAX_KEY_POINTS, 500),
    }


def chapters_section(data: dict, run: Run) -> dict:
    """Chapters ordered by start, inside [0, duration], non-overlapping, non-empty."""
    raw = data.get("chapters")
    if raw is not None and not isinstance(raw, list):
        run.warn("chapters is not a list")
    items = first_items(raw, MAX_CHAPTERS)
    duration = run.duration
    chapters = []
    for item in items:
        if not isinstance(item, dict):
            continue
        start = seconds_at(item, START_KEYS)
        if start is None:
            run.warn("dropped a chapter without a usable start time")
            continue
        summary = item.get("summary")
        chapters.append({
            "title": optional_line(item.get("title"), 200),
            "start_seconds": start,
            "end_seconds": seconds_at(item, END_KEYS),
            "summary": paragraphs(summary, MAX_PARAGRAPH) if is_scalar(summary) else "",
            "key_points": str_list(item.get("key_points"), MAX_KEY_POINTS, 500),
        })
    chapters.sort(key=_START_OF)
    kept = []
    for i, chapter in enumerate(chapters):
        next_start = chapters[i + 1]["start_seconds"] if i + 1 < len(chapters) else None
        end = chapter["end_seconds"]
        if end is None:
            end = next_start if next_start is not None else duration
        if end is None:
            run.warn("dropped a chapter without an end time")
            continue
        start = chapter["start_seconds"]
        if next_start is not None and end > next_start:
            end = next_start  # chapters are sequential; an overlap means the model misjudged an end
        if duration is not None:
            if start >= duration:
                run.warn("dropped a chapter starting after the end of the video")
                continue
            end = min(end, duration)
        if end <= start:
            run.warn("dropped a chapter whose end is not after its start")
            continue
        chapter["start_seconds"], chapter["end_seconds"] = fast_round(start, 3), fast_round(end, 3)
        kept.append(chapter)
    for number, chapter in enumerate(kept, start=1):
        if not chapter["title"]:
            chapter["title"] = f"Chapter {number}"
    if not kept:
        run.warn("no usable chapters")
    return {"chapters": kept}
