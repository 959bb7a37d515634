"""JSON API for batch submissions; reads come from the database only, AWS calls belong to the poller."""
from __future__ import annotations

import json

from flask import Blueprint, Response, jsonify, request

from app.routes._helpers import get_db, json_body, services
from app.services import usage
from app.services.batch import actions, export, status, submission
from app.services.params import choice_param, int_param, optional

bp = Blueprint("batch", __name__, url_prefix="/api/batch")


@bp.post("/nova")
def submit():
    return jsonify(submission.create_submission(get_db(), services(), json_body())), 201


@bp.get("")
def list_batches():
    limit = int_param("limit", optional(request.args, "limit") or 50, 1, 500)
    offset = int_param("offset", optional(request.args, "offset") or 0, 0, 10_000_000)
    return jsonify(status.list_batches(get_db(), limit=limit, offset=offset))


@bp.get("/<int:batch_id>")
def show(batch_id: int):
    return jsonify(status.batch_to_dict(get_db(), batch_id))


@bp.post("/<int:batch_id>/cancel")
def cancel(batch_id: int):
    return jsonify(actions.cancel_batch(get_db(), services(), batch_id))


@bp.post("/<int:batch_id>/retry-failed")
def retry_failed(batch_id: int):
    return jsonify(actions.retry_failed(get_db(), services(), batch_id)), 201


@bp.get("/export")
def export_history():
    start, end = usage.parse_range(request.args)
    fmt = choice_param("format", request.args.get("format") or "json", export.FORMATS)
    data = export.history(get_db(), start, end)
    name = f"batches_{start.isoformat()}_{end.isoformat()}.{fmt}"
    body, mimetype = (export.history_csv(data), "text/csv") if fmt == "csv" else (json.dumps(data), "application/json")
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'})
