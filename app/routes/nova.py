"""JSON API for models, estimates and on-demand analysis."""
from __future__ import annotations

from flask import Blueprint, jsonify

from app.routes._helpers import get_db, json_body, services
from app.services import analysis, analysis_request, planning

bp = Blueprint("nova", __name__, url_prefix="/api/nova")


@bp.get("/models")
def list_models():
    return jsonify(analysis_request.list_models(services()))


@bp.post("/estimate")
def estimate():
    return jsonify(planning.estimate(services(), get_db(), json_body()))


@bp.post("/analyze")
def analyze():
    return jsonify(analysis.analyze_on_demand(services(), get_db(), json_body())), 202
