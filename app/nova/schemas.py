"""Validators that turn untrusted model output into the result shapes of docs/analysis-contract.md."""
from __future__ import annotations

import functools
import math
import operator
import re
import unicodedata
from datetime import date
from typing import Any, Callable

MEDIA_TYPES = ("video", "image")
COMBINED_PARTS = ("summary", "chapters", "elements", "waterfall_classification", "search_metadata")
DEPTHS = ("brief", "standard", "detailed")

WATERFALL_VOCAB: dict[str, tuple[str, ...]] = {
    "family": ("Custom Natural Stone", "Custom Formal", "Genesis Natural", "Genesis Formal", "Unknown"),
    "tier_level": ("Classic (Small)", "Deluxe (Medium)", "Ultimate (Large)", "Unknown"),
    "functional_type": ("Waterfall", "Waterfall with Slide", "Grotto", "Grotto with Slide", "Unknown"),
    "sub_type": ("One-Tier", "Two-Tier", "Two-Tier Split", "Three-Tier", "Cantilever", "Unknown"),
}
WATERFALL_DIMENSIONS = tuple(WATERFALL_VOCAB)
WATERFALL_MIN_CONFIDENCE = 0.70
CONTENT_TYPES = ("product_overview", "installation_tutorial", "building_demonstration", "troubleshooting",
                 "comparison", "review", "other")
SKILL_LEVELS = ("beginner", "intermediate", "advanced", "professional", "unknown")
DATE_SOURCES = ("exif", "container", "path", "filename", "visual", "transcript", "unknown")
BRIGHTNESS = ("dark", "normal", "bright")
MOTION = ("static", "low", "medium", "high")

# Model output is hostile: every string and list has a ceiling.
MAX_TEXT = 20_000
MAX_PARAGRAPH = 2_000
MAX_LINE = 300
MAX_ITEMS = 50
MAX_KEY_POINTS = 20
MAX_CHAPTERS = 200
MAX_TIME_RANGES = 50
MAX_COLORS = 10
MAX_PEOPLE = 100_000

_CONFIDENCE_WORDS = {"high": 0.9, "medium": 0.6, "moderate": 0.6, "low": 0.3}
_NULL_WORDS = {"", "null", "none", "unknown", "n/a", "na", "not available", "not specified", "-"}
# casefold() never makes a string shorter, so anything longer than every null word is not one.
_NULL_MAX_LEN = max(len(word) for word in _NULL_WORDS)
_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
_SPACES = re.compile(r"[ \t]{2,}|\t")  # a lone space is already what it becomes
_CHOICE_SEPARATORS = re.compile(r"[\s_-]+")
# Every character _clean_char may change (Cc, Zl, Zp, Cs and the bidi controls): text without one
# is left as it is, so clean text costs one regex scan instead of a Python call per character.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\u202a-\u202e\u2066-\u2069\u200e\u200f]")
_CLOCK = re.compile(r"^(?:(\d+):)?(\d+):(\d{1,2}(?:[.,]\d+)?)$")
_RANGE_SPLIT = re.compile(r"\s*(?:-|\u2013|\u2014|\bto\b)\s*")
_DATE = re.compile(r"^(\d{4})[-:/._](\d{1,2})[-:/._](\d{1,2})(?:[T ].*)?$")
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_HEX_COLOR = re.compile(r"^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")
_START_KEYS = ("start_seconds", "start_time", "start")
_END_KEYS = ("end_seconds", "end_time", "end")
_START_OF = operator.itemgetter("start_seconds")
ELLIPSIS = "\u2026"


class ModelOutputError(Exception):
    """Model output that cannot be turned into a result; code says why."""

    def __init__(self, code: str, message: str, *, raw_text: str | None = None, stop_reason: str | None = None,
                 input_tokens: int = 0, output_tokens: int = 0):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        # Tokens were billed even when the output is unusable, so callers can still record cost.
        self.raw_text = raw_text
        self.stop_reason = stop_reason
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens


