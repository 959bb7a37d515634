"""Which videos are analysed as segments, and the segments' length, overlap and bounds.

By default a segment is the longest span the model samples at one frame per second (docs/bedrock-facts.md
§3 Video sampling: 16 minutes for Nova Lite/Pro; 3,200 frames for Nova 2 Lite and Premier, see
app/nova/catalog.py), so a long video is seen at full detail; SEGMENT_SECONDS or a request's
`segment_seconds` may ask for shorter ones. A proxy too big for one media object (docs/bedrock-facts.md §2:
1 GB per S3 object) gets segments short enough to fit. A video no longer than one segment is analysed whole.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from app.config import Settings
from app.errors import BadRequest
from app.media.segments import plan_bounds
from app.nova.catalog import NovaModel
from app.nova.estimate import VIDEO_FRAMES_PER_SECOND
from app.nova.prompts import MIN_SEGMENT_SECONDS

# Segments are sized to 90% of the per-object limit: bitrate is not even along a video.
SIZE_HEADROOM = 0.9
# Proxies have a keyframe every two seconds on the dot (app/media/_transcode.py): even lengths cut exactly.
KEYFRAME_SECONDS = 2


@dataclass(frozen=True)
class Segmentation:
    """How one video is cut: segment length and overlap in seconds, and the nominal bounds of each segment."""

    seconds: int
    overlap: int
    bounds: list[tuple[float, float]]

    @property
    def count(self) -> int:
        return len(self.bounds)


def full_detail_seconds(model: NovaModel) -> int:
    """The longest span the model samples at one frame per second, within its video window."""
    return int(min(model.max_video_frames / VIDEO_FRAMES_PER_SECOND, model.max_video_seconds))


def segment_length(model: NovaModel, settings: Settings, options: dict[str, Any]) -> tuple[int, int]:
    """(segment seconds, overlap) for this model and request: the request's values, else the settings', else
    the model's full-detail span and the default overlap; never beyond the full-detail span, and the overlap
    always under half a segment."""
    ceiling = full_detail_seconds(model)
    seconds = min(options.get("segment_seconds") or settings.SEGMENT_SECONDS or ceiling, ceiling)
    overlap = options.get("segment_overlap")
    if overlap is None:
        overlap = settings.SEGMENT_OVERLAP_SECONDS
    return seconds, min(overlap, (seconds - 1) // 2)


def check_options(model: NovaModel, settings: Settings, options: dict[str, Any]) -> None:
    """400 naming the option when a request's segment_seconds is beyond what this model samples at one
    frame per second, or its segment_overlap is not under half of the segment length."""
    ceiling = full_detail_seconds(model)
    seconds = options.get("segment_seconds")
    if seconds is not None and seconds > ceiling:
        raise BadRequest(f"segment_seconds must be at most {ceiling} for {model.name} (the longest span it samples "
                         "at one frame per second)", code="invalid_analysis_options",
                         details={"parameter": "segment_seconds", "maximum": ceiling, "model": model.key})
    overlap = options.get("segment_overlap")
    length = min(seconds or settings.SEGMENT_SECONDS or ceiling, ceiling)
    if overlap is not None and overlap * 2 >= length:
        raise BadRequest(f"segment_overlap must be less than half of the segment length ({length} s)",
                         code="invalid_analysis_options",
                         details={"parameter": "segment_overlap", "segment_seconds": length})


def segmentation_for(model: NovaModel, settings: Settings, options: dict[str, Any], *, duration: float | None,
                     proxy_bytes: int | None) -> Segmentation | None:
    """The segments of a video, or None when it is analysed whole (it fits one segment and one object).

    Raises ValueError when even the shortest segment would be too big for one media object."""
    if not duration or duration <= 0:
        return None
    seconds, overlap = segment_length(model, settings, options)
    if proxy_bytes:
        fits = math.floor(model.max_object_bytes * SIZE_HEADROOM / (proxy_bytes / duration))
        if fits < seconds:
            fits -= fits % KEYFRAME_SECONDS
            if fits < MIN_SEGMENT_SECONDS:
                raise ValueError(f"the proxy's bitrate is too high: even {MIN_SEGMENT_SECONDS} s segments would "
                                 f"exceed the {model.max_object_bytes} byte limit per media object")
            seconds, overlap = fits, min(overlap, (fits - 1) // 2)
    if duration <= seconds:
        return None
    return Segmentation(seconds, overlap, plan_bounds(duration, seconds, overlap))


def segment_bytes(total_bytes: int, duration: float, bounds: tuple[float, float]) -> int:
    """A segment's share of the proxy's bytes (an estimate until it is cut)."""
    return math.ceil(total_bytes * (bounds[1] - bounds[0]) / duration)
