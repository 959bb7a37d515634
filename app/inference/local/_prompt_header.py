"""Parse the machine-readable header that starts every analysis prompt (see analysis-contract.md)."""
from __future__ import annotations

import re
from dataclasses import dataclass

VIDEO_TASKS = ("summary", "chapters", "elements", "waterfall_classification", "search_metadata", "combined")
IMAGE_TASKS = ("description", "elements", "waterfall_classification", "metadata")
TEXT_TASKS = ("summary_merge",)  # the summary of a segmented video, from its segments' summaries
DEPTHS = ("brief", "standard", "detailed")

_TASK = re.compile(r"^Task: (\w+)$", re.M)
_MEDIA = re.compile(r"^Media: (video|image|text)$", re.M)
_NAME = re.compile(r"^- name: (.*)$", re.M)
_FOLDER = re.compile(r"^- folder: (.*)$", re.M)
_WORDS = re.compile(r"^- path words: (.*)$", re.M)
_DURATION = re.compile(r"^- duration_seconds: (.*)$", re.M)
_EXIF_DATE = re.compile(r"^- exif_date: (.*)$", re.M)
_GPS = re.compile(r"^- gps: (.*)$", re.M)
_CAMERA = re.compile(r"^- camera: (.*)$", re.M)
_OPTIONS = re.compile(r"^Options: depth=(\w+); language=(.*)$", re.M)
_SEGMENT = re.compile(r"^- segment: (\d+) of (\d+)$", re.M)
_SEGMENT_START = re.compile(r"^- segment_start_seconds: (.*)$", re.M)
_SEGMENT_END = re.compile(r"^- segment_end_seconds: (.*)$", re.M)
_FULL_DURATION = re.compile(r"^- full_duration_seconds: (.*)$", re.M)
_SEGMENTS = re.compile(r"^- segments: (\d+)$", re.M)
_TRANSCRIPT_LINES = re.compile(r"^- transcript_lines: (\d+)$", re.M)


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
    segment: int | None = None  # a segment of a longer video: its number (from 1), of segment_count
    segment_count: int | None = None
    segment_start: float | None = None  # where it starts and ends in the full video
    segment_end: float | None = None
    full_duration: float | None = None
    transcript_lines: int = 0  # lines of transcript the prompt carries (the local analyser does not hear them)


def parse_header(prompt: str) -> PromptHeader:
    """Read the header lines of prompt; raises HeaderError for a missing or unknown task."""
    task = _first(_TASK, prompt)
    media = _first(_MEDIA, prompt)
    if task is None:
        raise HeaderError("the prompt has no 'Task: <type>' line")
    if media is None:
        raise HeaderError("the prompt has no 'Media: video|image' line")
    allowed = {"video": VIDEO_TASKS, "image": IMAGE_TASKS, "text": TEXT_TASKS}[media]
    if task not in allowed:
        raise HeaderError(f"unknown {media} task {task!r}; expected one of {', '.join(allowed)}")
    options = _OPTIONS.search(prompt)
    depth = options.group(1) if options else "standard"
    language = options.group(2).strip() if options else "auto"
    segment = _SEGMENT.search(prompt)
    count = _SEGMENTS.search(prompt)
    return PromptHeader(
        task=task, media=media,
        name=_first(_NAME, prompt) or "", folder=_first(_FOLDER, prompt) or "",
        path_words=tuple((_first(_WORDS, prompt) or "").split()),
        duration_seconds=_float(_first(_DURATION, prompt)),
        exif_date=_first(_EXIF_DATE, prompt) or None, gps=_gps(_first(_GPS, prompt)),
        camera=_first(_CAMERA, prompt) or None,
        depth=depth if depth in DEPTHS else "standard", language=language or "auto",
        segment=int(segment.group(1)) if segment else None,
        segment_count=int(segment.group(2)) if segment else int(count.group(1)) if count else None,
        segment_start=_float(_first(_SEGMENT_START, prompt)), segment_end=_float(_first(_SEGMENT_END, prompt)),
        full_duration=_float(_first(_FULL_DURATION, prompt)),
        transcript_lines=int(_first(_TRANSCRIPT_LINES, prompt) or 0))


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
