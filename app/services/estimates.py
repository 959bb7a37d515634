"""Token estimates that learn: the model's documented rates until it has answered here, then what it used.

For each (model, analysis type, media type) with at least MIN_RUNS completed results, a file is estimated
from the latest LATEST_RUNS of them: their mean output tokens, and their input tokens per second of video
(up to the span the model samples in full) or per image. Before that, from the documented rates of
app/nova/estimate.py. Each estimate says which it used.

A video's transcript lines in its prompts (app/services/prompt_context.py) are counted on top of the
documented rates; learned rates already include what the transcripts of earlier prompts added, about 260
tokens a minute of speech against 17,280 of video, so they are not counted twice.
"""
from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass

from app.db import usage as usage_db
from app.nova.catalog import NovaModel
from app.nova.estimate import VIDEO_FRAMES_PER_SECOND, estimate_tokens

MIN_RUNS = 3
LATEST_RUNS = 200
DOCUMENTED = "from the model's documented rates"


@dataclass(frozen=True)
class Observed:
    runs: int
    output_mean: float
    input_per_unit: float  # per second of video, or per image


class Estimator:
    """Input and output tokens for one file's requests, learned per type from this model's earlier runs."""

    def __init__(self, conn: sqlite3.Connection | None, model: NovaModel) -> None:
        self.conn = conn
        self.model = model
        self.max_seconds = model.max_video_frames / VIDEO_FRAMES_PER_SECOND
        self._observed: dict[str, dict[str, Observed]] = {}

    def estimate(self, media_type: str, types: list[str], *, duration_seconds: float | None, width: int | None,
                 height: int | None, summary_depth: str, text_tokens: int = 0) -> tuple[int, int, str]:
        """(input tokens, output tokens, basis) for running these types on one file; `text_tokens` is what
        each request's prompt carries beyond the usual (its transcript lines)."""
        observed = self._observations(media_type)
        total_in = total_out = 0
        learned_runs = 0
        for analysis_type in types:
            seen = observed.get(analysis_type)
            if seen is not None and seen.runs >= MIN_RUNS:
                units = 1.0 if media_type == "image" else min(duration_seconds or 0.0, self.max_seconds)
                total_in += math.ceil(seen.input_per_unit * units)
                total_out += math.ceil(seen.output_mean)
                learned_runs += seen.runs
                continue
            prior_in, prior_out = estimate_tokens(
                media_type, duration_seconds=duration_seconds, width=width, height=height,
                analysis_types=[analysis_type], max_frames=self.model.max_video_frames, summary_depth=summary_depth)
            total_in += prior_in + text_tokens
            total_out += prior_out
        return total_in, total_out, _basis(learned_runs, len(types), sum(
            1 for t in types if t in observed and observed[t].runs >= MIN_RUNS))

    def _observations(self, media_type: str) -> dict[str, Observed]:
        if media_type not in self._observed:
            rows = [] if self.conn is None else usage_db.observed_usage(
                self.conn, self.model.key, media_type, per_type=LATEST_RUNS, max_seconds=self.max_seconds)
            found = {}
            for row in rows:
                units = row["n"] if media_type == "image" else row["seconds_sum"]
                if units:
                    found[row["analysis_type"]] = Observed(row["n"], row["output_mean"], row["input_sum"] / units)
            self._observed[media_type] = found
        return self._observed[media_type]


def _basis(runs: int, types: int, learned_types: int) -> str:
    if learned_types == 0:
        return DOCUMENTED
    earlier = f"from {runs} earlier run{'s' if runs != 1 else ''}"
    return earlier if learned_types == types else f"{earlier} and the model's documented rates"
