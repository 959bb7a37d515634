"""JSON API for semantic search's vectors: status, estimate and backfill, find similar, moment frames."""
from __future__ import annotations

from flask import Blueprint, jsonify, request, send_file

from app.routes._helpers import get_db, json_body, services, settings
from app.services import embedding_backfill, frames, search_modes
from app.services.params import bool_param, float_param, int_param, optional

bp = Blueprint("embeddings", __name__, url_prefix="/api")


@bp.get("/embeddings")
def embeddings_status():
    return jsonify(embedding_backfill.status(services(), get_db()))


@bp.get("/embeddings/estimate")
def embeddings_estimate():
    args = request.args
    missing_only = bool_param("missing_only", args.get("missing_only", "true"))
    filters = {k: v for k, v in args.items() if k != "missing_only"}
    _ids, estimate = embedding_backfill.plan(services(), get_db(), filters, missing_only)
    return jsonify(estimate)


@bp.post("/embeddings/backfill")
def embeddings_backfill():
    return jsonify(embedding_backfill.start_backfill(services(), get_db(), json_body())), 202


@bp.get("/files/<int:file_id>/similar")
def similar(file_id: int):
    raw_t = optional(request.args, "t")
    at = None if raw_t is None else float_param("t", raw_t, 0.0, 10_000_000.0)
    raw_limit = optional(request.args, "limit")
    limit = 12 if raw_limit is None else int_param("limit", raw_limit, 1, 50)
    return jsonify(search_modes.similar(services(), get_db(), file_id, at, limit))


@bp.get("/files/<int:file_id>/frame")
def frame(file_id: int):
    path = frames.frame_path(settings(), get_db(), file_id, request.args.get("t", "0"))
    return send_file(path, mimetype="image/jpeg", conditional=True, max_age=86400)
