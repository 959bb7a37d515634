"""Validators that turn untrusted model output into the result shapes of docs/analysis-contract.md."""
from __future__ import annotations

import math
from typing import Any, Callable

from app.nova.cleaning import ELLIPSIS, cap, paragraphs, single_line
from app.nova.contract import (
    BRIGHTNESS, COMBINED_PARTS, CONTENT_TYPES, DATE_SOURCES, DEPTHS, MAX_CHAPTERS, MAX_COLORS, MAX_ITEMS,
    MAX_KEY_POINTS, MAX_LINE, MAX_PARAGRAPH, MAX_PEOPLE, MAX_TEXT, MAX_TIME_RANGES, MEDIA_TYPES, MOTION,
    SKILL_LEVELS, WATERFALL_DIMENSIONS, WATERFALL_MIN_CONFIDENCE, WATERFALL_VOCAB, ModelOutputError,
)
from app.nova.element_sections import elements_section
from app.nova.label_sections import metadata_section, waterfall_section
from app.nova.text_sections import chapters_section, description_section, summary_section
from app.nova.times import parse_seconds
from app.nova.values import Run, parse_confidence, parse_date

__all__ = [
    "BRIGHTNESS", "COMBINED_PARTS", "CONTENT_TYPES", "DATE_SOURCES", "DEPTHS", "ELLIPSIS", "MAX_CHAPTERS",
    "MAX_COLORS", "MAX_ITEMS", "MAX_KEY_POINTS", "MAX_LINE", "MAX_PARAGRAPH", "MAX_PEOPLE", "MAX_TEXT",
    "MAX_TIME_RANGES", "MEDIA_TYPES", "MOTION", "SKILL_LEVELS", "WATERFALL_DIMENSIONS", "WATERFALL_MIN_CONFIDENCE",
    "WATERFALL_VOCAB", "ModelOutputError", "cap", "default_result", "paragraphs", "parse_confidence", "parse_date",
    "parse_seconds", "single_line", "validate_result",
]

_VALIDATORS: dict[str, Callable[[dict, Run], dict]] = {
    "summary": summary_section,
    "description": description_section,
    "chapters": chapters_section,
    "elements": elements_section,
    "waterfall_classification": waterfall_section,
    "search_metadata": metadata_section,
    "metadata": metadata_section,
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
    "combined": COMBINED_PARTS,
}
# A section with all of these empty said nothing: depth and language alone are no summary, and every
# video has at least one chapter. Other sections may rightly be empty ("no equipment seen").
_CONTENT_FIELDS = {
    "summary": ("text", "key_points"),
    "description": ("text", "scene_type", "primary_subject", "key_points"),
    "chapters": ("chapters",),
}

_TYPES_BY_MEDIA = {
    "video": ("summary", "chapters", "elements", "waterfall_classification", "search_metadata", "combined"),
    "image": ("description", "elements", "waterfall_classification", "metadata"),
}


def _as_section(part: str, value: Any) -> Any:
    """A section in its object form: chapters may come as a bare list, text sections as a bare string."""
    if part == "chapters" and isinstance(value, list):
        return {"chapters": value}
    if part in ("summary", "description") and isinstance(value, str):
        return {"text": value}
    return value


def _unwrap(analysis_type: str, data: dict) -> Any:
    """The requested section when the model answered it under its own name, alone or beside other sections."""
    if list(data) == [analysis_type]:
        return _as_section(analysis_type, data[analysis_type])
    inner = data.get(analysis_type)
    # 'summary' and 'description' are also text keys of their flat shape: an object under the name wraps
    # the section only when none of the section's own keys stand beside it.
    if isinstance(inner, dict) and not any(k in data for k in _EXPECTED_KEYS[analysis_type] if k != analysis_type):
        return inner
    return data


def _section_of(analysis_type: str, data: Any) -> dict:
    """The requested section of an answer as a non-empty object; ModelOutputError otherwise."""
    if not isinstance(data, dict):
        raise ModelOutputError("schema_mismatch", f"{analysis_type}: expected a JSON object, got {type(data).__name__}")
    section = _unwrap(analysis_type, data)
    if not isinstance(section, dict):
        raise ModelOutputError("schema_mismatch", f"{analysis_type}: expected a JSON object under "
                                                  f"'{analysis_type}', got {type(section).__name__}")
    if not section:
        raise ModelOutputError("empty_result", f"{analysis_type}: the model returned an empty object")
    return section


def _says_nothing(analysis_type: str, result: dict) -> bool:
    """True for a section whose every content field came out empty."""
    fields = _CONTENT_FIELDS.get(analysis_type, ())
    return bool(fields) and not any(result[field] for field in fields)


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
    section = _section_of(analysis_type, data)
    if analysis_type == "combined":
        return _validate_combined(section, duration_seconds, options)
    if not any(k in section for k in _EXPECTED_KEYS[analysis_type]):
        raise ModelOutputError("schema_mismatch", f"{analysis_type}: none of the expected keys "
                                                  f"({', '.join(_EXPECTED_KEYS[analysis_type])}) are present")
    run = Run(analysis_type, media_type, duration_seconds, options)
    result = _VALIDATORS[analysis_type](section, run)
    if _says_nothing(analysis_type, result):
        reasons = [f"empty {', '.join(_CONTENT_FIELDS[analysis_type])}"]
        reasons += [warning.removeprefix(f"{analysis_type}: ") for warning in run.warnings]
        raise ModelOutputError("empty_result", f"{analysis_type}: the answer has no content ({'; '.join(reasons)})")
    return result, run.warnings


def _validate_combined(data: dict, duration: float | None, options: dict) -> tuple[dict, list[str]]:
    """Each of the five sections validated on its own; missing sections get defaults and a warning."""
    if not any(part in data for part in COMBINED_PARTS):
        raise ModelOutputError("schema_mismatch", f"combined: none of the sections ({', '.join(COMBINED_PARTS)}) "
                                                  "are present")
    results: dict[str, dict] = {}
    warnings: list[str] = []
    answered = False
    for part in COMBINED_PARTS:
        section = _as_section(part, data.get(part))
        run = Run(part, "video", duration, options)
        if not isinstance(section, dict) or section.keys().isdisjoint(_EXPECTED_KEYS[part]):
            warnings.append(f"combined: section {part} missing or malformed; defaults used")
            results[part] = _VALIDATORS[part]({}, run)
        else:
            results[part] = _VALIDATORS[part](section, run)
            answered = answered or not _says_nothing(part, results[part])
        warnings.extend(run.warnings)
    if not answered:
        raise ModelOutputError("empty_result", f"combined: no section has content ({', '.join(COMBINED_PARTS)} "
                                               "are all missing, malformed or empty)")
    return results, warnings


def default_result(analysis_type: str, *, media_type: str) -> dict:
    """The empty result of a type: what validation yields when the model said nothing usable."""
    _check_type(analysis_type, media_type)
    if analysis_type == "combined":
        return {part: default_result(part, media_type="video") for part in COMBINED_PARTS}
    return _VALIDATORS[analysis_type]({}, Run(analysis_type, media_type, None, {}))
