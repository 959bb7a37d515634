"""Planning an analysis: what runs as batch, what on demand, what is rejected and why, and the cost."""
from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping

from app.config import Settings
from app.errors import Unprocessable
from app.nova.catalog import NovaModel
from app.nova.estimate import cost_usd
from app.services.analysis_request import parse_request, types_for_media
from app.services.context import Services
from app.services.estimates import DOCUMENTED, Estimator

# A 720p/15 fps H.264 proxy runs at roughly 1.2 Mbit/s; used only when the proxy is not made yet.
ESTIMATED_PROXY_BYTES_PER_SECOND = 150_000
MODES = ("auto", "batch", "on_demand")


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
            "reasons": self.reasons,
            "chunks": [asdict(c) for c in self.chunks],
            "rejected": [{"file_id": f.file_id, "name": f.name, "reason": f.reason} for f in self.rejected_files],
            "totals": self.totals(),
        }


def _proxy_bytes(row: sqlite3.Row) -> int:
    if row["proxy_size_bytes"] is not None:
        return int(row["proxy_size_bytes"])
    if row["media_type"] == "video":
        return int((row["duration_seconds"] or 0) * ESTIMATED_PROXY_BYTES_PER_SECOND)
    return 300_000


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
) -> Plan:
    """Route every file; greedy chunks in a stable order never exceed BATCH_MAX_FILES or BATCH_MAX_BYTES.

    `types_by_file` narrows the types of some files (a retry runs only what failed); `estimator` learns
    token counts from the model's earlier runs (without one, the documented rates are used).
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
        planned.input_tokens, planned.output_tokens, planned.basis = estimator.estimate(
            row["media_type"], types, duration_seconds=row["duration_seconds"], width=row["width"],
            height=row["height"], summary_depth=depth)
        planned.cost_usd_on_demand = cost_usd(model, planned.input_tokens, planned.output_tokens, batch=False)
        planned.cost_usd_batch = cost_usd(model, planned.input_tokens, planned.output_tokens, batch=True)
        planned.route, planned.reason = _route(row, planned, model, settings, mode)
    _chunk(plan, [f for f in plan.files if f.route == "batch"], settings, mode)
    if any(f.route == "on_demand" and f.media_type == "image" for f in plan.files) and not settings.BATCH_IMAGES \
            and mode != "on_demand":
        plan.reasons.append("images run on demand (set BATCH_IMAGES=true to batch them)")
    return plan


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
    if row["media_type"] == "video":
        if row["duration_seconds"] > model.max_video_seconds:
            return "rejected", (f"{row['duration_seconds']:.0f} s is longer than {model.name}'s "
                                f"{model.max_video_seconds:.0f} s video window")
        if planned.proxy_bytes > model.max_object_bytes:
            return "rejected", f"proxy of {planned.proxy_bytes} bytes exceeds the 1 GB per-object limit"
    if mode == "on_demand":
        return "on_demand", None
    if row["media_type"] == "image" and not settings.BATCH_IMAGES:
        return "on_demand", "images run on demand (BATCH_IMAGES=false)"
    if not model.batch:
        if mode == "batch":
            raise Unprocessable(f"model {model.key!r} does not support batch inference", code="batch_unsupported",
                                details={"model": model.key})
        return "on_demand", f"{model.name} has no batch inference"
    if planned.proxy_bytes > settings.BATCH_MAX_BYTES:
        return "rejected", f"proxy of {planned.proxy_bytes} bytes exceeds BATCH_MAX_BYTES={settings.BATCH_MAX_BYTES}"
    return "batch", None


def _chunk(plan: Plan, candidates: list[PlannedFile], settings: Settings, mode: str) -> None:
    groups: list[list[PlannedFile]] = []
    current: list[PlannedFile] = []
    size = 0
    for planned in candidates:
        if current and (len(current) >= settings.BATCH_MAX_FILES or size + planned.proxy_bytes > settings.BATCH_MAX_BYTES):
            groups.append(current)
            current, size = [], 0
        current.append(planned)
        size += planned.proxy_bytes
    if current:
        groups.append(current)
    minimum = settings.effective_min_records
    for index, group in enumerate(groups):
        records = sum(f.records for f in group)
        chunk = PlannedChunk(
            index=index, file_ids=[f.file_id for f in group], bytes=sum(f.proxy_bytes for f in group),
            records=records, route="batch",
            cost_usd_batch=round(sum(f.cost_usd_batch for f in group), 6),
            cost_usd_on_demand=round(sum(f.cost_usd_on_demand for f in group), 6),
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
        for planned in group:
            planned.route = chunk.route
            planned.reason = chunk.reason
            planned.chunk_index = index if chunk.route == "batch" else None
        plan.chunks.append(chunk)
    # Renumber batch chunks densely so job folders and names count 0..n-1.
    for new_index, chunk in enumerate(c for c in plan.chunks if c.route == "batch"):
        for planned in plan.files:
            if planned.chunk_index == chunk.index:
                planned.chunk_index = new_index
        chunk.index = new_index


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
            "reasons": plan.reasons + [f"{f.name}: {f.reason}" for f in plan.rejected_files],
            "chunks": [asdict(c) for c in plan.chunks],
        },
        "basis": sorted({f.basis for f in runnable}),
        "files": [
            {"id": f.file_id, "name": f.name, "route": f.route, "reason": f.reason, "types": f.types,
             "input_tokens": f.input_tokens, "output_tokens": f.output_tokens, "basis": f.basis,
             "cost_usd_on_demand": f.cost_usd_on_demand, "cost_usd_batch": f.cost_usd_batch}
            for f in plan.files
        ],
    }


def estimate(services: Services, conn: sqlite3.Connection, body: dict[str, Any]) -> dict[str, Any]:
    """POST /api/nova/estimate: the plan and both prices for the files of the body, nothing recorded."""
    request = parse_request(services, conn, body, for_submit=False)
    plan = plan_analysis(request.rows, model=request.model, requested_types=request.types,
                         options=request.options, mode=body.get("mode", "auto"), settings=services.settings,
                         estimator=Estimator(conn, request.model))
    return estimate_response(plan)
