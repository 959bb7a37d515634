"""What a prompt says about a segment of a long video (docs/analysis-contract.md, "Segments of long videos"):
which part of the whole it is, and the bounds of the segment options a request may give."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# A request may ask for shorter segments than the model's default and for another overlap; the model's own
# ceiling (the span it samples at one frame per second) is checked where the model is known.
MIN_SEGMENT_SECONDS = 30
MAX_SEGMENT_SECONDS = 3600
MAX_SEGMENT_OVERLAP = 300


class SegmentOptionError(ValueError):
    """A segment option out of bounds; `details` name it (prompts.normalize_options makes it a 400)."""

    def __init__(self, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.details = details


def segment_options(options: dict) -> dict:
    """segment_seconds and segment_overlap when given: whole seconds within bounds, the overlap under half a
    segment (so no moment is in more than two segments)."""
    found = {}
    for name, low, high in (("segment_seconds", MIN_SEGMENT_SECONDS, MAX_SEGMENT_SECONDS),
                            ("segment_overlap", 0, MAX_SEGMENT_OVERLAP)):
        value = options.get(name)
        if value is None:
            continue
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise SegmentOptionError(f"{name} must be a whole number of seconds from {low} to {high}",
                                     {"parameter": name, "minimum": low, "maximum": high})
        found[name] = value
    seconds, overlap = found.get("segment_seconds"), found.get("segment_overlap")
    if seconds is not None and overlap is not None and overlap * 2 >= seconds:
        raise SegmentOptionError("segment_overlap must be less than half of segment_seconds",
                                 {"parameter": "segment_overlap", "segment_seconds": seconds})
    return found


@dataclass(frozen=True)
class SegmentContext:
    """Which part of a long video a request carries: segment `index` (from 0) of `count`, from `start_seconds`
    to `end_seconds` of the full video, which lasts `full_duration_seconds`."""

    index: int
    count: int
    start_seconds: float
    end_seconds: float
    full_duration_seconds: float | None = None

    @property
    def duration_seconds(self) -> float:
        return max(0.0, self.end_seconds - self.start_seconds)


def segment_lines(segment: SegmentContext, file_duration: float | None) -> list[str]:
    """Which part of the full video the media is (times in the answer stay relative to the segment)."""
    full = segment.full_duration_seconds if segment.full_duration_seconds is not None else file_duration
    known = isinstance(full, (int, float)) and math.isfinite(full) and full >= 0
    return [f"- segment: {segment.index + 1} of {segment.count}",
            f"- segment_start_seconds: {segment.start_seconds:.2f}",
            f"- segment_end_seconds: {segment.end_seconds:.2f}",
            f"- full_duration_seconds: {float(full):.2f}" if known else "- full_duration_seconds: unknown"]


def segment_rule(segment: SegmentContext) -> str:
    """The instruction that comes with a segment: describe this part, with times from its own start."""
    return (f"This video is segment {segment.index + 1} of {segment.count} of a longer video: it shows "
            f"{clock(segment.start_seconds)} to {clock(segment.end_seconds)} of the full video, and neighbouring "
            "segments overlap it a little. Describe only what this segment shows, as one part of the whole (it "
            "may start or end mid-scene). Give every time in seconds from the start of this segment (0 to "
            f"{segment.duration_seconds:.0f}), never from the start of the full video; the segments are merged "
            "afterwards.")


def clock(seconds: float) -> str:
    """Seconds as m:ss, or h:mm:ss from one hour on."""
    total = int(seconds + 0.5)
    hours, rest = divmod(total, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
