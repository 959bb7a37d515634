"""Parse the machine-readable header that starts every analysis prompt (see analysis-contract.md)."""
from __future__ import annotations

import re
from dataclasses import dataclass

VIDEO_TASKS = ("summary", "chapters", "elements", "waterfall_classification", "search_metadata", "combined")
IMAGE_TASKS = ("description", "elements", "waterfall_classification", "metadata")
DEPTHS = ("brief", "standard", "detailed")

_TASK = re.compile(r"^Task: (\w+)$", re.M)
_MEDIA = re.compile(r"^Media: (video|image)$", re.M)
_NAME = re.compile(r"^- name: (.*)$", re.M)
_FOLDER = re.compile(r"^- folder: (.*)$", re.M)
_WORDS = re.compile(r"^- path words: (.*)$", re.M)
_DURATION = re.compile(r"^- duration_seconds: (.*)$", re.M)
_EXIF_DATE = re.compile(r"^- exif_date: (.*)$", re.M)
_GPS = re.compile(r"^- gps: (.*)$", re.M)
_CAMERA = re.compile(r"^- camera: (.*)$", re.M)
_OPTIONS = re.compile(r"^Options: depth=(\w+); language=(.*)$", re.M)


class HeaderError(ValueError):
    """The prompt does not carry a usable header."""


@dataclass(frozen=True)
class PromptHeader:
    """The file context and options the prompt builder put in front of the instructions."""

    task: str
    media: str
    name: str = ""
    folder: str = ""
    path_words: tuple[str, ...] = ()
    duration_seconds: float | None = None
    exif_date: str | None = None
    gps: tuple[float, float] | None = None
    camera: str | None = None
    depth: str = "standard"
    language: str = "auto"


def parse_header(prompt: str) -> PromptHeader:
    """Read the header lines of prompt; raises HeaderError for a missing or unknown task."""
    task = _first(_TASK, prompt)
    media = _first(_MEDIA, prompt)
    if task is None:
        raise HeaderError("the prompt has no 'Task: <type>' line")
    if media is None:
        raise HeaderError("the prompt has no 'Media: video|image' line")
    allowed = VIDEO_TASKS if media == "video" else IMAGE_TASKS
    if task not in allowed:
        raise HeaderError(f"unknown {media} task {task!r}; expected one of {', '.join(allowed)}")
    options = _OPTIONS.search(prompt)
    depth = options.group(1) if options else "standard"
    language = options.group(2).strip() if options else "auto"
    return PromptHeader(
        task=task, media=media,
        name=_first(_NAME, prompt) or "", folder=_first(_FOLDER, prompt) or "",
        path_words=tuple((_first(_WORDS, prompt) or "").split()),
        duration_seconds=_float(_first(_DURATION, prompt)),
        exif_date=_first(_EXIF_DATE, prompt) or None, gps=_gps(_first(_GPS, prompt)),
        camera=_first(_CAMERA, prompt) or None,
        depth=depth if depth in DEPTHS else "standard", language=language or "auto")


def _first(pattern: re.Pattern[str], text: str) -> str | None:
    """The first capture of pattern in text, stripped, or None."""
    match = pattern.search(text)
    return match.group(1).strip() if match else None


def _float(value: str | None) -> float | None:
    """value as a non-negative float, or None."""
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and number >= 0 else None


def _gps(value: str | None) -> tuple[float, float] | None:
    """'lat,lon' as a pair of floats within range, or None."""
    if not value:
        return None
    try:
        lat, lon = (float(part) for part in value.split(","))
    except ValueError:
        return None
    return (lat, lon) if -90 <= lat <= 90 and -180 <= lon <= 180 else None
