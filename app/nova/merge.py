"""Merging segment answers into one result of the same shape as a single answer (docs/analysis-contract.md,
"Segments of long videos"): chapters and time ranges in full-video time (app/nova/merge_times.py); elements,
people, topics and keywords unioned; the waterfall classification and search metadata taken by confidence,
their evidence kept. The summary is written by one more model call (app/nova/summary_merge.py), so
merge_result leaves it out. Pure functions: no database, no model.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from app.nova.contract import COMBINED_PARTS, MAX_COLORS, MAX_ITEMS, WATERFALL_DIMENSIONS
from app.nova.merge_times import (
    SegmentAnswer, merge_chapters, ranked_strings, shifted_ranges, union_ranges, unique_strings,
)

__all__ = ["MODEL_MERGED", "SegmentAnswer", "merge_result", "merged_parts"]

# Types whose merge needs the model: a summary is written again from the segments' summaries.
MODEL_MERGED = ("summary",)


def merged_parts(analysis_type: str) -> tuple[str, ...]:
    """The result sections a type's answers hold (combined: all five)."""
    return COMBINED_PARTS if analysis_type == "combined" else (analysis_type,)


def merge_result(analysis_type: str, answers: list[SegmentAnswer], duration: float) -> dict[str, Any]:
    """The merged result of one type from the segments' answers (in any order), its summary left out: for
    `combined` a dict of the other four sections, else the section itself (not for `summary`)."""
    ordered = sorted(answers, key=lambda a: a.index)
    if analysis_type == "combined":
        return {part: _merge_section(part, [_section(a, part) for a in ordered], duration)
                for part in COMBINED_PARTS if part not in MODEL_MERGED}
    if analysis_type in MODEL_MERGED:
        raise ValueError(f"{analysis_type} is merged by a model call")
    return _merge_section(analysis_type, ordered, duration)


def _section(answer: SegmentAnswer, part: str) -> SegmentAnswer:
    value = answer.result.get(part) if isinstance(answer.result, dict) else None
    return SegmentAnswer(answer.index, answer.start, answer.end, value if isinstance(value, dict) else {})


def _merge_section(part: str, answers: list[SegmentAnswer], duration: float) -> dict[str, Any]:
    mergers: dict[str, Callable[[list[SegmentAnswer], float], dict[str, Any]]] = {
        "chapters": merge_chapters, "elements": merge_elements,
        "waterfall_classification": lambda answers, _d: merge_waterfall(answers),
        "search_metadata": lambda answers, _d: merge_metadata(answers),
    }
    return mergers[part](answers, duration)


# ---- elements -----------------------------------------------------------------------------------------

def _key(text: Any) -> str:
    return " ".join(str(text).casefold().split())


def _union_items(answers: list[SegmentAnswer], field: str, name_key: str, duration: float,
                 fill: Callable[[dict[str, Any], dict[str, Any]], None]) -> list[dict[str, Any]]:
    """Items named alike across segments become one, with every segment's time ranges; ranked by how many
    segments name them (then confidence), at most MAX_ITEMS, listed in order of first appearance."""
    with_ranges = _had_ranges(answers, field)
    merged: dict[str, dict[str, Any]] = {}
    seen_in: dict[str, int] = {}
    ranges: dict[str, list[dict[str, float]]] = {}
    for answer in answers:
        items = answer.result.get(field)
        for item in items if isinstance(items, list) else ():
            if not isinstance(item, dict) or not isinstance(item.get(name_key), str):
                continue
            key = _key(item[name_key])
            if key not in merged:
                merged[key] = {name: value for name, value in item.items() if name != "time_ranges"}
                seen_in[key], ranges[key] = 0, []
            else:
                fill(merged[key], item)
            seen_in[key] += 1
            ranges[key].extend(shifted_ranges(item.get("time_ranges"), answer, duration))
    order = {key: n for n, key in enumerate(merged)}
    ranked = sorted(merged, key=lambda k: (-seen_in[k], -(merged[k].get("confidence") or 0), order[k]))
    out = []
    for key in sorted(ranked[:MAX_ITEMS], key=lambda k: order[k]):
        item = merged[key]
        if with_ranges:
            item["time_ranges"] = union_ranges(ranges[key])
        out.append(item)
    if with_ranges:
        out.sort(key=lambda i: i["time_ranges"][0]["start_seconds"] if i["time_ranges"] else float("inf"))
    return out


