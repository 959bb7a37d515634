"""Merging segment answers, part one: times. Each segment answers with times relative to its own start; the
merged result has times in the full video, chapters that straddle a boundary joined, and time ranges unioned.

Pure functions over validated results (docs/analysis-contract.md, "Segments of long videos").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from app.nova.contract import MAX_KEY_POINTS, MAX_TIME_RANGES

# Merged results are bigger than one answer; their lists stay bounded all the same.
MAX_MERGED_CHAPTERS = 1000
# Two ranges this close (seconds) are one: a thing seen until 59.5 s and again from 60 s was seen throughout.
RANGE_JOIN_SECONDS = 1.0
# A chapter of each side of a boundary that share at least this much of the overlap are the same chapter.
MIN_SHARED_SECONDS = 1.0


@dataclass(frozen=True)
class SegmentAnswer:
    """One segment's validated answer: segment `index` covered `start`..`end` of the full video, and its
    times are seconds from `start`."""

    index: int
    start: float
    end: float
    result: dict[str, Any]


def _seconds(value: float) -> float:
    return float(round(value, 3))


def shift_range(item: Any, offset: float, low: float, high: float) -> dict[str, float] | None:
    """A {start_seconds, end_seconds} moved by `offset` and clipped to [low, high]; None when nothing is left."""
    if not isinstance(item, dict):
        return None
    start, end = item.get("start_seconds"), item.get("end_seconds")
    if not isinstance(start, (int, float)) or not isinstance(end, (int, float)):
        return None
    start, end = max(low, min(high, start + offset)), max(low, min(high, end + offset))
    if end < start:
        return None
    return {"start_seconds": _seconds(start), "end_seconds": _seconds(end)}


def shifted_ranges(ranges: Any, answer: SegmentAnswer, duration: float) -> list[dict[str, float]]:
    """A segment's time ranges in full-video seconds, inside the segment and the video."""
    out = []
    for item in ranges if isinstance(ranges, list) else ():
        moved = shift_range(item, answer.start, answer.start, min(answer.end, duration))
        if moved is not None:
            out.append(moved)
    return out


def union_ranges(ranges: Iterable[dict[str, float]], limit: int = MAX_TIME_RANGES) -> list[dict[str, float]]:
    """Sorted ranges with overlapping and touching ones joined; over `limit`, the smallest gaps are closed."""
    ordered = sorted(((r["start_seconds"], r["end_seconds"]) for r in ranges))
    joined: list[list[float]] = []
    for start, end in ordered:
        if joined and start <= joined[-1][1] + RANGE_JOIN_SECONDS:
            joined[-1][1] = max(joined[-1][1], end)
        else:
            joined.append([start, end])
    if len(joined) > limit:
        gaps = sorted(range(1, len(joined)), key=lambda i: (joined[i][0] - joined[i - 1][1], i))
        close = set(gaps[:len(joined) - limit])
        kept: list[list[float]] = []
        for i, item in enumerate(joined):
            if i in close:
                kept[-1][1] = max(kept[-1][1], item[1])
            else:
                kept.append(item)
        joined = kept
    return [{"start_seconds": _seconds(s), "end_seconds": _seconds(e)} for s, e in joined]


def merge_chapters(answers: list[SegmentAnswer], duration: float) -> dict[str, Any]:
    """The chapters of every segment in full-video time; a chapter cut by a segment's end and the one the
    next segment starts with are joined when they share the overlap, then the whole list is made
    sequential (sorted, each ending where the next starts) and kept inside the video."""
    merged: list[dict[str, Any]] = []
    previous_end: float | None = None
    for answer in sorted(answers, key=lambda a: a.index):
        chapters = answer.result.get("chapters") if isinstance(answer.result, dict) else None
        moved = []
        for chapter in chapters if isinstance(chapters, list) else ():
            span = shift_range(chapter, answer.start, answer.start, min(answer.end, duration))
            if span is None or span["end_seconds"] <= span["start_seconds"]:
                continue
            moved.append({**chapter, **span, "key_points": list(chapter.get("key_points") or [])})
        moved.sort(key=lambda c: c["start_seconds"])
        if previous_end is not None and previous_end > answer.start:
            _join_across_boundary(merged, moved, answer.start, previous_end)
        else:
            merged.extend(moved)
        previous_end = answer.end
    return {"chapters": _sequential(merged, duration)}


