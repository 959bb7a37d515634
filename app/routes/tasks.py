"""JSON API for background tasks."""
from __future__ import annotations

from flask import Blueprint, jsonify

from app.routes._helpers import get_db, services
from app.services import tasks

bp = Blueprint("tasks", __name__, url_prefix="/api/tasks")


@bp.get("")
def list_tasks():
    return jsonify({"items": tasks.list_tasks(get_db())})


@bp.get("/<task_id>")
def get_task(task_id: str):
    return jsonify(tasks.get_task(get_db(), task_id))


@bp.post("/<task_id>/cancel")
def cancel_task(task_id: str):
    conn = get_db()
    services().tasks.cancel(conn, task_id)
    return jsonify(tasks.get_task(conn, task_id))
