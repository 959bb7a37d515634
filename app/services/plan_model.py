"""What a plan is made of: the files with their route, reason, tokens and prices (and the segments of long
videos), the chunks of the batch part, and the plan's totals and API shape (app/services/planning.py makes it)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from app.services.estimates import DOCUMENTED
from app.services.segments.plan import Segmentation


@dataclass
class PlannedSegment:
    """One segment of a long video: its nominal bounds, estimated bytes, the types it still needs an answer
    for (all of them, unless a retry reuses earlier answers) and its chunk (None: on demand)."""

    index: int
    start: float
    end: float
    bytes: int
    types: list[str]
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd_batch: float = 0.0
    cost_usd_on_demand: float = 0.0
    chunk_index: int | None = None


@dataclass
class PlannedFile:
    file_id: int
    name: str
    media_type: str
    types: list[str]
    records: int
    proxy_bytes: int
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd_on_demand: float = 0.0
    cost_usd_batch: float = 0.0
    route: str = "on_demand"          # batch | on_demand | rejected
    reason: str | None = None
    chunk_index: int | None = None
    basis: str = DOCUMENTED           # what the token estimate comes from
    transcript_tokens: int = 0        # what its transcript adds to the input tokens, over all its requests
    segment_seconds: int | None = None
    segment_overlap: int | None = None
    segments: list[PlannedSegment] = field(default_factory=list)
    merge_input_tokens: int = 0       # the text-only call that merges the summary of a segmented video
    merge_output_tokens: int = 0
    merge_cost_usd: float = 0.0
    on_demand_segments: bool = False  # a batch file some of whose segments run on demand (a small last chunk)

    @property
    def segmentation(self) -> Segmentation | None:
        if not self.segments or self.segment_seconds is None or self.segment_overlap is None:
            return None
        return Segmentation(self.segment_seconds, self.segment_overlap, [(s.start, s.end) for s in self.segments])


@dataclass
class PlannedChunk:
    index: int
    file_ids: list[int]
    bytes: int
    records: int
    route: str                         # batch | on_demand
    reason: str | None = None
    cost_usd_batch: float = 0.0
    cost_usd_on_demand: float = 0.0
    segments: int = 0                  # how many of its media objects are segments of long videos


@dataclass
class Plan:
    model: str
    mode: str
    files: list[PlannedFile]
    chunks: list[PlannedChunk]
    reasons: list[str] = field(default_factory=list)

    @property
    def batch_files(self) -> list[PlannedFile]:
        return [f for f in self.files if f.route == "batch"]

    @property
    def on_demand_files(self) -> list[PlannedFile]:
        return [f for f in self.files if f.route == "on_demand"]

    @property
    def rejected_files(self) -> list[PlannedFile]:
        return [f for f in self.files if f.route == "rejected"]

    @property
    def segmented_files(self) -> list[PlannedFile]:
        return [f for f in self.files if f.segments and f.route != "rejected"]

    @property
    def batch_chunks(self) -> list[PlannedChunk]:
        return [c for c in self.chunks if c.route == "batch"]

    def totals(self) -> dict[str, Any]:
        def part(files: list[PlannedFile], batch: bool) -> dict[str, Any]:
            return {
                "files": len(files),
                "records": sum(f.records for f in files),
                "input_tokens": sum(f.input_tokens for f in files),
                "output_tokens": sum(f.output_tokens for f in files),
                "cost_usd": round(sum(f.cost_usd_batch if batch else f.cost_usd_on_demand for f in files), 6),
            }

        return {"batch": part(self.batch_files, True), "on_demand": part(self.on_demand_files, False)}

    def estimated_cost(self) -> float:
        totals = self.totals()
        return round(totals["batch"]["cost_usd"] + totals["on_demand"]["cost_usd"], 6)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "mode": self.mode,
            "batch_files": len(self.batch_files),
            "on_demand_files": len(self.on_demand_files),
            "rejected_files": len(self.rejected_files),
            "segmented_files": len(self.segmented_files),
            "segments": sum(len(f.segments) for f in self.segmented_files),
            "reasons": self.reasons,
            "chunks": [asdict(c) for c in self.chunks],
            "rejected": [{"file_id": f.file_id, "name": f.name, "reason": f.reason} for f in self.rejected_files],
            "segmented": [_segmented_dict(f) for f in self.segmented_files],
            "totals": self.totals(),
        }


def _segmented_dict(planned: PlannedFile) -> dict[str, Any]:
    return {"file_id": planned.file_id, "name": planned.name, "segments": len(planned.segments),
            "segment_seconds": planned.segment_seconds, "segment_overlap": planned.segment_overlap,
            "records": planned.records}
