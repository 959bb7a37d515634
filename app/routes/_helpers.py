"""Small request helpers shared by blueprints."""
from __future__ import annotations

from typing import Any

from flask import current_app, request

from app.config import Settings
from app.errors import BadRequest


def settings() -> Settings:
    return current_app.config["SETTINGS"]


def json_body(*, required: bool = True) -> dict[str, Any]:
    """The request's JSON object; 400 naming the problem otherwise."""
    if not request.data and not required:
        return {}
    if not request.is_json:
        raise BadRequest("send a JSON body with Content-Type: application/json", code="json_required")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object", code="invalid_json")
    return body


def extension(name: str) -> Any:
    return current_app.extensions[name]
