"""What every blueprint shares: the request's database connection, the services context, the JSON body,
and the request rules the factory installs once: strict JSON, bounded `<int:...>` ids, the body limit."""
from __future__ import annotations

import sqlite3
from typing import Any

from flask import Flask, current_app, g, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import NotFound, RequestEntityTooLarge
from werkzeug.routing import IntegerConverter, ValidationError

from app.config import Settings
from app.db import connect
from app.errors import BadRequest, PayloadTooLarge
from app.services.context import Services
from app.services.params import MAX_INT, int_param, json_document

# The largest JSON request body, unless the MAX_JSON_BYTES setting says otherwise. Uploads are multipart
# and keep their own limits (MAX_VIDEO_SIZE_MB / MAX_IMAGE_SIZE_MB); no JSON request of this API comes
# near this (50,000 file ids are about 400 KB).
DEFAULT_MAX_JSON_BYTES = 1024 * 1024


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
    app.before_request(refuse_oversize_body)


def settings() -> Settings:
    return current_app.config["SETTINGS"]


def services() -> Services:
    return current_app.extensions["services"]


def max_json_bytes() -> int:
    return int(current_app.config.get("MAX_JSON_BYTES") or DEFAULT_MAX_JSON_BYTES)


def body_too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the request body is larger than {limit} bytes (MAX_JSON_BYTES)",
                           details={"limit_bytes": limit, "setting": "MAX_JSON_BYTES"})


def refuse_oversize_body() -> None:
    """A JSON body over the limit is refused by its Content-Length before a byte of it is read; one of
    unknown length (chunked) is read to one byte past the limit at most (upload_request.py, json_body)."""
    if getattr(request, "is_upload", False):
        return
    limit = max_json_bytes()
    if request.content_length is not None and request.content_length > limit:
        raise body_too_large(limit)


def json_body(*, required: bool = True) -> dict[str, Any]:
    """The request's JSON object; 400 naming the problem otherwise (413 past MAX_JSON_BYTES)."""
    limit = max_json_bytes()
    try:
        data = request.get_data()  # at most limit + 1 bytes (upload_request.py)
    except RequestEntityTooLarge:
        raise body_too_large(limit) from None
    if len(data) > limit:
        raise body_too_large(limit)
    if not data and not required:
        return {}
    if not request.is_json:
        raise BadRequest("send a JSON body with Content-Type: application/json", code="json_required")
    body = request.get_json()  # StrictJSONProvider.loads: BadRequest `invalid_json` on bad JSON
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object", code="invalid_json")
    return body


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON, with request bodies read by params.json_document: no NaN or Infinity, no lone
    surrogates, nesting and integers bounded. Responses are written as before."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return json_document(s)


class BoundedIntConverter(IntegerConverter):
    """`<int:...>` for ids: ASCII digits up to SQLite's largest integer. A bigger id names no row: 404 at
    once, instead of an OverflowError from sqlite3. Raised as NotFound rather than ValidationError, because
    werkzeug answers a ValidationError on one method's rule with 405 when another method's rule has the
    same path (DELETE /api/files/<huge id> would say "method not allowed")."""

    regex = r"[0-9]+"  # `\d` in a str pattern also matches other scripts' digits
    signed_regex = r"-?[0-9]+"

    def to_python(self, value: str) -> int:
        try:
            number = int_param("id", value, -MAX_INT if self.signed else 0, MAX_INT)
        except BadRequest:
            raise NotFound(f"no such resource: ids are at most {MAX_INT}") from None
        if (self.fixed_digits and len(value) != self.fixed_digits) or (self.min is not None and number < self.min) \
                or (self.max is not None and number > self.max):
            raise ValidationError()
        return number
