"""Validator of the elements section: equipment, topics, people, speakers and visual traits."""
from __future__ import annotations

import re
from typing import Any

from app.nova.cleaning import paragraphs
from app.nova.contract import BRIGHTNESS, MAX_COLORS, MAX_ITEMS, MAX_PARAGRAPH, MOTION
from app.nova.times import time_ranges
from app.nova.values import (
    Run, as_bool, as_count, as_dict, choice, first_items, is_scalar, named_items, optional_line, parse_confidence,
    str_list,
)

_HEX_COLOR = re.compile(r"^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")


def _colors(value: Any) -> list[str]:
    """Hex colours as lowercase '#rrggbb'; anything else is dropped."""
    out: list[str] = []
    for item in first_items(value, MAX_COLORS * 4):
        match = _HEX_COLOR.match(item.strip()) if isinstance(item, str) else None
        if match:
            digits = match.group(1).lower()
            digits = "".join(c * 2 for c in digits) if len(digits) == 3 else digits
            if f"#{digits}" not in out:
                out.append(f"#{digits}")
    return out[:MAX_COLORS]


def elements_section(data: dict, run: Run) -> dict:
    """Equipment, topics, people, speakers (video) and visual traits."""
    video = run.media_type == "video"

    def equipment(item: dict, name: str) -> dict:
        out = {"name": name, "category": optional_line(item.get("category"), 100),
               "confidence": parse_confidence(item.get("confidence"))}
        if video:
            out["time_ranges"] = time_ranges(item.get("time_ranges"), run.duration)
        return out

    def topic(item: dict, name: str) -> dict:
        desc = item.get("description")
        out = {"name": name, "description": paragraphs(desc, MAX_PARAGRAPH) if is_scalar(desc) else None}
        if video:
            out["time_ranges"] = time_ranges(item.get("time_ranges"), run.duration)
        return out

    def speaker(item: dict, label: str) -> dict:
        return {"label": label, "role": optional_line(item.get("role"), 100),
                "time_ranges": time_ranges(item.get("time_ranges"), run.duration)}

    raw_people = data.get("people")
    people = raw_people if isinstance(raw_people, dict) else {"max_count": raw_people}
    visual = as_dict(data.get("visual"))
    brightness = choice(visual.get("brightness"), BRIGHTNESS)
    motion = choice(visual.get("motion"), MOTION)
    result = {
        "equipment": named_items(data.get("equipment"), ("name",), equipment),
        "topics": named_items(data.get("topics", data.get("topics_discussed")), ("name", "topic"), topic),
        "people": {"max_count": as_count(people.get("max_count", people.get("count"))),
                   "descriptions": str_list(people.get("descriptions"), 20, 500)},
    }
    if video:
        result["speakers"] = named_items(data.get("speakers"), ("label", "speaker_id", "name"), speaker)
    result["visual"] = {"dominant_colors": _colors(visual.get("dominant_colors")),
                        "brightness": brightness, "motion": motion,
                        "has_audio": as_bool(visual.get("has_audio"))}
    if not video:
        result["text_visible"] = str_list(data.get("text_visible"), MAX_ITEMS, 500)
    return result
