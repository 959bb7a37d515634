"""Planning an analysis: what runs as batch, what on demand, what is rejected and why, and the cost.

A video longer than one segment (or too big for one media object) is planned as segments
(app/services/segments/plan.py): each segment is a record per type like any other, chunks are filled with
segments, so a file's segments may land in several chunks, and the estimate counts every segment plus the
text-only call that merges the summary.
"""
from __future__ import annotations

import math
import sqlite3
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping

from app.config import Settings
from app.errors import Unprocessable
from app.nova.catalog import NovaModel
from app.nova.estimate import cost_usd, merge_call_tokens
from app.services.analysis_request import parse_request, types_for_media
from app.services.context import Services
from app.services.estimates import Estimator
from app.services.plan_model import Plan, PlannedChunk, PlannedFile, PlannedSegment  # noqa: F401 (re-exported)
from app.services.prompt_context import transcript_tokens as spoken_tokens
from app.services.segments.plan import Segmentation, segment_bytes, segmentation_for

# A 720p/15 fps H.264 proxy runs at roughly 1.2 Mbit/s; used only when the proxy is not made yet.
ESTIMATED_PROXY_BYTES_PER_SECOND = 150_000
MODES = ("auto", "batch", "on_demand")


def _proxy_bytes(row: sqlite3.Row) -> int:
    if row["proxy_size_bytes"] is not None:
        return int(row["proxy_size_bytes"])
    if row["media_type"] == "video":
        return int((row["duration_seconds"] or 0) * ESTIMATED_PROXY_BYTES_PER_SECOND)
    return 300_000


# What a retry may reuse of a segmented file's earlier run: (segment seconds, overlap, {type: segment indexes
# answered whole}); reused only when the file cuts into the same segments again.
Reusable = tuple[int, int, Mapping[str, Iterable[int]]]


def plan_analysis(
    rows: Iterable[sqlite3.Row],
    *,
    model: NovaModel,
    requested_types: list[str],
    options: dict[str, Any],
    mode: str,
    settings: Settings,
    types_by_file: Mapping[int, list[str]] | None = None,
    estimator: Estimator | None = None,
    reusable: Mapping[int, Reusable] | None = None,
    transcript_tokens: Mapping[int, int] | None = None,
) -> Plan:
    """Route every file; greedy chunks in a stable order never exceed BATCH_MAX_FILES or BATCH_MAX_BYTES.

    `types_by_file` narrows the types of some files (a retry runs only what failed); `estimator` learns
    token counts from the model's earlier runs (without one, the documented rates are used); `reusable`
    names the segment answers a retry keeps, so only the other segments are asked again; `transcript_tokens`
    ({file id: tokens of its whole transcript}, prompt_context.transcript_tokens) is what their prompts carry,
    each request at most TRANSCRIPT_PROMPT_TOKENS.
    """
    if mode not in MODES:
        raise Unprocessable(f"mode must be one of {', '.join(MODES)}", code="invalid_parameter",
                            details={"parameter": "mode"})
    plan = Plan(model=model.key, mode=mode, files=[], chunks=[])
    depth = options.get("summary_depth", "standard")
    estimator = estimator or Estimator(None, model)
    for row in sorted(rows, key=lambda r: r["id"]):
        if types_by_file is not None and row["id"] in types_by_file:
            types = list(types_by_file[row["id"]])
        else:
            types = types_for_media(row["media_type"], requested_types)
        planned = PlannedFile(row["id"], row["name"], row["media_type"], types, len(types), _proxy_bytes(row))
        plan.files.append(planned)
        planned.route, planned.reason = _rejection(row, planned) or ("", None)
        if planned.route:
            continue
        if row["media_type"] == "video":
            try:
                segmentation = segmentation_for(model, settings, options, duration=row["duration_seconds"],
                                                proxy_bytes=planned.proxy_bytes)
            except ValueError as exc:
                planned.route, planned.reason = "rejected", str(exc)
                continue
            if segmentation is not None:
                _plan_segments(planned, segmentation, row["duration_seconds"], (reusable or {}).get(row["id"]))
        spoken = _Spoken((transcript_tokens or {}).get(row["id"], 0), settings.TRANSCRIPT_PROMPT_TOKENS,
                         row["duration_seconds"])
        _estimate(planned, row, model, estimator, depth, spoken)
        planned.route, planned.reason = _route(row, planned, model, settings, mode)
    _chunk(plan, [f for f in plan.files if f.route == "batch"], settings, mode)
    if any(f.route == "on_demand" and f.media_type == "image" for f in plan.files) and not settings.BATCH_IMAGES \
            and mode != "on_demand":
        plan.reasons.append("images run on demand (set BATCH_IMAGES=true to batch them)")
    for planned in plan.segmented_files:
        plan.reasons.append(f"{planned.name}: {len(planned.segments)} segments of {_minutes(planned.segment_seconds)}"
                            f" ({planned.segment_overlap} s overlap), merged into one result")
    return plan