def _join_across_boundary(merged: list[dict[str, Any]], incoming: list[dict[str, Any]], low: float,
                          high: float) -> None:
    """Add a segment's chapters after those merged so far; the overlap of the two segments is [low, high],
    and a chapter on each side that share enough of it are one chapter seen twice."""
    left = [c for c in merged if c["end_seconds"] > low]
    right = [c for c in incoming if c["start_seconds"] < high]  # a prefix: incoming is sorted by start
    pairs = sorted(((_shared(a, b, low, high), i, j) for i, a in enumerate(left) for j, b in enumerate(right)),
                   key=lambda p: (-p[0], p[1], p[2]))
    used_left: set[int] = set()
    joined: set[int] = set()
    for shared, i, j in pairs:
        if shared < MIN_SHARED_SECONDS or i in used_left or j in joined:
            continue
        used_left.add(i)
        joined.add(j)
        _absorb(left[i], right[j])
    merged.extend(chapter for j, chapter in enumerate(incoming) if j not in joined)


def _shared(a: dict[str, Any], b: dict[str, Any], low: float, high: float) -> float:
    """Seconds of the overlap window [low, high] that chapters a and b both cover."""
    return min(a["end_seconds"], b["end_seconds"], high) - max(a["start_seconds"], b["start_seconds"], low)


def _absorb(kept: dict[str, Any], other: dict[str, Any]) -> None:
    """One chapter from two views of it: the longer view's title and summary, both views' key points."""
    if other["end_seconds"] - other["start_seconds"] > kept["end_seconds"] - kept["start_seconds"]:
        kept["title"] = other.get("title") or kept.get("title")
        kept["summary"] = other.get("summary") or kept.get("summary")
    kept["start_seconds"] = min(kept["start_seconds"], other["start_seconds"])
    kept["end_seconds"] = max(kept["end_seconds"], other["end_seconds"])
    kept["key_points"] = unique_strings([*kept["key_points"], *(other.get("key_points") or [])], MAX_KEY_POINTS)


def _sequential(chapters: list[dict[str, Any]], duration: float) -> list[dict[str, Any]]:
    """Sorted by start, inside [0, duration], each ending at or before the next start, none empty."""
    ordered = sorted(chapters, key=lambda c: (c["start_seconds"], c["end_seconds"]))
    out: list[dict[str, Any]] = []
    for i, chapter in enumerate(ordered):
        start = max(0.0, chapter["start_seconds"])
        end = min(chapter["end_seconds"], duration)
        if i + 1 < len(ordered):
            end = min(end, ordered[i + 1]["start_seconds"])
        if end - start <= 0:
            continue
        out.append({"title": chapter.get("title") or f"Chapter {len(out) + 1}", "start_seconds": _seconds(start),
                    "end_seconds": _seconds(end), "summary": chapter.get("summary") or "",
                    "key_points": chapter.get("key_points") or []})
        if len(out) >= MAX_MERGED_CHAPTERS:
            break
    return out


def unique_strings(values: Iterable[Any], limit: int) -> list[str]:
    """Strings in first-seen order without case-insensitive repeats, at most `limit`."""
    out: list[str] = []
    seen: set[str] = set()
    for value in values:
        if not isinstance(value, str) or not value.strip():
            continue
        key = " ".join(value.casefold().split())
        if key in seen:
            continue
        seen.add(key)
        out.append(value)
        if len(out) >= limit:
            break
    return out


def ranked_strings(lists: Iterable[Iterable[Any]], limit: int) -> list[str]:
    """Strings from several lists, most often named first (then first seen), without repeats."""
    counts: dict[str, int] = {}
    first: dict[str, tuple[int, str]] = {}
    order = 0
    for values in lists:
        seen_here: set[str] = set()
        for value in values or ():
            if not isinstance(value, str) or not value.strip():
                continue
            key = " ".join(value.casefold().split())
            if key not in first:
                first[key] = (order, value)
                order += 1
            if key not in seen_here:
                counts[key] = counts.get(key, 0) + 1
                seen_here.add(key)
    keys = sorted(first, key=lambda k: (-counts[k], first[k][0]))
    return [first[k][1] for k in keys[:limit]]
