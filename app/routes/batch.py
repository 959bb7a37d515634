"""JSON API for batch submissions; reads come from the database only, AWS calls belong to the poller."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from app.db import get_db
from app.errors import BadRequest
from app.routes._helpers import extension, json_body
from app.services.batch import actions, status, submission

bp = Blueprint("batch", __name__, url_prefix="/api/batch")


@bp.post("/nova")
def submit():
    batch = submission.create_submission(get_db(), extension("analysis"), extension("jobs"), json_body())
    return jsonify(batch), 201


@bp.get("")
def list_batches():
    limit = _int_arg("limit", 50, 1, 500)
    offset = _int_arg("offset", 0, 0, 10_000_000)
    return jsonify(status.list_batches(get_db(), limit=limit, offset=offset))


@bp.get("/<int:batch_id>")
def show(batch_id: int):
    return jsonify(status.batch_to_dict(get_db(), batch_id))


@bp.post("/<int:batch_id>/cancel")
def cancel(batch_id: int):
    return jsonify(actions.cancel_batch(get_db(), extension("analysis"), extension("jobs"), batch_id))


@bp.post("/<int:batch_id>/retry-failed")
def retry_failed(batch_id: int):
    return jsonify(actions.retry_failed(get_db(), extension("analysis"), extension("jobs"), batch_id)), 201


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"'{name}' must be an integer", code="invalid_parameter",
                         details={"parameter": name}) from None
    if not low <= value <= high:
        raise BadRequest(f"'{name}' must be between {low} and {high}", code="invalid_parameter",
                         details={"parameter": name})
    return value
