"""JSON API for models, estimates and on-demand analysis."""
from __future__ import annotations

from flask import Blueprint, jsonify

from app.db import files as files_db
from app.db import get_db
from app.errors import Unprocessable
from app.routes._helpers import extension, json_body, settings
from app.services import analysis, library, planning

bp = Blueprint("nova", __name__, url_prefix="/api/nova")


@bp.get("/models")
def list_models():
    services: analysis.Services = extension("analysis")
    return jsonify({"models": [analysis.model_to_dict(settings(), m) for m in services.catalog.all()],
                    "default": services.catalog.default_key(settings().INFERENCE_BACKEND)})


def _analysis_request(body: dict, *, for_submit: bool):
    """Model, types, options and file rows of an estimate or analyze body, validated."""
    conn = get_db()
    model = analysis.resolve_model(extension("analysis"), body.get("model"), for_submit=for_submit)
    types = analysis.parse_types(body.get("analysis_types"))
    options = analysis.parse_options(body.get("options"))
    rows = files_db.get_files(conn, library.resolve_file_ids(conn, body))
    return conn, model, types, options, rows


@bp.post("/estimate")
def estimate():
    body = json_body()
    _conn, model, types, options, rows = _analysis_request(body, for_submit=False)
    plan = planning.plan_analysis(rows, model=model, requested_types=types, options=options,
                                  mode=body.get("mode", "auto"), settings=settings())
    return jsonify(planning.estimate_response(plan))


@bp.post("/analyze")
def analyze():
    conn, model, types, options, rows = _analysis_request(json_body(), for_submit=True)
    analysis.require_media_support(model, rows)
    run_ids = analysis.create_runs(conn, file_rows=rows, model=model, requested_types=types, options=options,
                                   mode="on_demand")
    if not run_ids:
        raise Unprocessable("none of the requested analysis types applies to the selected files",
                            code="nothing_to_analyze", details={"analysis_types": types})
    job_id = extension("jobs").submit(conn, "analyze", {"run_ids": run_ids})
    return jsonify({"job_id": job_id, "run_ids": run_ids, "files": len(run_ids)}), 202
