"""JSON API for background jobs."""
from __future__ import annotations

from flask import Blueprint, jsonify

from app.db import get_db
from app.db import jobs as jobs_db
from app.errors import NotFound
from app.routes._helpers import extension
from app.services.jobs import job_to_dict

bp = Blueprint("jobs", __name__, url_prefix="/api/jobs")


@bp.get("")
def list_jobs():
    conn = get_db()
    return jsonify({"items": [job_to_dict(conn, row) for row in jobs_db.list_jobs(conn)]})


@bp.get("/<job_id>")
def get_job(job_id: str):
    conn = get_db()
    row = jobs_db.get_job(conn, job_id)
    if row is None:
        raise NotFound(f"job {job_id} not found", code="job_not_found", details={"job_id": job_id})
    return jsonify(job_to_dict(conn, row))


@bp.post("/<job_id>/cancel")
def cancel_job(job_id: str):
    conn = get_db()
    extension("jobs").cancel(conn, job_id)
    return jsonify(job_to_dict(conn, jobs_db.get_job(conn, job_id)))
