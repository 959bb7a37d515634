"""JSON API for the Reports page: usage and cost over a date range."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from app.routes._helpers import get_db
from app.services import usage

bp = Blueprint("usage", __name__, url_prefix="/api/usage")


@bp.get("")
def usage_report():
    start, end = usage.parse_range(request.args)
    return jsonify(usage.usage_report(get_db(), start, end))
