"""Split sampled video facts into chapters at cuts and at the start of activity."""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from app.inference.local._pixels import histogram_distance
from app.inference.local._video_facts import Sample, VideoFacts

MIN_CHAPTER_SECONDS = 4.0
MAX_CHAPTER_SECONDS = 300.0
# Long videos get longer minimum chapters so the answer stays a readable size (and within maxTokens).
TARGET_MAX_CHAPTERS = 24
# Histogram share that must change at a sample, and still differ one sample later, to count as a cut.
CUT_DISTANCE = 0.5
CUT_PERSISTENCE = 0.4
# Frame change (0-255) that counts as activity: at least this, and well above the video's usual noise.
ACTIVE_CHANGE_MIN = 6.0
ACTIVE_CHANGE_FACTOR = 2.5
CALM_SAMPLES_BEFORE_ONSET = 3
# Mean frame change (0-255) per sample interval separating static/low/medium/high motion.
MOTION_LEVELS = ((1.5, "static"), (5.0, "low"), (12.0, "medium"))


@dataclass(frozen=True)
class Segment:
    """One chapter: its time range, why it starts there and the samples inside it."""

    start: float
    end: float
    reason: str  # 'start', 'activity', 'cut', 'split' or 'undecodable'
    samples: tuple[Sample, ...]


def motion_label(mean_change: float | None) -> str:
    """'static', 'low', 'medium' or 'high' for a mean frame change."""
    if mean_change is None:
        return "static"
    return next((label for bound, label in MOTION_LEVELS if mean_change < bound), "high")


def mean_change(samples: tuple[Sample, ...] | list[Sample]) -> float | None:
    """Mean frame change of samples that have a predecessor, or None."""
    changes = [s.change for s in samples if s.change is not None]
    return sum(changes) / len(changes) if changes else None


def segment_video(facts: VideoFacts) -> list[Segment]:
    """Chapters covering 0..duration, each at least the minimum length unless the video is shorter."""
    samples = facts.samples
    decoded_end = facts.duration
    if facts.missing_tail:
        decoded_end = facts.decoded_until
    min_length = max(MIN_CHAPTER_SECONDS, decoded_end / TARGET_MAX_CHAPTERS)
    boundaries = _choose_boundaries(samples, decoded_end, min_length)
    edges = [0.0, *sorted(boundaries), decoded_end]
    segments = []
    for start, end in zip(edges, edges[1:]):
        reason = boundaries.get(start, "start")
        segments.extend(_split_long(start, end, reason, samples))
    if facts.missing_tail:
        segments.append(Segment(decoded_end, facts.duration, "undecodable", ()))
    return segments


def _choose_boundaries(samples: tuple[Sample, ...], end: float, min_length: float) -> dict[float, str]:
    """Boundary times mapped to their reason; activity onsets win over cuts, stronger first."""
    candidates = sorted(_activity_onsets(samples), reverse=True) + sorted(_cuts(samples), reverse=True)
    chosen: dict[float, str] = {}
    for _, time, reason in candidates:
        if time < min_length or end - time < min_length:
            continue
        if all(abs(time - other) >= min_length for other in chosen):
            chosen[time] = reason
    return chosen


def _activity_onsets(samples: tuple[Sample, ...]) -> list[tuple[float, float, str]]:
    """(strength, boundary time, 'activity') where movement starts after a calm stretch."""
    changes = [s.change for s in samples if s.change is not None]
    if not changes:
        return []
    threshold = max(ACTIVE_CHANGE_MIN, ACTIVE_CHANGE_FACTOR * statistics.median(changes))
    onsets = []
    for i in range(CALM_SAMPLES_BEFORE_ONSET + 1, len(samples)):
        change = samples[i].change
        calm = all((samples[j].change or 0.0) < threshold for j in range(i - CALM_SAMPLES_BEFORE_ONSET, i))
        if change is not None and change >= threshold and calm:
            onsets.append((change, _between(samples[i - 1], samples[i]), "activity"))
    return onsets


def _cuts(samples: tuple[Sample, ...]) -> list[tuple[float, float, str]]:
    """(strength, boundary time, 'cut') where the colour mix jumps and stays different."""
    cuts = []
    for i in range(1, len(samples)):
        distance = histogram_distance(samples[i - 1].hist, samples[i].hist)
        if distance < CUT_DISTANCE:
            continue
        after = samples[i + 1] if i + 1 < len(samples) else samples[i]
        if histogram_distance(samples[i - 1].hist, after.hist) >= CUT_PERSISTENCE:
            cuts.append((distance, _between(samples[i - 1], samples[i]), "cut"))
    return cuts


def _between(a: Sample, b: Sample) -> float:
    """The midpoint of two sample times: the best guess of when the change happened."""
    return round((a.time + b.time) / 2, 2)


def _split_long(start: float, end: float, reason: str, samples: tuple[Sample, ...]) -> list[Segment]:
    """Split a range longer than MAX_CHAPTER_SECONDS into equal parts."""
    parts = max(1, math.ceil((end - start) / MAX_CHAPTER_SECONDS))
    step = (end - start) / parts
    segments = []
    for k in range(parts):
        part_start = round(start + k * step, 2)
        part_end = end if k == parts - 1 else round(start + (k + 1) * step, 2)
        inside = tuple(s for s in samples if part_start <= s.time < part_end)
        segments.append(Segment(part_start, round(part_end, 3), reason if k == 0 else "split", inside))
    return segments
