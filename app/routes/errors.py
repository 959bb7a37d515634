"""JSON error responses for every API error, never a stack trace."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from app.errors import AppError

log = logging.getLogger(__name__)


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/reports/api/")) or request.is_json


def init_app(app: Flask) -> None:
    @app.errorhandler(AppError)
    def handle_app_error(exc: AppError):
        return jsonify(exc.to_dict()), exc.status

    @app.errorhandler(HTTPException)
    def handle_http(exc: HTTPException):
        if not _wants_json():
            return exc
        code = (exc.name or "error").lower().replace(" ", "_")
        body = {"error": {"code": code, "message": exc.description or exc.name, "details": {}}}
        return jsonify(body), exc.code or 500

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        body = {"error": {"code": "internal_error", "message": "An internal error occurred; see the server log.", "details": {}}}
        return jsonify(body), 500