def _clean_char(ch: str, keep_newlines: bool) -> str:
    """One character made safe: controls and line separators become spaces."""
    if ch == "\n" and keep_newlines:
        return ch
    if ch in _BIDI:
        return ""  # direction overrides can disguise text
    cat = unicodedata.category(ch)
    if cat == "Cs":
        return "\ufffd"  # lone surrogates (undecodable file names) cannot be encoded as UTF-8
    if cat in ("Cc", "Zl", "Zp"):
        return " "
    return ch


_SCALES = {digits: 10.0 ** digits for digits in range(7)}


def _round(value: float, digits: int) -> float:
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


def cap(text: str, limit: int) -> str:
    """Cut text to at most limit characters, marking the cut with an ellipsis."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + ELLIPSIS


def single_line(value: object, limit: int) -> str:
    """A value as one clean line: no control characters or line breaks, spaces collapsed, capped."""
    if type(value) is str:
        text = value if len(value) <= limit * 4 else value[: limit * 4]
    else:
        text = "" if value is None else str(value)[: limit * 4]
    if text.isprintable() and "  " not in text:
        return cap(text.strip(), limit)  # nothing to clean: the common case, kept fast
    if not text.isprintable():
        text = _UNSAFE.sub(lambda m: _clean_char(m.group(), keep_newlines=False), text)
    return cap(_SPACES.sub(" ", text).strip(), limit)


def paragraphs(value: object, limit: int) -> str:
    """A value as clean multi-line text: newlines kept (at most one blank line), controls dropped."""
    if type(value) is str:
        text = value if len(value) <= limit * 4 else value[: limit * 4]
    else:
        text = "" if value is None else str(value)[: limit * 4]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\n" not in text:
        if text.isprintable() and "  " not in text:
            return cap(text.strip(), limit)  # one clean line: the commonest case, kept fastest
    elif (text.replace("\n", "").isprintable() and "  " not in text and " \n" not in text
            and "\n " not in text and "\n\n\n" not in text):
        return cap(text.strip(), limit)  # already clean: the common case, kept fast
    if not text.replace("\n", "").isprintable():
        text = _UNSAFE.sub(lambda m: _clean_char(m.group(), keep_newlines=True), text)
    text = "\n".join((_SPACES.sub(" ", line) if "  " in line or "\t" in line else line).strip()
                     for line in text.split("\n"))
    if "\n\n\n" in text:
        text = re.sub(r"\n{3,}", "\n\n", text)
    return cap(text.strip(), limit)


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


def parse_confidence(value: Any) -> float | None:
    """A confidence in 0..1 from a number, '85%', or high/medium/low; None if unusable."""
    if type(value) is float:  # the common case first: a plain JSON number
        return _round(min(max(value, 0.0), 1.0), 4) if math.isfinite(value) else None
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
    return _round(min(max(float(value), 0.0), 1.0), 4)


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


def _obj(value: Any) -> dict:
    """The value if it is an object, else an empty one."""
    return value if isinstance(value, dict) else {}


def _items(value: Any, limit: int) -> list:
    """The first items of a list (a bounded slice, so huge lists cost nothing)."""
    return value[:limit] if isinstance(value, list) else []


def _is_scalar(value: Any) -> bool:
    """Strings and finite numbers, but not booleans."""
    kind = type(value)
    if kind is str or kind is int:
        return True
    if kind is float:
        return math.isfinite(value)
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, (str, int)) and not isinstance(value, bool)


def _line(value: Any, limit: int = MAX_LINE) -> str | None:
    """An optional single-line string; placeholder words such as 'unknown' become None."""
    if type(value) is str and len(value) <= limit and value.isprintable() and "  " not in value:
        text = value.strip()  # what single_line makes of a short clean string, without the calls
    elif value is None:
        return None
    elif _is_scalar(value):
        text = single_line(value, limit)
    else:
        return None
    return None if len(text) <= _NULL_MAX_LEN and text.casefold() in _NULL_WORDS else text


def _str_list(value: Any, limit: int = MAX_ITEMS, length: int = MAX_LINE) -> list[str]:
    """A de-duplicated list of clean non-empty strings; a lone string counts as a list of one."""
    if _is_scalar(value):
        value = [value]
    elif not isinstance(value, list):
        return []
    out: list[str] = []
    seen: set[str] = set()
    for item in value[: limit * 4]:
        if type(item) is str and len(item) <= length and item.isprintable() and "  " not in item:
            text = item.strip()  # _line's fast path, inlined: most lists are short clean strings
            folded = text.casefold()
            if folded in _NULL_WORDS or folded in seen:
                continue
        else:
            text = _line(item, length)
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


def _choice(value: Any, allowed: tuple[str, ...]) -> str | None:
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


def _bool(value: Any) -> bool | None:
    """A boolean from true/false or yes/no; None when unclear."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return {"true": True, "yes": True, "false": False, "no": False}.get(value.strip().lower())
    return None


