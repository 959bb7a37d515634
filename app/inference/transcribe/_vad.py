"""Stretches of sound in a list of 20 ms levels: the offline stand-in's honest measure of where people may speak.

Energy alone cannot tell speech from music or machinery, so these are "sounds", reported without words. A
frame is loud when it is above -50 dBFS and either 10 dB above the recording's noise floor (its 10th-percentile
level) or within 20 dB of its loud moments (the 95th percentile: a recording with no pause has no floor).
Loud frames closer than 0.4 s join (the pauses inside a sentence), stretches shorter than 0.25 s are dropped
(clicks), and each is padded by 0.1 s and cut into pieces of at most 15 s, like subtitle lines.
"""
from __future__ import annotations

FLOOR_PERCENTILE = 0.10
ABOVE_FLOOR_DB = 10.0
PEAK_PERCENTILE = 0.95
BELOW_PEAK_DB = 20.0
MIN_LEVEL_DB = -50.0
JOIN_GAP_SECONDS = 0.4
MIN_SOUND_SECONDS = 0.25
PAD_SECONDS = 0.1
MAX_SEGMENT_SECONDS = 15.0


def sound_segments(levels: list[float], frame_seconds: float) -> list[tuple[float, float]]:
    """(start, end) seconds of each stretch of sound, in order."""
    if not levels:
        return []
    ordered = sorted(levels)
    floor = ordered[int(FLOOR_PERCENTILE * (len(ordered) - 1))]
    peak = ordered[int(PEAK_PERCENTILE * (len(ordered) - 1))]
    threshold = max(MIN_LEVEL_DB, min(floor + ABOVE_FLOOR_DB, peak - BELOW_PEAK_DB))
    runs: list[list[int]] = []
    join = round(JOIN_GAP_SECONDS / frame_seconds)
    for index, level in enumerate(levels):
        if level < threshold:
            continue
        if runs and index - runs[-1][1] <= join:
            runs[-1][1] = index + 1
        else:
            runs.append([index, index + 1])
    total = len(levels) * frame_seconds
    segments: list[tuple[float, float]] = []
    for first, last in runs:
        if (last - first) * frame_seconds < MIN_SOUND_SECONDS:
            continue
        start = max(0.0, first * frame_seconds - PAD_SECONDS)
        end = min(total, last * frame_seconds + PAD_SECONDS)
        if segments and start <= segments[-1][1]:
            start = segments[-1][1]
        segments.extend(_pieces(start, end))
    return [(round(s, 3), round(e, 3)) for s, e in segments]


def _pieces(start: float, end: float) -> list[tuple[float, float]]:
    """[start, end) cut into equal pieces of at most MAX_SEGMENT_SECONDS."""
    count = max(1, -int(-(end - start) // MAX_SEGMENT_SECONDS))
    step = (end - start) / count
    return [(start + n * step, start + (n + 1) * step) for n in range(count)]
