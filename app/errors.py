"""Typed errors raised by services; one handler turns them into JSON responses."""
from __future__ import annotations

from typing import Any


class AppError(Exception):
    """An error the caller can act on; carries an HTTP status, a code and details."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class BadRequest(AppError):
    status = 400
    code = "bad_request"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"


class Forbidden(AppError):
    status = 403
    code = "forbidden"


class NotFound(AppError):
    status = 404
    code = "not_found"


class Conflict(AppError):
    status = 409
    code = "conflict"


class PayloadTooLarge(AppError):
    status = 413
    code = "payload_too_large"


class UnsupportedMedia(AppError):
    status = 415
    code = "unsupported_media_type"


class Unprocessable(AppError):
    status = 422
    code = "unprocessable"