def _count(value: Any) -> int | None:
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


def _time_range(value: Any, duration: float | None) -> dict | None:
    """One {start_seconds, end_seconds} from a dict, a pair, or 'MM:SS-MM:SS'; clamped to the media."""
    if isinstance(value, dict):
        start, end = _seconds_at(value, _START_KEYS), _seconds_at(value, _END_KEYS)
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
    return {"start_seconds": _round(start, 3), "end_seconds": _round(end, 3)}


def _seconds_at(data: dict, keys: tuple[str, ...]) -> float | None:
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


def _time_ranges(value: Any, duration: float | None) -> list[dict]:
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


class _Run:
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


def _summary(data: dict, run: _Run) -> dict:
    """The summary result."""
    raw = data.get("text", data.get("summary"))
    text = paragraphs(raw, MAX_TEXT) if _is_scalar(raw) else ""
    if not text:
        run.warn("summary text missing")
    depth = run.options.get("summary_depth") or data.get("depth")
    return {
        "text": text,
        "depth": depth if depth in DEPTHS else "standard",
        "language": _line(data.get("language"), 40),
        "key_points": _str_list(data.get("key_points"), MAX_KEY_POINTS, 500),
    }


def _description(data: dict, run: _Run) -> dict:
    """The image description result."""
    raw = data.get("text", data.get("description", data.get("overview")))
    text = paragraphs(raw, MAX_TEXT) if _is_scalar(raw) else ""
    if not text:
        run.warn("description text missing")
    return {
        "text": text,
        "scene_type": _line(data.get("scene_type"), 100),
        "primary_subject": _line(data.get("primary_subject")),
        "key_points": _str_list(data.get("key_points"), MAX_KEY_POINTS, 500),
    }