def _had_ranges(answers: list[SegmentAnswer], field: str) -> bool:
    """Whether the items of this field carry time ranges (video answers do)."""
    for answer in answers:
        items = answer.result.get(field)
        if isinstance(items, list) and any(isinstance(i, dict) and "time_ranges" in i for i in items):
            return True
    return False


def _fill_equipment(kept: dict[str, Any], other: dict[str, Any]) -> None:
    kept["category"] = kept.get("category") or other.get("category")
    confidences = [c for c in (kept.get("confidence"), other.get("confidence")) if isinstance(c, (int, float))]
    kept["confidence"] = max(confidences) if confidences else None


def _fill_topic(kept: dict[str, Any], other: dict[str, Any]) -> None:
    kept["description"] = kept.get("description") or other.get("description")


def _fill_speaker(kept: dict[str, Any], other: dict[str, Any]) -> None:
    kept["role"] = kept.get("role") or other.get("role")


def merge_elements(answers: list[SegmentAnswer], duration: float) -> dict[str, Any]:
    """Equipment, topics and speakers unioned by name with their time ranges; the most people seen at once;
    the look of the whole video weighed by how long each segment is."""
    people = [a.result.get("people") for a in answers if isinstance(a.result.get("people"), dict)]
    counts = [p.get("max_count") for p in people if isinstance(p.get("max_count"), int)]
    result: dict[str, Any] = {
        "equipment": _union_items(answers, "equipment", "name", duration, _fill_equipment),
        "topics": _union_items(answers, "topics", "name", duration, _fill_topic),
        "people": {"max_count": max(counts) if counts else None,
                   "descriptions": unique_strings((d for p in people for d in p.get("descriptions") or ()), 20)},
        "speakers": _union_items(answers, "speakers", "label", duration, _fill_speaker),
        "visual": _merge_visual(answers),
    }
    return result


def _merge_visual(answers: list[SegmentAnswer]) -> dict[str, Any]:
    weights: dict[str, dict[Any, float]] = {"colors": {}, "brightness": {}, "motion": {}}
    audio: list[bool] = []
    longest = 0
    for answer in answers:
        visual = answer.result.get("visual")
        if not isinstance(visual, dict):
            continue
        span = max(answer.end - answer.start, 1.0)
        colors = [c for c in visual.get("dominant_colors") or () if isinstance(c, str)]
        longest = max(longest, len(colors))
        for rank, color in enumerate(colors):
            weights["colors"][color] = weights["colors"].get(color, 0.0) + span / (rank + 1)
        for name in ("brightness", "motion"):
            if visual.get(name) is not None:
                weights[name][visual[name]] = weights[name].get(visual[name], 0.0) + span
        if isinstance(visual.get("has_audio"), bool):
            audio.append(visual["has_audio"])

    def top(name: str) -> Any:
        return max(weights[name], key=lambda v: weights[name][v]) if weights[name] else None

    colors = sorted(weights["colors"], key=lambda c: -weights["colors"][c])[:min(longest, MAX_COLORS)]
    return {"dominant_colors": colors, "brightness": top("brightness"), "motion": top("motion"),
            "has_audio": any(audio) if audio else None}


# ---- classification and metadata -----------------------------------------------------------------------