def _minutes(seconds: int | None) -> str:
    seconds = seconds or 0
    return f"{seconds // 60} min" + (f" {seconds % 60} s" if seconds % 60 else "") if seconds >= 60 else f"{seconds} s"


def _plan_segments(planned: PlannedFile, segmentation: Segmentation, duration: float,
                   reusable: Reusable | None) -> None:
    """The file's segments, each needing every type but those a retry reuses."""
    done: dict[str, set[int]] = {}
    if reusable is not None and reusable[:2] == (segmentation.seconds, segmentation.overlap):
        done = {t: set(indexes) for t, indexes in reusable[2].items()}
    planned.segment_seconds, planned.segment_overlap = segmentation.seconds, segmentation.overlap
    planned.segments = [
        PlannedSegment(index, start, end, segment_bytes(planned.proxy_bytes, duration, (start, end)),
                       [t for t in planned.types if index not in done.get(t, ())])
        for index, (start, end) in enumerate(segmentation.bounds)]
    planned.records = sum(len(s.types) for s in planned.segments)


@dataclass(frozen=True)
class _Spoken:
    """A video's transcript in its prompts: `tokens` for the whole of it, each request at most `budget`."""

    tokens: int
    budget: int
    duration: float | None

    def per_request(self, span: float | None = None) -> int:
        """What one request carries: the whole transcript, or a segment's share of it (its lines overlap it)."""
        if self.tokens <= 0 or self.budget <= 0:
            return 0
        share = self.tokens if span is None or not self.duration else math.ceil(
            self.tokens * min(1.0, span / self.duration))
        return min(self.budget, share)


def _estimate(planned: PlannedFile, row: sqlite3.Row, model: NovaModel, estimator: Estimator, depth: str,
              spoken: _Spoken) -> None:
    """Tokens and both prices of a file: one estimate per segment (or for the whole file), plus the summary
    merge of a segmented file, always billed on demand."""
    if not planned.segments:
        text = spoken.per_request() if row["media_type"] == "video" else 0
        planned.input_tokens, planned.output_tokens, planned.basis = estimator.estimate(
            row["media_type"], planned.types, duration_seconds=row["duration_seconds"], width=row["width"],
            height=row["height"], summary_depth=depth, text_tokens=text)
        planned.transcript_tokens = text * len(planned.types)
        planned.cost_usd_on_demand = cost_usd(model, planned.input_tokens, planned.output_tokens, batch=False)
        planned.cost_usd_batch = cost_usd(model, planned.input_tokens, planned.output_tokens, batch=True)
        return
    for seg in planned.segments:
        if not seg.types:
            continue
        text = spoken.per_request(seg.end - seg.start)
        seg.input_tokens, seg.output_tokens, planned.basis = estimator.estimate(
            "video", seg.types, duration_seconds=seg.end - seg.start, width=row["width"], height=row["height"],
            summary_depth=depth, text_tokens=text)
        planned.transcript_tokens += text * len(seg.types)
        seg.cost_usd_batch = cost_usd(model, seg.input_tokens, seg.output_tokens, batch=True)
        seg.cost_usd_on_demand = cost_usd(model, seg.input_tokens, seg.output_tokens, batch=False)
    for analysis_type in planned.types:
        merge_in, merge_out = merge_call_tokens(analysis_type, len(planned.segments), depth)
        planned.merge_input_tokens += merge_in
        planned.merge_output_tokens += merge_out
    planned.merge_cost_usd = cost_usd(model, planned.merge_input_tokens, planned.merge_output_tokens, batch=False)
    _price_segmented(planned)


def _price_segmented(planned: PlannedFile) -> None:
    """A segmented file's totals. As batch, its segments in a chunk cost the batch price; those left on demand
    (a chunk below the minimum) and the summary merge cost the on-demand price."""
    planned.input_tokens = sum(s.input_tokens for s in planned.segments) + planned.merge_input_tokens
    planned.output_tokens = sum(s.output_tokens for s in planned.segments) + planned.merge_output_tokens
    planned.cost_usd_on_demand = round(sum(s.cost_usd_on_demand for s in planned.segments)
                                       + planned.merge_cost_usd, 8)
    planned.cost_usd_batch = round(planned.merge_cost_usd + sum(
        s.cost_usd_on_demand if planned.on_demand_segments and s.chunk_index is None else s.cost_usd_batch
        for s in planned.segments), 8)