def _chapters(data: dict, run: _Run) -> dict:
    """Chapters ordered by start, inside [0, duration], non-overlapping, non-empty."""
    raw = data.get("chapters")
    if raw is not None and not isinstance(raw, list):
        run.warn("chapters is not a list")
    items = _items(raw, MAX_CHAPTERS)
    duration = run.duration
    chapters = []
    for item in items:
        if not isinstance(item, dict):
            continue
        start = _seconds_at(item, _START_KEYS)
        if start is None:
            run.warn("dropped a chapter without a usable start time")
            continue
        summary = item.get("summary")
        chapters.append({
            "title": _line(item.get("title"), 200),
            "start_seconds": start,
            "end_seconds": _seconds_at(item, _END_KEYS),
            "summary": paragraphs(summary, MAX_PARAGRAPH) if _is_scalar(summary) else "",
            "key_points": _str_list(item.get("key_points"), MAX_KEY_POINTS, 500),
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
        chapter["start_seconds"], chapter["end_seconds"] = _round(start, 3), _round(end, 3)
        kept.append(chapter)
    for number, chapter in enumerate(kept, start=1):
        if not chapter["title"]:
            chapter["title"] = f"Chapter {number}"
    if not kept:
        run.warn("no usable chapters")
    return {"chapters": kept}


def _named_items(value: Any, name_keys: tuple[str, ...], build: Callable[[dict, str], dict]) -> list:
    """Objects that have a name under one of name_keys, built by build(item, name)."""
    out = []
    for item in _items(value, MAX_ITEMS):
        if isinstance(item, str):
            item = {name_keys[0]: item}
        if not isinstance(item, dict):
            continue
        for key in name_keys:
            name = _line(item.get(key), 200)
            if name:
                out.append(build(item, name))
                break
    return out


def _colors(value: Any) -> list[str]:
    """Hex colours as lowercase '#rrggbb'; anything else is dropped."""
    out: list[str] = []
    for item in _items(value, MAX_COLORS * 4):
        match = _HEX_COLOR.match(item.strip()) if isinstance(item, str) else None
        if match:
            digits = match.group(1).lower()
            digits = "".join(c * 2 for c in digits) if len(digits) == 3 else digits
            if f"#{digits}" not in out:
                out.append(f"#{digits}")
    return out[:MAX_COLORS]


def _elements(data: dict, run: _Run) -> dict:
    """Equipment, topics, people, speakers (video) and visual traits."""
    video = run.media_type == "video"

    def equipment(item: dict, name: str) -> dict:
        out = {"name": name, "category": _line(item.get("category"), 100),
               "confidence": parse_confidence(item.get("confidence"))}
        if video:
            out["time_ranges"] = _time_ranges(item.get("time_ranges"), run.duration)
        return out

    def topic(item: dict, name: str) -> dict:
        desc = item.get("description")
        out = {"name": name, "description": paragraphs(desc, MAX_PARAGRAPH) if _is_scalar(desc) else None}
        if video:
            out["time_ranges"] = _time_ranges(item.get("time_ranges"), run.duration)
        return out

    def speaker(item: dict, label: str) -> dict:
        return {"label": label, "role": _line(item.get("role"), 100),
                "time_ranges": _time_ranges(item.get("time_ranges"), run.duration)}

    raw_people = data.get("people")
    people = raw_people if isinstance(raw_people, dict) else {"max_count": raw_people}
    visual = _obj(data.get("visual"))
    brightness = _choice(visual.get("brightness"), BRIGHTNESS)
    motion = _choice(visual.get("motion"), MOTION)
    result = {
        "equipment": _named_items(data.get("equipment"), ("name",), equipment),
        "topics": _named_items(data.get("topics", data.get("topics_discussed")), ("name", "topic"), topic),
        "people": {"max_count": _count(people.get("max_count", people.get("count"))),
                   "descriptions": _str_list(people.get("descriptions"), 20, 500)},
    }
    if video:
        result["speakers"] = _named_items(data.get("speakers"), ("label", "speaker_id", "name"), speaker)
    result["visual"] = {"dominant_colors": _colors(visual.get("dominant_colors")),
                        "brightness": brightness, "motion": motion,
                        "has_audio": _bool(visual.get("has_audio"))}
    if not video:
        result["text_visible"] = _str_list(data.get("text_visible"), MAX_ITEMS, 500)
    return result


def _waterfall(data: dict, run: _Run) -> dict:
    """The four-dimension classification with vocabularies and the 0.70 threshold enforced."""
    raw_conf = data.get("confidence")
    if isinstance(raw_conf, dict):
        conf_of = lambda dim: parse_confidence(raw_conf.get(dim))  # noqa: E731
    else:
        single = parse_confidence(raw_conf)
        if single is not None:
            run.warn("one confidence given for all dimensions")
        conf_of = lambda dim: single  # noqa: E731
    given_reasons = _obj(data.get("unknown_reasons"))
    result: dict[str, Any] = {}
    confidence: dict[str, float] = {}
    reasons: dict[str, str] = {}
    for dim, allowed in WATERFALL_VOCAB.items():
        raw = data.get(dim)
        value = _choice(raw, allowed)
        conf = conf_of(dim)
        shown = single_line(raw, 80) if _is_scalar(raw) else ""
        reason = None  # the model's own reason, read only where it is used
        if not shown:
            value, conf = "Unknown", 0.0
            reason = _line(given_reasons.get(dim), MAX_LINE) or "not provided by the model"
        elif value is None:
            value, conf = "Unknown", 0.0
            reason = f"model answered '{shown}', which is not an allowed value"
            run.warn(f"{dim} '{shown}' is not in the vocabulary")
        elif value != "Unknown" and (conf is None or conf < WATERFALL_MIN_CONFIDENCE):
            reason = (f"confidence {conf:.2f} is below {WATERFALL_MIN_CONFIDENCE:.2f} (model answered '{value}')"
                      if conf is not None else f"no confidence given (model answered '{value}')")
            value = "Unknown"
        elif value == "Unknown":
            reason = _line(given_reasons.get(dim), MAX_LINE) or "not determined"
        result[dim] = value
        confidence[dim] = conf if conf is not None else 0.0
        if value == "Unknown":
            reasons[dim] = reason
    confidence["overall"] = min(confidence[dim] for dim in WATERFALL_DIMENSIONS)
    content_type = _choice(data.get("content_type"), CONTENT_TYPES)
    skill_level = _choice(data.get("skill_level"), SKILL_LEVELS)
    result.update({
        "confidence": confidence,
        "evidence": _str_list(data.get("evidence"), 20, 500),
        "unknown_reasons": reasons,
        "search_tags": _str_list(data.get("search_tags"), 20, 100),
        "product_keywords": _str_list(data.get("product_keywords"), 20, 100),
        "content_type": content_type or "other",
        "skill_level": skill_level or "unknown",
    })
    return result


def _gps(value: Any, run: _Run) -> dict | None:
    """Latitude/longitude within range; the (0, 0) placeholder copied from examples counts as unknown."""
    if isinstance(value, dict):
        lat, lon = value.get("latitude", value.get("lat")), value.get("longitude", value.get("lon"))
    elif isinstance(value, list) and len(value) == 2:
        lat, lon = value
    elif isinstance(value, str) and "," in value:
        lat, lon = value.split(",", 1)
    else:
        return None
    try:
        lat, lon = float(lat), float(lon)
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        run.warn("gps out of range dropped")
        return None
    if lat == 0 and lon == 0:
        return None
    return {"latitude": round(lat, 6), "longitude": round(lon, 6)}


def _metadata(data: dict, run: _Run) -> dict:
    """Search metadata: recording date with its source, project, location, camera, entities, keywords."""
    raw_date = data.get("recording_date")
    rec = raw_date if isinstance(raw_date, dict) else {"date": raw_date}
    when = parse_date(rec.get("date"))
    if rec.get("date") not in (None, "") and when is None:
        run.warn("recording date is not a valid YYYY-MM-DD date")
    source = _choice(rec.get("source", rec.get("date_source")), DATE_SOURCES) or "unknown"
    recording_date = ({"date": when, "source": source, "confidence": parse_confidence(rec.get("confidence"))}
                      if when else {"date": None, "source": "unknown", "confidence": 0.0})
    project = _obj(data.get("project"))
    location = _obj(data.get("location"))

    def entity(item: dict, value: str) -> dict:
        return {"type": _line(item.get("type", item.get("entity_type")), 50) or "other", "value": value,
                "confidence": parse_confidence(item.get("confidence"))}

    return {
        "recording_date": recording_date,
        "project": {"name": _line(project.get("name", project.get("project_name")), 200),
                    "customer": _line(project.get("customer", project.get("customer_name")), 200),
                    "code": _line(project.get("code", project.get("project_code")), 100)},
        "location": {"name": _line(location.get("name", location.get("site_name")), 200),
                     "city": _line(location.get("city"), 100),
                     "region": _line(location.get("region", location.get("state_region")), 100),
                     "country": _line(location.get("country"), 100),
                     "gps": _gps(location.get("gps", location.get("gps_coordinates")), run)},
        "camera": _line(data.get("camera"), 200),
        "entities": _named_items(data.get("entities"), ("value", "entity"), entity),
        "keywords": _str_list(data.get("keywords"), 30, 100),
    }


_VALIDATORS: dict[str, Callable[[dict, _Run], dict]] = {
    "summary": _summary,
    "description": _description,
    "chapters": _chapters,
    "elements": _elements,
    "waterfall_classification": _waterfall,
    "search_metadata": _metadata,
    "metadata": _metadata,
}

# A result with none of these keys answered some other question.
_EXPECTED_KEYS = {
    "summary": ("text", "summary"),
    "description": ("text", "description", "overview"),
    "chapters": ("chapters",),
    "elements": ("equipment", "topics", "topics_discussed", "people", "speakers", "visual", "text_visible"),
    "waterfall_classification": WATERFALL_DIMENSIONS,
    "search_metadata": ("recording_date", "project", "location", "camera", "entities", "keywords"),
    "metadata": ("recording_date", "project", "location", "camera", "entities", "keywords"),
}

_TYPES_BY_MEDIA = {
    "video": ("summary", "chapters", "elements", "waterfall_classification", "search_metadata", "combined"),
    "image": ("description", "elements", "waterfall_classification", "metadata"),
}


def _unwrap(analysis_type: str, data: dict) -> Any:
    """Accept {'<type>': {...}} when the model wrapped its whole answer in the type name."""
    if list(data) == [analysis_type]:
        inner = data[analysis_type]
        if analysis_type == "chapters" and isinstance(inner, list):
            return {"chapters": inner}
        if analysis_type in ("summary", "description") and isinstance(inner, str):
            return {"text": inner}
        return inner
    return data


def _check_type(analysis_type: str, media_type: str) -> None:
    """Refuse a type that the media type does not have (a caller bug, not model output)."""
    if media_type not in _TYPES_BY_MEDIA:
        raise ValueError(f"media_type must be video or image, not {media_type!r}")
    if analysis_type not in _TYPES_BY_MEDIA[media_type]:
        raise ValueError(f"{analysis_type!r} is not an analysis type for {media_type}")


def validate_result(analysis_type: str, data: Any, *, media_type: str, duration_seconds: float | None = None,
                    options: dict | None = None) -> tuple[dict, list[str]]:
    """Validate one result (or, for combined, a dict of the five results) and list the warnings."""
    _check_type(analysis_type, media_type)
    options = options or {}
    if duration_seconds is not None and (not math.isfinite(duration_seconds) or duration_seconds <= 0):
        duration_seconds = None
    if analysis_type == "combined":
        return _validate_combined(data, duration_seconds, options)
    if not isinstance(data, dict):
        raise ModelOutputError("schema_mismatch", f"{analysis_type}: expected a JSON object, got {type(data).__name__}")
    data = _unwrap(analysis_type, data)
    if not isinstance(data, dict) or not any(k in data for k in _EXPECTED_KEYS[analysis_type]):
        raise ModelOutputError("schema_mismatch", f"{analysis_type}: none of the expected keys "
                                                  f"({', '.join(_EXPECTED_KEYS[analysis_type])}) are present")
    run = _Run(analysis_type, media_type, duration_seconds, options)
    return _VALIDATORS[analysis_type](data, run), run.warnings


def _validate_combined(data: Any, duration: float | None, options: dict) -> tuple[dict, list[str]]:
    """Each of the five sections validated on its own; missing sections get defaults and a warning."""
    if not isinstance(data, dict):
        raise ModelOutputError("schema_mismatch", f"combined: expected a JSON object, got {type(data).__name__}")
    if not any(part in data for part in COMBINED_PARTS):
        raise ModelOutputError("schema_mismatch", f"combined: none of the sections ({', '.join(COMBINED_PARTS)}) "
                                                  "are present")
    results: dict[str, dict] = {}
    warnings: list[str] = []
    for part in COMBINED_PARTS:
        section = data.get(part)
        if part == "chapters" and isinstance(section, list):
            section = {"chapters": section}
        if part == "summary" and isinstance(section, str):
            section = {"text": section}
        run = _Run(part, "video", duration, options)
        if not isinstance(section, dict) or section.keys().isdisjoint(_EXPECTED_KEYS[part]):
            warnings.append(f"combined: section {part} missing or malformed; defaults used")
            section = {}
        results[part] = _VALIDATORS[part](section, run)
        warnings.extend(run.warnings)
    return results, warnings


def default_result(analysis_type: str, *, media_type: str) -> dict:
    """The empty result of a type: what validation yields when the model said nothing usable."""
    _check_type(analysis_type, media_type)
    if analysis_type == "combined":
        return {part: default_result(part, media_type="video") for part in COMBINED_PARTS}
    return _VALIDATORS[analysis_type]({}, _Run(analysis_type, media_type, None, {}))
