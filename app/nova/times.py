"""Times in seconds from numbers and clock strings, and time ranges clamped to the media."""
from __future__ import annotations

import math
import re
from typing import Any

from app.nova.contract import MAX_TIME_RANGES
from app.nova.values import fast_round

_CLOCK = re.compile(r"^(?:(\d+):)?(\d+):(\d{1,2}(?:[.,]\d+)?)$")
_RANGE_SPLIT = re.compile(r"\s*(?:-|\u2013|\u2014|\bto\b)\s*")
START_KEYS = ("start_seconds", "start_time", "start")
END_KEYS = ("end_seconds", "end_time", "end")


def parse_seconds(value: Any) -> float | None:
    """Seconds from a number, '12.5', '12.5s', 'MM:SS', 'HH:MM:SS' or '1:02:03.5'; None if unusable."""
    kind = type(value)
    if kind is float:  # the common case first: a plain JSON number
        return value if value >= 0 and value != math.inf else None  # NaN fails the first test
    if kind is int:
        seconds = float(value)
        return seconds if seconds >= 0 else None
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower().removesuffix("s").strip()
        match = _CLOCK.match(text)
        if match:
            hours = int(match.group(1) or 0)
            minutes = int(match.group(2))
            secs = float(match.group(3).replace(",", "."))
            if secs >= 60 or (match.group(1) is not None and minutes >= 60):
                return None
            seconds = hours * 3600 + minutes * 60 + secs
        else:
            try:
                seconds = float(text)
            except ValueError:
                return None
    else:
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def _time_range(value: Any, duration: float | None) -> dict | None:
    """One {start_seconds, end_seconds} from a dict, a pair, or 'MM:SS-MM:SS'; clamped to the media."""
    if isinstance(value, dict):
        start, end = seconds_at(value, START_KEYS), seconds_at(value, END_KEYS)
    elif isinstance(value, list) and len(value) == 2:
        start, end = parse_seconds(value[0]), parse_seconds(value[1])
    elif isinstance(value, str):
        parts = _RANGE_SPLIT.split(value.strip()[:60], maxsplit=1)
        start = parse_seconds(parts[0])
        end = parse_seconds(parts[1]) if len(parts) == 2 else start
    else:
        return None
    if start is None:
        return None
    if end is None:
        end = start
    if duration is not None:
        start, end = min(start, duration), min(end, duration)
    if end < start:
        return None
    return {"start_seconds": fast_round(start, 3), "end_seconds": fast_round(end, 3)}


def seconds_at(data: dict, keys: tuple[str, ...]) -> float | None:
    """_first_seconds, the usual answer first: a plain non-negative number under the first key."""
    value = data.get(keys[0])
    if type(value) is float and 0 <= value < math.inf:
        return value
    return _first_seconds(data, keys)


def _first_seconds(data: dict, keys: tuple[str, ...]) -> float | None:
    """Seconds from the first of keys that parses."""
    for key in keys:
        value = data.get(key)
        if value is not None:
            seconds = parse_seconds(value)
            if seconds is not None:
                return seconds
    return None


def _range_order(r: dict) -> tuple[float, float]:
    return r["start_seconds"], r["end_seconds"]


def time_ranges(value: Any, duration: float | None) -> list[dict]:
    """A list of valid time ranges, sorted by start."""
    if isinstance(value, (str, dict)):
        value = [value]
    elif not isinstance(value, list):
        return []
    ranges = []
    for item in value[:MAX_TIME_RANGES]:
        time_range = _time_range(item, duration)
        if time_range:
            ranges.append(time_range)
    if len(ranges) > 1:
        ranges.sort(key=_range_order)
    return ranges