def _rejection(row: sqlite3.Row, planned: PlannedFile) -> tuple[str, str] | None:
    """('rejected', why) for a file that cannot be analysed at all, else None."""
    if not planned.types:
        return "rejected", "none of the requested types applies to this media type"
    if row["status"] != "ready":
        return "rejected", f"file could not be read: {row['error']}"
    if row["media_type"] == "video" and row["duration_seconds"] is None:
        return "rejected", "video duration is unknown"
    return None


def _route(row: sqlite3.Row, planned: PlannedFile, model: NovaModel, settings: Settings,
           mode: str) -> tuple[str, str | None]:
    """(route, reason) of an analysable file: batch (chunked later), on_demand or rejected."""
    largest = max((s.bytes for s in planned.segments), default=planned.proxy_bytes)
    if row["media_type"] == "video" and not planned.segments:
        # Segmentation keeps every piece inside the window and the size limit; a whole video is checked here.
        if row["duration_seconds"] > model.max_video_seconds:
            return "rejected", (f"{row['duration_seconds']:.0f} s is longer than {model.name}'s "
                                f"{model.max_video_seconds:.0f} s video window")
        if planned.proxy_bytes > model.max_object_bytes:
            return "rejected", f"proxy of {planned.proxy_bytes} bytes exceeds the 1 GB per-object limit"
    if mode == "on_demand" or (planned.segments and planned.records == 0):
        return "on_demand", None  # a retry that only merges again needs no batch job
    if row["media_type"] == "image" and not settings.BATCH_IMAGES:
        return "on_demand", "images run on demand (BATCH_IMAGES=false)"
    if not model.batch:
        if mode == "batch":
            raise Unprocessable(f"model {model.key!r} does not support batch inference", code="batch_unsupported",
                                details={"model": model.key})
        return "on_demand", f"{model.name} has no batch inference"
    if largest > settings.BATCH_MAX_BYTES:
        what = "a segment" if planned.segments else "proxy"
        return "rejected", f"{what} of {largest} bytes exceeds BATCH_MAX_BYTES={settings.BATCH_MAX_BYTES}"
    return "batch", None


@dataclass
class _Unit:
    """One media object of a batch job: a whole file, or one segment of a long one."""

    planned: PlannedFile
    segment: PlannedSegment | None
    bytes: int
    records: int
    cost_usd_batch: float
    cost_usd_on_demand: float


def _units(candidates: list[PlannedFile]) -> list[_Unit]:
    units = []
    for planned in candidates:
        if not planned.segments:
            units.append(_Unit(planned, None, planned.proxy_bytes, planned.records, planned.cost_usd_batch,
                               planned.cost_usd_on_demand))
            continue
        units.extend(_Unit(planned, seg, seg.bytes, len(seg.types), seg.cost_usd_batch, seg.cost_usd_on_demand)
                     for seg in planned.segments if seg.types)
    return units


def _chunk(plan: Plan, candidates: list[PlannedFile], settings: Settings, mode: str) -> None:
    groups: list[list[_Unit]] = []
    current: list[_Unit] = []
    size = 0
    for unit in _units(candidates):
        if current and (len(current) >= settings.BATCH_MAX_FILES or size + unit.bytes > settings.BATCH_MAX_BYTES):
            groups.append(current)
            current, size = [], 0
        current.append(unit)
        size += unit.bytes
    if current:
        groups.append(current)
    minimum = settings.effective_min_records
    for index, group in enumerate(groups):
        records = sum(u.records for u in group)
        chunk = PlannedChunk(
            index=index, file_ids=list(dict.fromkeys(u.planned.file_id for u in group)),
            bytes=sum(u.bytes for u in group), records=records, route="batch",
            cost_usd_batch=round(sum(u.cost_usd_batch for u in group), 6),
            cost_usd_on_demand=round(sum(u.cost_usd_on_demand for u in group), 6),
            segments=sum(1 for u in group if u.segment is not None),
        )
        if records < minimum:
            if mode == "batch":
                raise Unprocessable(
                    f"chunk {index + 1} has {records} records, fewer than the batch minimum of {minimum}; "
                    "use mode 'auto' to run it on demand",
                    code="below_batch_minimum", details={"minimum": minimum, "records": records, "chunk": index})
            chunk.route = "on_demand"
            chunk.reason = (f"{records} record(s) is below the batch minimum of {minimum}: runs on demand "
                            f"(${chunk.cost_usd_on_demand:.4f} on demand vs ${chunk.cost_usd_batch:.4f} as batch)")
            plan.reasons.append(f"chunk {index + 1}: {chunk.reason}")
        for unit in group:
            if unit.segment is not None:
                unit.segment.chunk_index = index if chunk.route == "batch" else None
                if chunk.route != "batch":
                    unit.planned.reason = chunk.reason
                continue
            unit.planned.route = chunk.route
            unit.planned.reason = chunk.reason
            unit.planned.chunk_index = index if chunk.route == "batch" else None
        plan.chunks.append(chunk)
    _route_segmented(candidates)
    # Renumber batch chunks densely so job folders and names count 0..n-1.
    for new_index, chunk in enumerate(c for c in plan.chunks if c.route == "batch"):
        for planned in plan.files:
            if planned.chunk_index == chunk.index:
                planned.chunk_index = new_index
            for seg in planned.segments:
                if seg.chunk_index == chunk.index:
                    seg.chunk_index = new_index
        chunk.index = new_index