def merge_waterfall(answers: list[SegmentAnswer]) -> dict[str, Any]:
    """Each dimension from the segment that knows it with the most confidence (the validator kept a known
    value only at 0.70 or more); Unknown with a reason when no segment knows it;
    overall the lowest of the four; evidence of the deciding segments first."""
    results = [a.result for a in answers if isinstance(a.result, dict) and a.result]
    chosen: dict[str, Any] = {}
    confidence: dict[str, float] = {}
    reasons: dict[str, str] = {}
    deciding: list[int] = []
    for dim in WATERFALL_DIMENSIONS:
        known = [(r.get("confidence", {}).get(dim) or 0.0, -n, n) for n, r in enumerate(results)
                 if r.get(dim) not in (None, "Unknown")]
        if known:
            conf, _, n = max(known)
            chosen[dim], confidence[dim] = results[n][dim], conf
            deciding.append(n)
            continue
        chosen[dim], confidence[dim] = "Unknown", 0.0
        given = unique_strings(((r.get("unknown_reasons") or {}).get(dim) for r in results), 1)
        segments = f"in all {len(results)} segments" if len(results) > 1 else "in the segment"
        reasons[dim] = f"unknown {segments}: {given[0]}" if given else f"unknown {segments}"
    confidence["overall"] = min(confidence[dim] for dim in WATERFALL_DIMENSIONS)
    order = list(dict.fromkeys([*deciding, *range(len(results))]))
    return {
        **chosen, "confidence": confidence,
        "evidence": unique_strings((e for n in order for e in results[n].get("evidence") or ()), 20),
        "unknown_reasons": reasons,
        "search_tags": ranked_strings((r.get("search_tags") for r in results), 20),
        "product_keywords": ranked_strings((r.get("product_keywords") for r in results), 20),
        "content_type": _weighted_choice(answers, "content_type", "other"),
        "skill_level": _weighted_choice(answers, "skill_level", "unknown"),
    }


def _weighted_choice(answers: list[SegmentAnswer], name: str, fallback: str) -> str:
    """The value (other than the fallback) the segments give for the longest time, else the fallback."""
    weights: dict[str, float] = {}
    for answer in answers:
        value = answer.result.get(name) if isinstance(answer.result, dict) else None
        if isinstance(value, str) and value != fallback:
            weights[value] = weights.get(value, 0.0) + max(answer.end - answer.start, 1.0)
    return max(weights, key=lambda v: (weights[v], v)) if weights else fallback


def _most_common(values: Iterable[Any]) -> Any:
    """The most frequent non-null value (the first seen on a tie), or None."""
    counts: dict[Any, int] = {}
    for value in values:
        if value is not None and value != "":
            counts[value] = counts.get(value, 0) + 1
    return max(counts, key=lambda v: counts[v]) if counts else None  # max keeps the first of equals


def merge_metadata(answers: list[SegmentAnswer]) -> dict[str, Any]:
    """The recording date with the highest confidence; project, location and camera as most segments say;
    entities and keywords unioned (most often named first)."""
    results = [a.result for a in answers if isinstance(a.result, dict) and a.result]
    dated = [(r["recording_date"].get("confidence") or 0.0, -n, r["recording_date"]) for n, r in enumerate(results)
             if isinstance(r.get("recording_date"), dict) and r["recording_date"].get("date")]
    recording = dict(max(dated, key=lambda d: d[:2])[2]) if dated else {"date": None, "source": "unknown",
                                                                         "confidence": 0.0}

    def field(section: str, name: str) -> Any:
        return _most_common((r.get(section) or {}).get(name) for r in results if isinstance(r.get(section), dict))

    gps = next((r["location"]["gps"] for r in results if isinstance(r.get("location"), dict)
                and r["location"].get("gps")), None)
    return {
        "recording_date": recording,
        "project": {name: field("project", name) for name in ("name", "customer", "code")},
        "location": {**{name: field("location", name) for name in ("name", "city", "region", "country")},
                     "gps": gps},
        "camera": _most_common(r.get("camera") for r in results),
        "entities": _merge_entities(results),
        "keywords": ranked_strings((r.get("keywords") for r in results), 30),
    }


def _merge_entities(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    counts: dict[tuple[str, str], int] = {}
    for result in results:
        for item in result.get("entities") or ():
            if not isinstance(item, dict) or not isinstance(item.get("value"), str):
                continue
            key = (_key(item.get("type") or "other"), _key(item["value"]))
            if key not in merged:
                merged[key] = dict(item)
                counts[key] = 0
            elif isinstance(item.get("confidence"), (int, float)):
                merged[key]["confidence"] = max(merged[key].get("confidence") or 0.0, item["confidence"])
            counts[key] += 1
    order = {key: n for n, key in enumerate(merged)}
    ranked = sorted(merged, key=lambda k: (-counts[k], order[k]))[:MAX_ITEMS]
    return [merged[k] for k in sorted(ranked, key=lambda k: order[k])]

