"""What an analysis request asks for, validated: the model (and whether it can run here), the analysis types
for each media type, the options and the files."""
from __future__ import annotations

import sqlite3
from typing import Any, NamedTuple

from app.config import Settings
from app.db import files as files_db
from app.errors import BadRequest, Unprocessable
from app.nova.catalog import NovaModel
from app.nova.prompts import IMAGE_TYPES, VIDEO_TYPES, normalize_options
from app.services import library
from app.services.context import Services
from app.services.params import id_list
from app.services.segments.plan import check_options, full_detail_seconds


# Requests name video types; images get the closest image type (chapters has none).
IMAGE_EQUIVALENT = {
    "summary": "description", "description": "description", "elements": "elements",
    "waterfall_classification": "waterfall_classification", "search_metadata": "metadata",
    "metadata": "metadata", "chapters": None,
}


VIDEO_EQUIVALENT = {"description": "summary", "metadata": "search_metadata"}


ALL_TYPES = tuple(dict.fromkeys(VIDEO_TYPES + IMAGE_TYPES))


def parse_types(raw: Any) -> list[str]:
    """The requested analysis types, validated; `combined` must stand alone."""
    if raw is None:
        return ["combined"]
    if not isinstance(raw, list) or not raw or not all(isinstance(t, str) for t in raw):
        raise BadRequest("'analysis_types' must be a non-empty list of type names", code="invalid_parameter",
                         details={"parameter": "analysis_types", "allowed": list(ALL_TYPES)})
    unknown = [t for t in raw if t not in ALL_TYPES]
    if unknown:
        raise BadRequest(f"unknown analysis type(s): {', '.join(unknown)}", code="invalid_parameter",
                         details={"parameter": "analysis_types", "allowed": list(ALL_TYPES)})
    types = list(dict.fromkeys(raw))
    if "combined" in types and len(types) > 1:
        raise BadRequest("'combined' already includes every type; send it alone", code="invalid_parameter",
                         details={"parameter": "analysis_types"})
    return types


def types_for_media(media_type: str, requested: list[str]) -> list[str]:
    """The types to run for one file: video types as asked, images mapped to their equivalents."""
    if media_type == "video":
        mapped = [VIDEO_EQUIVALENT.get(t, t) for t in requested]
        return [t for t in dict.fromkeys(mapped) if t in VIDEO_TYPES]
    if requested == ["combined"]:
        return list(IMAGE_TYPES)
    mapped = [IMAGE_EQUIVALENT.get(t) for t in requested]
    return [t for t in dict.fromkeys(mapped) if t]


def parse_options(raw: Any) -> dict[str, Any]:
    return normalize_options(raw)


def resolve_model(services: Services, key: Any, *, for_submit: bool) -> NovaModel:
    """The catalog model for a key (default per backend); 422 naming what to configure when unavailable."""
    if key is None:
        key = services.catalog.default_key(services.settings.INFERENCE_BACKEND)
    if not isinstance(key, str):
        raise BadRequest("'model' must be a model key", code="invalid_parameter", details={"parameter": "model"})
    model = services.catalog.get(key)
    if for_submit:
        available, reason = model_availability(services.settings, model)
        if not available:
            raise Unprocessable(f"model {key!r} is not available: {reason}", code="model_unavailable",
                                details={"model": key, "reason": reason})
    return model


def model_availability(settings: Settings, model: NovaModel) -> tuple[bool, str | None]:
    if model.backend == "local":
        if settings.INFERENCE_BACKEND != "local":
            return False, "the local analyser runs only with INFERENCE_BACKEND=local"
        return True, None
    if settings.INFERENCE_BACKEND != "bedrock":
        return False, ("set INFERENCE_BACKEND=bedrock, STORAGE_BACKEND=s3, S3_BUCKET_NAME, AWS_REGION and AWS "
                       "credentials (and BEDROCK_BATCH_ROLE_ARN for batch jobs) to use Amazon Nova")
    return True, None


def model_to_dict(settings: Settings, model: NovaModel) -> dict[str, Any]:
    available, reason = model_availability(settings, model)
    return {
        "key": model.key, "name": model.name, "model_id": model.model_id,
        "inference_profile_id": model.inference_profile_id,
        "price_input_per_1k": model.price_input_per_1k, "price_output_per_1k": model.price_output_per_1k,
        "video": model.video, "image": model.image, "batch": model.batch, "lifecycle": model.lifecycle,
        "max_video_seconds": model.max_video_seconds, "available": available, "reason": reason,
        "segment_seconds": full_detail_seconds(model),  # longer videos are analysed as segments this long
    }


def require_media_support(model: NovaModel, rows: list[sqlite3.Row]) -> None:
    kinds = {r["media_type"] for r in rows}
    if "video" in kinds and not model.video:
        raise Unprocessable(f"model {model.key!r} cannot analyse video", code="unsupported_media")
    if "image" in kinds and not model.image:
        raise Unprocessable(f"model {model.key!r} cannot analyse images", code="unsupported_media")


class AnalysisRequest(NamedTuple):
    """What an estimate or analyze body asks for, validated: the model, types, options and file rows."""

    model: NovaModel
    types: list[str]
    options: dict[str, Any]
    rows: list[sqlite3.Row]


def parse_request(services: Services, conn: sqlite3.Connection, body: dict[str, Any], *,
                  for_submit: bool) -> AnalysisRequest:
    """Model, types, options and the files of an estimate or analyze body (files resolved on the server)."""
    model = resolve_model(services, body.get("model"), for_submit=for_submit)
    types = parse_types(body.get("analysis_types"))
    options = parse_options(body.get("options"))
    check_options(model, services.settings, options)
    if body.get("file_ids") is not None:
        body = {**body, "file_ids": id_list("file_ids", body["file_ids"])}
    rows = files_db.get_files(conn, library.resolve_file_ids(conn, body))
    return AnalysisRequest(model, types, options, rows)


ON_DEMAND_MODES = ("on_demand",)


def parse_on_demand_mode(raw: Any) -> str:
    """The `mode` of an analyze body: absent or "on_demand", as /api/nova/analyze runs every file now;
    "auto" and "batch" (plans that may use Bedrock batch jobs) belong to /api/batch/nova. Else a 400."""
    if raw is None or raw in ON_DEMAND_MODES:
        return "on_demand"
    raise BadRequest("'mode' must be on_demand (or left out): /api/nova/analyze runs every file now; submit "
                     "'auto' or 'batch' to /api/batch/nova", code="invalid_parameter",
                     details={"parameter": "mode", "allowed": list(ON_DEMAND_MODES)})


def list_models(services: Services) -> dict[str, Any]:
    """GET /api/nova/models: every catalog model with its availability, and the default."""
    settings = services.settings
    return {"models": [model_to_dict(settings, m) for m in services.catalog.all()],
            "default": services.catalog.default_key(settings.INFERENCE_BACKEND)}
