"""What every request must pass: the Host it names, the length of its URL, the API token (header or sign-in
cookie) and, for state changes, a JSON body from this origin; plus the headers every response carries.

- Host: a page on another site whose name an attacker re-points at 127.0.0.1 (DNS rebinding) reaches this
  app from the victim's browser as "same origin", but its requests still name the attacker's host, so only
  the Hosts the app is configured for are answered (https://en.wikipedia.org/wiki/DNS_rebinding).
- State changes: a web page on another site can make the user's browser send a simple form POST here; it
  cannot send `Content-Type: application/json` or forge `Origin` without a CORS preflight that we refuse.
  A request authenticated by the cookie must also name this origin (browsers send `Origin` on every
  non-GET request: https://fetch.spec.whatwg.org/#origin-header), and the cookie is SameSite=Strict.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Callable, Iterable
from urllib.parse import quote, urlsplit

from flask import Blueprint, Flask, jsonify, redirect, request

from app.config import Settings
from app.errors import BadRequest, Unauthorized
from app.routes._helpers import json_body, settings as current_settings
from app.utils.clock import utcnow

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
API_PREFIXES = ("/api/", "/reports/api/")
# Multipart uploads cannot be JSON; they are protected by the token and Origin checks alone.
MULTIPART_ENDPOINTS = {"/api/files/upload"}
# Reachable without the token: the sign-in page, signing in and out, and the static assets they need.
SIGNIN_PAGE = "/signin"
SESSION_ENDPOINT = "/api/session"
OPEN_PATHS = {SIGNIN_PAGE, SESSION_ENDPOINT}
OPEN_PREFIXES = ("/static/",)

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
WILDCARD_HOSTS = {"0.0.0.0", "::", ""}
# Longest request target (path and query) answered. The app's own URLs stay far below it; common servers
# stop at about 8 KB too (nginx's large_client_header_buffers, Apache's LimitRequestLine).
MAX_URL_LENGTH = 8192

COOKIE_NAME = "media_library_session"
SESSION_SECONDS = 7 * 24 * 3600
DEFAULT_NEXT = "/files"

# No inline script or style (pages load ES modules and app.css; scripts may still set element.style, which
# the policy allows). img-src data: is for Bootstrap's stylesheet, which draws its icons (checkboxes, select
# arrows, close buttons) as data: SVGs, and for the pages' empty `data:,` favicon. Checked in Chromium on
# every page by tests/browser/test_csp.py.
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                           "form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),  # frame-ancestors for browsers that predate CSP 2
)

bp = Blueprint("session", __name__)
log = logging.getLogger(__name__)


def _error(status: int, code: str, message: str):
    return jsonify({"error": {"code": code, "message": message, "details": {}}}), status


# ---- Host, URL length and response headers: a WSGI middleware, so nothing escapes them -------------------

def allowed_hosts(settings: Settings) -> frozenset[str]:
    """Host header values answered: the loopback names and HOST (each with PORT or no port: a browser sends
    no port only for :80/:443), and ALLOWED_HOSTS (an entry without a port likewise)."""
    names = list(LOOPBACK_NAMES)
    host = settings.HOST.lower()
    if host not in WILDCARD_HOSTS:
        names.append(f"[{host}]" if ":" in host else host)
    hosts = {variant for name in names for variant in (name, f"{name}:{settings.PORT}")}
    for entry in settings.ALLOWED_HOSTS:
        hosts.add(entry)
        if ":" not in entry.rsplit("]", 1)[-1]:  # no port (an IPv6 address has its colons inside brackets)
            hosts.add(f"{entry}:{settings.PORT}")
    return frozenset(hosts)


def _request_target_length(environ: dict) -> int:
    raw = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if raw:
        return len(raw)
    return len(environ.get("SCRIPT_NAME", "")) + len(environ.get("PATH_INFO", "")) + 1 + \
        len(environ.get("QUERY_STRING", ""))


class RequestGate:
    """Refuses an unknown Host (400) and an over-long URL (414) before Flask sees the request, and adds the
    security headers to every response, the refusals included."""

    def __init__(self, wsgi_app: Callable, hosts: Iterable[str]):
        self.wsgi_app = wsgi_app
        self.hosts = frozenset(hosts)

    def __call__(self, environ: dict, start_response: Callable):
        def start_with_headers(status, headers, exc_info=None):
            present = {name.lower() for name, _value in headers}
            headers = list(headers) + [(n, v) for n, v in SECURITY_HEADERS if n.lower() not in present]
            return start_response(status, headers, exc_info)

        host = environ.get("HTTP_HOST", "").strip().lower()
        if host not in self.hosts:
            return _wsgi_error(start_with_headers, "400 Bad Request", "host_not_allowed",
                               f"this server does not answer for Host {host[:200]!r}; add it to ALLOWED_HOSTS")
        if _request_target_length(environ) > MAX_URL_LENGTH:
            return _wsgi_error(start_with_headers, "414 URI Too Long", "uri_too_long",
                               f"the URL is longer than {MAX_URL_LENGTH} characters")
        return self.wsgi_app(environ, start_with_headers)


def _wsgi_error(start_response: Callable, status: str, code: str, message: str) -> list[bytes]:
    body = json.dumps({"error": {"code": code, "message": message, "details": {}}}).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


# ---- the API token: bearer header or sign-in cookie ------------------------------------------------------

def session_value(token: str, issued: int) -> str:
    """The cookie for a sign-in at `issued` (Unix seconds): the time and an HMAC of it keyed by the token, so
    the cookie never holds the token, expires, and stops working when the token changes."""
    mac = hmac.new(token.encode(), f"session:{issued}".encode(), hashlib.sha256).hexdigest()
    return f"{issued}.{mac}"


def _valid_session(value: str, token: str) -> bool:
    issued_text, _, _mac = value.partition(".")
    if not (issued_text.isascii() and issued_text.isdigit()):
        return False
    issued = int(issued_text)
    now = int(utcnow().timestamp())
    if not now - SESSION_SECONDS <= issued <= now + 60:
        return False
    return hmac.compare_digest(value.encode(), session_value(token, issued).encode())


def authenticated_by(token: str) -> str | None:
    """'bearer' or 'cookie' when the request carries the token (or a valid sign-in cookie), else None."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer ") and hmac.compare_digest(header[7:].encode(), token.encode()):
        return "bearer"
    cookie = request.cookies.get(COOKIE_NAME)
    if cookie and _valid_session(cookie, token):
        return "cookie"
    return None


