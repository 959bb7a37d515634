"""Reports JSON API: batch staging storage and its cleanup."""
from __future__ import annotations

from flask import Blueprint, jsonify

from app.errors import BadRequest
from app.routes._helpers import get_db, json_body, services
from app.services.batch import cleanup

bp = Blueprint("reports_api", __name__, url_prefix="/reports/api")


@bp.get("/storage/batch")
def batch_storage():
    return jsonify(cleanup.storage_report(get_db(), services().store))


@bp.post("/storage/batch/cleanup")
def batch_storage_cleanup():
    body = json_body()
    # Only a JSON boolean false deletes; anything else (missing, "false", 0) is a dry run.
    dry_run = body.get("dry_run", True) is not False
    older = body.get("older_than_days")
    if older is not None and (isinstance(older, bool) or not isinstance(older, (int, float)) or older < 0):
        raise BadRequest("'older_than_days' must be a non-negative number", code="invalid_parameter",
                         details={"parameter": "older_than_days"})
    include_failed = body.get("include_failed", False)
    if not isinstance(include_failed, bool):
        raise BadRequest("'include_failed' must be true or false", code="invalid_parameter",
                         details={"parameter": "include_failed"})
    report = cleanup.cleanup(get_db(), services().store, dry_run=dry_run, include_failed=include_failed,
                             older_than_days=older)
    return jsonify(report.to_dict())
