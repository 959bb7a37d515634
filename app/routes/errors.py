"""JSON error responses for every API error, never a stack trace, and always the documented shape
`{"error": {"code", "message", "details"}}`."""
from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from app.errors import AppError

log = logging.getLogger(__name__)

# Werkzeug's names for these differ from the codes services raise (app/errors.py): one code per error.
_CODES = {413: "payload_too_large", 415: "unsupported_media_type"}
_DESCRIPTIONS = {412: "the resource does not match the request's precondition (If-Match or If-Unmodified-Since)"}


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/reports/api/")) or request.is_json


def _http_body(status: int, name: str | None, description: str | None) -> dict:
    code = _CODES.get(status) or (name or "error").lower().replace(" ", "_")
    return {"error": {"code": code, "message": description or name or "error", "details": {}}}


def init_app(app: Flask) -> None:
    @app.errorhandler(AppError)
    def handle_app_error(exc: AppError):
        return jsonify(exc.to_dict()), exc.status

    @app.errorhandler(HTTPException)
    def handle_http(exc: HTTPException):
        if not _wants_json():
            return exc
        return jsonify(_http_body(exc.code or 500, exc.name, exc.description)), exc.code or 500

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        body = {"error": {"code": "internal_error", "message": "An internal error occurred; see the server log.", "details": {}}}
        return jsonify(body), 500

    @app.after_request
    def json_errors_only(response: Response) -> Response:
        """An API error answered without an exception, such as send_file's 412 when If-Match or
        If-Unmodified-Since fails (werkzeug sets the status and keeps the file as the body), gets the
        JSON error shape instead of that body."""
        if response.status_code < 400 or response.is_json or not _wants_json():
            return response
        response.close()  # releases the file send_file opened
        name = HTTP_STATUS_CODES.get(response.status_code, "Error")
        description = _DESCRIPTIONS.get(response.status_code, name)
        error = jsonify(_http_body(response.status_code, name, description))
        error.status_code = response.status_code
        return error
