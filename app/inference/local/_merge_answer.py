"""The offline answer to a summary merge (docs/analysis-contract.md, "The summary merge").

Nova writes one summary of a segmented video from its segments' summaries. The local analyser cannot
understand text, so it says so and assembles the summary: each segment's opening sentence under its time
span (depth decides how much), and the segments' key points taken in turn.
"""
from __future__ import annotations

import json
import re

from app.inference.local import _results_common as common
from app.inference.local._prompt_header import PromptHeader

# The line before the segments' summaries, one JSON array on the next line (app/nova/summary_merge.py).
SUMMARIES_MARKER = "Segment summaries (JSON):"
_MISSING = re.compile(r"^Missing parts \(no summary\): (.*?)\. Say in the summary", re.M)
KEY_POINTS_BY_DEPTH = {"brief": 3, "standard": 5, "detailed": 12}
LINES_BY_DEPTH = {"brief": 0, "standard": 12, "detailed": 1000}
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


class MergeInputError(ValueError):
    """The prompt does not carry the segments' summaries."""


def read_parts(prompt: str) -> list[dict]:
    """The segments' summaries in the prompt: [{"segment", "start_seconds", "end_seconds", "text", "key_points"}]."""
    lines = prompt.splitlines()
    try:
        raw = lines[lines.index(SUMMARIES_MARKER) + 1]
        parts = json.loads(raw)
    except (ValueError, IndexError) as exc:
        raise MergeInputError(f"the prompt has no '{SUMMARIES_MARKER}' line followed by a JSON list") from exc
    if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
        raise MergeInputError("the segments' summaries must be a JSON list of objects")
    return parts


def merged_summary(header: PromptHeader, prompt: str) -> dict:
    """A summary result assembled from the summaries in the prompt, honest about how it was made."""
    parts = read_parts(prompt)
    depth = header.depth
    count = header.segment_count or len(parts)
    opening = (f"{common.LOCAL_PREFIX}assembled from the summaries of {len(parts)} of the {count} segments of "
               f"this video, not written by a model: the local analyser cannot read or rewrite text, so it "
               "repeats how each segment's summary begins, in order.")
    paragraphs = [opening]
    lines = [_line(part) for part in parts[:LINES_BY_DEPTH[depth]]]
    if len(parts) > len(lines) and lines:
        lines.append(f"{len(parts) - len(lines)} more segment(s) follow; see the chapters for all of them.")
    if lines:
        paragraphs.append("\n".join(lines) if depth == "detailed" else " ".join(lines))
    missing = _MISSING.search(prompt)
    if missing:
        paragraphs.append(f"Not covered (no summary): {missing.group(1)}.")
    note = common.language_note(header)
    if note:
        paragraphs.append(note)
    return {"text": "\n\n".join(paragraphs), "depth": depth, "language": "en",
            "key_points": _key_points(parts, KEY_POINTS_BY_DEPTH[depth])}


def _line(part: dict) -> str:
    text = str(part.get("text") or "").replace(common.LOCAL_PREFIX, "").strip()
    first = _SENTENCE_END.split(text, maxsplit=1)[0] if text else "(no summary text)"
    start, end = part.get("start_seconds"), part.get("end_seconds")
    span = (f"{common.clock(start)}–{common.clock(end)}" if isinstance(start, (int, float))
            and isinstance(end, (int, float)) else f"segment {part.get('segment')}")
    return f"{span}: {first}"


def _key_points(parts: list[dict], limit: int) -> list[str]:
    """Key points of the segments taken in turn (first of each, then second of each ...), no repeats."""
    lists = [[p for p in part.get("key_points") or () if isinstance(p, str)] for part in parts]
    points: list[str] = []
    seen: set[str] = set()
    for rank in range(max((len(items) for items in lists), default=0)):
        for items in lists:
            if rank < len(items) and items[rank].casefold() not in seen:
                seen.add(items[rank].casefold())
                points.append(items[rank])
                if len(points) >= limit:
                    return points
    return points