def _route_segmented(candidates: list[PlannedFile]) -> None:
    """A segmented file runs as batch when any of its segments is in a batch chunk (those in a chunk below the
    minimum then run on demand, in the submission's on-demand task), else wholly on demand."""
    for planned in candidates:
        if not planned.segments:
            continue
        asked = [s for s in planned.segments if s.types]
        in_chunks = [s.chunk_index for s in asked if s.chunk_index is not None]
        if not in_chunks:
            planned.route = "on_demand"
            continue
        planned.route, planned.chunk_index = "batch", min(in_chunks)
        planned.on_demand_segments = len(in_chunks) < len(asked)
        if not planned.on_demand_segments:
            planned.reason = None
        _price_segmented(planned)


def estimate_response(plan: Plan) -> dict[str, Any]:
    """The /api/nova/estimate body: both prices for everything plannable, the plan and per-file figures."""
    runnable = [f for f in plan.files if f.route != "rejected"]
    totals = plan.totals()
    return {
        "on_demand": {
            "input_tokens": sum(f.input_tokens for f in runnable),
            "output_tokens": sum(f.output_tokens for f in runnable),
            "cost_usd": round(sum(f.cost_usd_on_demand for f in runnable), 6),
        },
        "batch": {
            "input_tokens": sum(f.input_tokens for f in runnable),
            "output_tokens": sum(f.output_tokens for f in runnable),
            "cost_usd": round(sum(f.cost_usd_batch for f in runnable), 6),
        },
        "planned": {"batch": totals["batch"], "on_demand": totals["on_demand"],
                    "total_cost_usd": plan.estimated_cost()},
        "plan": {
            "batch_files": len(plan.batch_files),
            "on_demand_files": len(plan.on_demand_files),
            "rejected_files": len(plan.rejected_files),
            "segmented_files": len(plan.segmented_files),
            "segments": sum(len(f.segments) for f in plan.segmented_files),
            "transcript_files": sum(1 for f in runnable if f.transcript_tokens),
            "transcript_tokens": sum(f.transcript_tokens for f in runnable),
            "reasons": plan.reasons + [f"{f.name}: {f.reason}" for f in plan.rejected_files],
            "chunks": [asdict(c) for c in plan.chunks],
        },
        "basis": sorted({f.basis for f in runnable}),
        "files": [
            {"id": f.file_id, "name": f.name, "route": f.route, "reason": f.reason, "types": f.types,
             "input_tokens": f.input_tokens, "output_tokens": f.output_tokens, "basis": f.basis,
             "cost_usd_on_demand": f.cost_usd_on_demand, "cost_usd_batch": f.cost_usd_batch,
             "records": f.records, "segments": len(f.segments), "segment_seconds": f.segment_seconds,
             "segment_overlap": f.segment_overlap, "merge_input_tokens": f.merge_input_tokens,
             "merge_output_tokens": f.merge_output_tokens, "transcript_tokens": f.transcript_tokens}
            for f in plan.files
        ],
    }


def estimate(services: Services, conn: sqlite3.Connection, body: dict[str, Any]) -> dict[str, Any]:
    """POST /api/nova/estimate: the plan and both prices for the files of the body, nothing recorded."""
    request = parse_request(services, conn, body, for_submit=False)
    plan = plan_analysis(request.rows, model=request.model, requested_types=request.types,
                         options=request.options, mode=body.get("mode", "auto"), settings=services.settings,
                         estimator=Estimator(conn, request.model),
                         transcript_tokens=spoken_tokens(conn, services.settings, request.rows))
    return estimate_response(plan)