def safe_next(value: object) -> str:
    """`value` if it is a path on this site, else the library: a sign-in never redirects elsewhere. Browsers
    read '\\' as '/' and drop tabs and newlines, so '/\\evil' or '/\\t/evil' would leave the site."""
    if not isinstance(value, str) or not value.startswith("/") or len(value) > 2000:
        return DEFAULT_NEXT
    if value.startswith("//") or "\\" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return DEFAULT_NEXT
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path == SIGNIN_PAGE:
        return DEFAULT_NEXT
    return value


def signin_url(target: str) -> str:
    return f"{SIGNIN_PAGE}?next={quote(target, safe='/')}"


@bp.post(SESSION_ENDPOINT)
def sign_in():
    """Exchange the token (JSON {"token", "next"}) for the HttpOnly session cookie."""
    body = json_body()
    token = current_settings().API_TOKEN
    supplied = body.get("token")
    if not isinstance(supplied, str) or not supplied or len(supplied) > 4096:
        raise BadRequest("send {\"token\": \"<API_TOKEN>\"}")
    if token and not hmac.compare_digest(supplied.encode(), token.encode()):
        log.warning("failed sign-in from %s", request.remote_addr)  # for fail2ban and the like
        raise Unauthorized("that is not the API token", code="invalid_token")
    response = jsonify({"signed_in": True, "next": safe_next(body.get("next"))})
    if token:
        value = session_value(token, int(utcnow().timestamp()))
        response.set_cookie(COOKIE_NAME, value, max_age=SESSION_SECONDS, path="/", secure=request.is_secure,
                            httponly=True, samesite="Strict")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.delete(SESSION_ENDPOINT)
def sign_out():
    response = jsonify({"signed_in": False})
    response.delete_cookie(COOKIE_NAME, path="/", secure=request.is_secure, httponly=True, samesite="Strict")
    response.headers["Cache-Control"] = "no-store"
    return response


# ---- the rules of each request ---------------------------------------------------------------------------

def _same_origin(origin: str, settings: Settings, hosts: frozenset[str]) -> bool:
    if origin in settings.CORS_ORIGINS:
        return True
    parts = urlsplit(origin)
    return parts.scheme in {"http", "https"} and parts.netloc.lower() in hosts


def _needs_token(path: str) -> bool:
    return path not in OPEN_PATHS and not path.startswith(OPEN_PREFIXES)


def init_app(app: Flask) -> None:
    settings: Settings = app.config["SETTINGS"]
    hosts = allowed_hosts(settings)
    app.wsgi_app = RequestGate(app.wsgi_app, hosts)
    app.register_blueprint(bp)

    @app.context_processor
    def signed_in_context():
        return {"token_required": bool(settings.API_TOKEN)}

    @app.before_request
    def guard_requests():
        is_api = request.path.startswith(API_PREFIXES)
        via = None
        if settings.API_TOKEN and request.method != "OPTIONS" and _needs_token(request.path):
            via = authenticated_by(settings.API_TOKEN)
            if via is None:
                if is_api or request.method not in {"GET", "HEAD"}:
                    return _error(401, "unauthorized", "send 'Authorization: Bearer <API_TOKEN>' or sign in "
                                  f"at {SIGNIN_PAGE}")
                target = request.path + (f"?{request.query_string.decode('latin-1')}" if request.query_string else "")
                return redirect(signin_url(safe_next(target)))
        if request.method not in STATE_CHANGING or not is_api:
            return None
        origin = request.headers.get("Origin")
        if origin and not _same_origin(origin, settings, hosts):
            return _error(403, "cross_origin_refused", f"requests from {origin} may not change anything here")
        if via == "cookie" and not origin:
            return _error(403, "origin_required", "a change made with the sign-in cookie must come from a "
                          "page of this app (no Origin header was sent)")
        if request.method in {"POST", "PUT", "PATCH"} and request.path not in MULTIPART_ENDPOINTS \
                and not request.is_json:
            return _error(415, "json_required", "send a JSON body with Content-Type: application/json")
        return None
