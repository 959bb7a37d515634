"""What every blueprint shares: the request's database connection, the services context, the JSON body."""
from __future__ import annotations

import sqlite3
from typing import Any

from flask import Flask, current_app, g, request

from app.config import Settings
from app.db import connect
from app.errors import BadRequest
from app.services.context import Services


def get_db() -> sqlite3.Connection:
    """The request's connection, opened on first use and closed at teardown."""
    if "db" not in g:
        g.db = connect(settings().DATABASE_PATH)
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    conn = g.pop("db", None)
    if conn is not None:
        conn.close()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(close_db)


def settings() -> Settings:
    return current_app.config["SETTINGS"]


def services() -> Services:
    return current_app.extensions["services"]


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
