"""Guards for state-changing requests: bearer token, JSON bodies and same-origin checks.

A web page on another site can make the user's browser send a simple form POST to this app; it cannot
send `Content-Type: application/json` or forge `Origin` without a CORS preflight that we refuse.
"""
from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from flask import Flask, jsonify, request

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
API_PREFIXES = ("/api/", "/reports/api/")
# Multipart uploads cannot be JSON; they are protected by the token and Origin checks alone.
MULTIPART_ENDPOINTS = {"/api/files/upload"}


def _error(status: int, code: str, message: str):
    return jsonify({"error": {"code": code, "message": message, "details": {}}}), status


def _same_origin(origin: str, allowed: tuple[str, ...]) -> bool:
    if origin in allowed:
        return True
    parts = urlsplit(origin)
    return bool(parts.scheme) and f"{parts.scheme}://{parts.netloc}" == request.host_url.rstrip("/")


def init_app(app: Flask) -> None:
    settings = app.config["SETTINGS"]

    @app.before_request
    def guard_state_changes():
        if request.method not in STATE_CHANGING or not request.path.startswith(API_PREFIXES):
            return None
        if settings.API_TOKEN:
            header = request.headers.get("Authorization", "")
            supplied = header[7:] if header.startswith("Bearer ") else ""
            if not hmac.compare_digest(supplied.encode(), settings.API_TOKEN.encode()):
                return _error(401, "unauthorized", "this action needs 'Authorization: Bearer <API_TOKEN>'")
        origin = request.headers.get("Origin")
        if origin and not _same_origin(origin, settings.CORS_ORIGINS):
            return _error(403, "cross_origin_refused", f"requests from {origin} may not change anything here")
        if request.method in {"POST", "PUT", "PATCH"} and request.path not in MULTIPART_ENDPOINTS \
                and not request.is_json:
            return _error(415, "json_required", "send a JSON body with Content-Type: application/json")
        return None
