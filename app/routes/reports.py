"""Reports JSON API: batch staging storage and its cleanup."""
from __future__ import annotations

from flask import Blueprint, jsonify

from app.routes._helpers import get_db, json_body, services
from app.services.batch import cleanup

bp = Blueprint("reports_api", __name__, url_prefix="/reports/api")


@bp.get("/storage/batch")
def batch_storage():
    return jsonify(cleanup.storage_report(get_db(), services().store))


@bp.post("/storage/batch/cleanup")
def batch_storage_cleanup():
    options = cleanup.parse_request(json_body())
    return jsonify(cleanup.cleanup(get_db(), services().store, **options).to_dict())
