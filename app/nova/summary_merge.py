"""The summary of a segmented video: one more, text-only model call over the segments' summaries.

Its prompt starts with a header in the contract's format (docs/analysis-contract.md, "The summary merge"):
`Task: summary_merge` and `Media: text`, then the file context and options; the segments' summaries follow
as one line of JSON after the line `Segment summaries (JSON):`, so the offline analyser can read them back.
The request carries no media block. When the call fails, fallback_summary joins the segments' summaries and
says so.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from app.nova.merge_times import SegmentAnswer, unique_strings
from app.nova.prompts import (
    MAX_FOLDER, MAX_NAME, SYSTEM_PROMPT, FileContext, answer_rules, inference_config, normalize_options,
    summary_length,
)
from app.nova.cleaning import single_line
from app.nova.segment_prompt import clock
from app.nova.contract import MAX_KEY_POINTS, MAX_TEXT

MERGE_TASK = "summary_merge"
SUMMARIES_MARKER = "Segment summaries (JSON):"
# One segment's summary as the merge prompt carries it; a detailed summary is ~900 words.
MAX_PART_CHARS = 8000
KEY_POINTS_BY_DEPTH = {"brief": 3, "standard": 6, "detailed": 12}


@dataclass(frozen=True)
class SegmentSummary:
    """One segment's summary: segment `index` (from 0) covered `start`..`end` of the full video."""

    index: int
    start: float
    end: float
    text: str
    key_points: tuple[str, ...]


def summary_parts(answers: list[SegmentAnswer]) -> list[SegmentSummary]:
    """The summaries in the answers (a summary result, or the summary section of a combined one), in order."""
    parts = []
    for answer in sorted(answers, key=lambda a: a.index):
        result = answer.result if isinstance(answer.result, dict) else {}
        summary = result.get("summary") if isinstance(result.get("summary"), dict) else result
        text = summary.get("text") if isinstance(summary.get("text"), str) else ""
        points = tuple(p for p in summary.get("key_points") or () if isinstance(p, str))
        if text or points:
            parts.append(SegmentSummary(answer.index, answer.start, answer.end, text[:MAX_PART_CHARS], points))
    return parts


def build_merge_prompt(ctx: FileContext, options: dict | None, parts: list[SegmentSummary], *, count: int,
                       missing: list[str]) -> str:
    """The user prompt of the summary merge: header, instructions, the summaries as JSON, rules and shape."""
    options = normalize_options(options)
    duration = ctx.duration_seconds
    known = isinstance(duration, (int, float)) and math.isfinite(duration) and duration >= 0
    header = "\n".join([
        f"Task: {MERGE_TASK}",
        "Media: text",
        "File context:",
        f"- name: {single_line(ctx.name, MAX_NAME)}",
        f"- folder: {single_line(ctx.folder, MAX_FOLDER)}",
        f"- path words: {single_line(' '.join(ctx.path_words), MAX_FOLDER)}",
        f"- duration_seconds: {float(duration):.2f}" if known else "- duration_seconds: unknown",
        f"- segments: {count}",
        f"Options: depth={options['summary_depth']}; language={options['language']}",
    ])
    gaps = ("Missing parts (no summary): " + "; ".join(missing) + ". Say in the summary that these minutes "
            "are not covered.") if missing else "No part is missing."
    body = (f"The video was analysed in {count} consecutive segments that overlap slightly; below are the "
            f"summaries written for each segment separately ({len(parts)} of them). Write one summary of the "
            f"whole video from them. Length: {summary_length(options['summary_depth'])}. Tell it as one "
            "account in the order of the video, not segment by segment; what two neighbouring segments both "
            "describe (their overlap, a scene cut by a boundary) is one thing, said once. Times inside a "
            "segment's text are from that segment's start: add its start_seconds to give a time in the full "
            "video (MM:SS or H:MM:SS). Use only what the summaries say. Separate paragraphs with a blank line "
            "(\\n\\n inside the JSON string). Add 3-8 short key points for the whole video.\n\n" + gaps)
    data = [{"segment": p.index + 1, "start_seconds": round(p.start, 2), "end_seconds": round(p.end, 2),
             "text": p.text, "key_points": list(p.key_points)} for p in parts]
    summaries = f"{SUMMARIES_MARKER}\n{json.dumps(data, ensure_ascii=False)}"
    return f"{header}\n\n{body}\n\n{summaries}\n\n{answer_rules('summary', 'video', options)}"


def build_merge_request(ctx: FileContext, options: dict | None, parts: list[SegmentSummary], *, count: int,
                        missing: list[str], max_output_tokens: int | None = None) -> dict:
    """The messages-v1 body of the summary merge: system prompt and one user turn with text only."""
    prompt = build_merge_prompt(ctx, options, parts, count=count, missing=missing)
    return {
        "schemaVersion": "messages-v1",
        "system": [{"text": SYSTEM_PROMPT}],
        "messages": [{"role": "user", "content": [{"text": prompt}]}],
        "inferenceConfig": inference_config("summary", max_output_tokens=max_output_tokens),
    }


def fallback_summary(parts: list[SegmentSummary], options: dict | None, reason: str) -> dict[str, Any]:
    """A summary result when the merge call failed: each segment's summary under its time span, in order."""
    options = normalize_options(options)
    paragraphs = [f"This summary joins the segments' own summaries: writing one summary of the whole video "
                  f"failed ({single_line(reason, 300)})."]
    for part in parts:
        paragraphs.append(f"{clock(part.start)}–{clock(part.end)}: {part.text}".strip())
    limit = KEY_POINTS_BY_DEPTH.get(options["summary_depth"], 6)
    points = unique_strings((p for part in parts for p in part.key_points), min(limit, MAX_KEY_POINTS))
    return {"text": "\n\n".join(paragraphs)[:MAX_TEXT], "depth": options["summary_depth"], "language": None,
            "key_points": points}
