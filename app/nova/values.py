"""Single values coerced from untrusted model output: numbers, confidences, dates, choices and lists."""
from __future__ import annotations

import functools
import math
import re
from datetime import date
from typing import Any, Callable

from app.nova.cleaning import single_line
from app.nova.contract import MAX_ITEMS, MAX_LINE, MAX_PEOPLE

_CONFIDENCE_WORDS = {"high": 0.9, "medium": 0.6, "moderate": 0.6, "low": 0.3}
_NULL_WORDS = {"", "null", "none", "unknown", "n/a", "na", "not available", "not specified", "-"}
# casefold() never makes a string shorter, so anything longer than every null word is not one.
_NULL_MAX_LEN = max(len(word) for word in _NULL_WORDS)
_CHOICE_SEPARATORS = re.compile(r"[\s_-]+")
_DATE = re.compile(r"^(\d{4})[-:/._](\d{1,2})[-:/._](\d{1,2})(?:[T ].*)?$")
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_SCALES = {digits: 10.0 ** digits for digits in range(7)}


def fast_round(value: float, digits: int) -> float:
    """round(value, digits), without its slow decimal conversion for a float that already has at most
    `digits` places (most model numbers), which round() returns unchanged.

    Exact: if value * 10**digits is a whole k and k / 10**digits is value again, value is the double
    nearest to k / 10**digits, less than half a unit of the last place away (for |value| < 1e9), so
    round() rounds it to k / 10**digits and returns that same double.
    """
    if type(value) is float and -1e9 < value < 1e9:
        scale = _SCALES[digits]
        scaled = value * scale
        if scaled.is_integer() and scaled / scale == value:
            return value
    return round(value, digits)


def parse_confidence(value: Any) -> float | None:
    """A confidence in 0..1 from a number, '85%', or high/medium/low; None if unusable."""
    if type(value) is float:  # the common case first: a plain JSON number
        return fast_round(min(max(value, 0.0), 1.0), 4) if math.isfinite(value) else None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _CONFIDENCE_WORDS:
            return _CONFIDENCE_WORDS[text]
        percent = text.endswith("%")
        try:
            number = float(text.rstrip("%").strip())
        except ValueError:
            return None
        value = number / 100 if percent else number
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return fast_round(min(max(float(value), 0.0), 1.0), 4)


def parse_date(value: Any) -> str | None:
    """A real calendar date as YYYY-MM-DD (from ISO, EXIF-style or compact forms); None otherwise."""
    if not isinstance(value, str):
        return None
    text = value.strip()[:40]
    match = _DATE.match(text) or _COMPACT_DATE.match(text)
    if not match:
        return None
    try:
        parsed = date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None
    if not 1900 <= parsed.year <= 2100:
        return None
    return parsed.isoformat()


def as_dict(value: Any) -> dict:
    """The value if it is an object, else an empty one."""
    return value if isinstance(value, dict) else {}


def first_items(value: Any, limit: int) -> list:
    """The first items of a list (a bounded slice, so huge lists cost nothing)."""
    return value[:limit] if isinstance(value, list) else []


def is_scalar(value: Any) -> bool:
    """Strings and finite numbers, but not booleans."""
    kind = type(value)
    if kind is str or kind is int:
        return True
    if kind is float:
        return math.isfinite(value)
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, (str, int)) and not isinstance(value, bool)


def optional_line(value: Any, limit: int = MAX_LINE) -> str | None:
    """An optional single-line string; placeholder words such as 'unknown' become None."""
    if type(value) is str and len(value) <= limit and value.isprintable() and "  " not in value:
        text = value.strip()  # what single_line makes of a short clean string, without the calls
    elif value is None:
        return None
    elif is_scalar(value):
        text = single_line(value, limit)
    else:
        return None
    return None if len(text) <= _NULL_MAX_LEN and text.casefold() in _NULL_WORDS else text


def str_list(value: Any, limit: int = MAX_ITEMS, length: int = MAX_LINE) -> list[str]:
    """A de-duplicated list of clean non-empty strings; a lone string counts as a list of one."""
    if is_scalar(value):
        value = [value]
    elif not isinstance(value, list):
        return []
    out: list[str] = []
    seen: set[str] = set()
    for item in value[: limit * 4]:
        if type(item) is str and len(item) <= length and item.isprintable() and "  " not in item:
            text = item.strip()  # optional_line's fast path, inlined: most lists are short clean strings
            folded = text.casefold()
            if folded in _NULL_WORDS or folded in seen:
                continue
        else:
            text = optional_line(item, length)
            if not text:
                continue
            folded = text.casefold()
            if folded in seen:
                continue
        seen.add(folded)
        out.append(text)
        if len(out) >= limit:
            break
    return out


def choice(value: Any, allowed: tuple[str, ...]) -> str | None:
    """The allowed value matching case-insensitively (spaces, '-' and '_' treated alike), or None."""
    if not isinstance(value, str):
        return None
    if len(value) <= 100:
        return _cached_choice(value, allowed)  # models repeat the same few answers
    return _match_choice(value, allowed)


def _match_choice(value: str, allowed: tuple[str, ...]) -> str | None:
    wanted = _CHOICE_SEPARATORS.sub(" ", value.strip().casefold())[:100]
    return _choice_table(allowed).get(wanted)


@functools.lru_cache(maxsize=4096)
def _cached_choice(value: str, allowed: tuple[str, ...]) -> str | None:
    return _match_choice(value, allowed)


@functools.lru_cache(maxsize=64)
def _choice_table(allowed: tuple[str, ...]) -> dict[str, str]:
    """Every accepted (normalised) answer to its allowed value; the first allowed value naming it wins."""
    table: dict[str, str] = {}
    for option, norm, base, paren in _choice_forms(allowed):
        # 'Classic' and 'small' both name 'Classic (Small)'.
        for form in (norm, base, paren.rstrip(")")) if paren else (norm, base):
            table.setdefault(form, option)
    return table


@functools.lru_cache(maxsize=64)
def _choice_forms(allowed: tuple[str, ...]) -> tuple[tuple[str, str, str, str], ...]:
    """(option, normalised, part before ' (', part inside the parentheses) for each allowed value."""
    forms = []
    for option in allowed:
        norm = _CHOICE_SEPARATORS.sub(" ", option.casefold())
        base, _, paren = norm.partition(" (")
        forms.append((option, norm, base, paren))
    return tuple(forms)


def as_bool(value: Any) -> bool | None:
    """A boolean from true/false or yes/no; None when unclear."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return {"true": True, "yes": True, "false": False, "no": False}.get(value.strip().lower())
    return None


def as_count(value: Any) -> int | None:
    """A non-negative whole number, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        return None
    return min(int(round(value)), MAX_PEOPLE)


def named_items(value: Any, name_keys: tuple[str, ...], build: Callable[[dict, str], dict]) -> list:
    """Objects that have a name under one of name_keys, built by build(item, name)."""
    out = []
    for item in first_items(value, MAX_ITEMS):
        if isinstance(item, str):
            item = {name_keys[0]: item}
        if not isinstance(item, dict):
            continue
        for key in name_keys:
            name = optional_line(item.get(key), 200)
            if name:
                out.append(build(item, name))
                break
    return out


class Run:
    """What one validation knows: media type, duration, requested options, and its warnings."""

    def __init__(self, analysis_type: str, media_type: str, duration: float | None, options: dict):
        self.analysis_type = analysis_type
        self.media_type = media_type
        self.duration = duration
        self.options = options
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        """Record a warning, prefixed by the result type."""
        self.warnings.append(f"{self.analysis_type}: {message}")
