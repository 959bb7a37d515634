"""Admin API for the batch poller, and retrying a chunk's result fetch."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from app.errors import Conflict
from app.routes._helpers import get_db, json_body, services
from app.services import poller as poller_service

bp = Blueprint("poller", __name__)


def _poller() -> poller_service.BatchPoller:
    return current_app.extensions["batch_poller"]


@bp.get("/api/nova/batch/poller/status")
def status():
    return jsonify(_poller().status())


@bp.post("/api/nova/batch/poller/start")
def start():
    json_body(required=False)
    poller = _poller()
    if not poller.enabled:
        raise Conflict("the poller is disabled by configuration (BATCH_POLLER_ENABLED=false)", code="poller_disabled")
    if not poller.start():
        raise Conflict("the poller is already running", code="already_running")
    return jsonify(poller.status())


@bp.post("/api/nova/batch/poller/stop")
def stop():
    json_body(required=False)
    poller = _poller()
    if not poller.stop():
        raise Conflict("the poller is not running", code="not_running")
    return jsonify(poller.status())


@bp.post("/api/nova/batch/poller/process-completed")
def process_completed():
    json_body(required=False)
    return jsonify(_poller().run_once(force=True))


@bp.post("/api/batch/chunks/<int:chunk_id>/retry-fetch")
def retry_fetch(chunk_id: int):
    json_body(required=False)
    return jsonify(poller_service.retry_fetch(get_db(), services(), chunk_id))
