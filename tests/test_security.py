"""What every request must pass: the Host it names, the token (header or sign-in cookie), JSON bodies and the same
origin for state changes, a bounded URL; the headers every response carries; loopback by default."""
from __future__ import annotations

import re

import pytest

from app import create_app
from app.config import ConfigError
from app.routes.security import COOKIE_NAME, MAX_URL_LENGTH, SESSION_SECONDS, safe_next, session_value
from app.utils.clock import utcnow

TOKEN = "s3cret-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
PAGES = ["/files", "/files/1", "/batches", "/batches/1", "/search", "/reports"]


def _make(app_config, **overrides):
    app = create_app({**app_config, **overrides})
    yield app.test_client()
    app.extensions["services"].tasks.stop()


@pytest.fixture
def token_client(app_config):
    yield from _make(app_config, API_TOKEN=TOKEN)


@pytest.fixture
def hosts_client(app_config):
    yield from _make(app_config, ALLOWED_HOSTS="media.lan, box.example:8443, [fd00::5]")


def _error_code(response) -> str:
    return response.get_json()["error"]["code"]


# ---- Host ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["evil.example", "evil.example:5800", "127.0.0.1.nip.io:5800", "localhost:5801",
                                  "127.0.0.2:5800", "localhost.:5800", "0.0.0.0:5800"])
@pytest.mark.parametrize("method, path", [("GET", "/api/files"), ("POST", "/api/files/import-directory"),
                                          ("GET", "/files"), ("GET", "/static/css/app.css"), ("GET", "/no-such-page"),
                                          ("GET", "/signin")])
def test_a_request_for_another_host_is_refused(client, host, method, path):
    response = client.open(path, method=method, json={}, base_url=f"http://{host}/",
                           headers={"Origin": f"http://{host}"})
    error = response.get_json()["error"]
    assert response.status_code == 400 and set(error) == {"code", "message", "details"}
    assert error["code"] == "host_not_allowed" and error["details"] == {} and "ALLOWED_HOSTS" in error["message"]


def test_dns_rebinding_cannot_change_anything(client, library_root):
    # A page on evil.example, its name re-pointed at 127.0.0.1: its requests are "same origin" with itself.
    response = client.post("/api/files/import-directory", json={"path": str(library_root)},
                           base_url="http://evil.example:5800/", headers={"Origin": "http://evil.example:5800"})
    assert response.status_code == 400 and _error_code(response) == "host_not_allowed"
    assert client.get("/api/tasks").get_json()["items"] == []


@pytest.mark.parametrize("host", ["localhost", "localhost:5800", "127.0.0.1", "127.0.0.1:5800", "[::1]:5800", "[::1]",
                                  "LOCALHOST:5800"])
def test_the_loopback_names_are_answered_with_the_port_or_without(client, host):
    assert client.get("/api/files", base_url=f"http://{host}/").status_code == 200


def test_allowed_hosts_adds_names_for_a_deployment(hosts_client):
    for host in ("media.lan", "media.lan:5800", "box.example:8443", "[fd00::5]:5800", "localhost:5800"):
        assert hosts_client.get("/api/files", base_url=f"http://{host}/").status_code == 200, host
    for host in ("media.lan:81", "box.example", "box.example:5800", "other.lan"):
        assert hosts_client.get("/api/files", base_url=f"http://{host}/").status_code == 400, host


def test_a_configured_host_is_answered(app_config):
    app = create_app({**app_config, "HOST": "192.0.2.7", "API_TOKEN": TOKEN})
    client = app.test_client()
    assert client.get("/api/files", base_url="http://192.0.2.7:5800/", headers=BEARER).status_code == 200
    assert client.get("/api/files", base_url="http://192.0.2.8:5800/", headers=BEARER).status_code == 400


# ---- same origin, JSON bodies ---------------------------------------------------------------------------

def test_state_changes_need_a_json_body(client, library_root):
    form = client.post("/api/files/import-directory", data={"path": str(library_root)})
    assert form.status_code == 415 and _error_code(form) == "json_required"
    text = client.post("/api/files/proxies", data="{}", content_type="text/plain")
    assert text.status_code == 415


def test_cross_origin_state_changes_are_refused(client, library_root):
    evil = client.post("/api/files/import-directory", json={"path": str(library_root)},
                       headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403 and _error_code(evil) == "cross_origin_refused"
    for origin in ("http://localhost", "http://localhost:5800", "http://127.0.0.1:5800", "http://[::1]:5800"):
        same = client.post("/api/files/import-directory", json={"path": str(library_root)}, headers={"Origin": origin})
        assert same.status_code == 202, origin
    for origin in ("null", "http://localhost:5801", "http://127.0.0.1.nip.io:5800", "file://"):
        other = client.post("/api/files/import-directory", json={"path": str(library_root)}, headers={"Origin": origin})
        assert other.status_code == 403, origin


def test_same_origin_means_an_allowed_host_not_the_requests_host(hosts_client, library_root):
    body = {"path": str(library_root)}
    assert hosts_client.post("/api/files/import-directory", json=body,
                             headers={"Origin": "http://media.lan:5800"}).status_code == 202
    # The request's own Host (allowed) is no licence for an Origin naming another one.
    refused = hosts_client.post("/api/files/import-directory", json=body, base_url="http://media.lan:5800/",
                                headers={"Origin": "http://other.lan:5800"})
    assert refused.status_code == 403


def test_cors_allows_only_configured_origins(client):
    allowed = client.get("/api/files", headers={"Origin": "http://localhost:5800"})
    assert allowed.headers.get("Access-Control-Allow-Origin") == "http://localhost:5800"
    other = client.get("/api/files", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


# ---- the token: every page and API request ---------------------------------------------------------------

def test_token_required_for_state_changes_when_set(token_client, library_root):
    body = {"path": str(library_root)}
    missing = token_client.post("/api/files/import-directory", json=body)
    assert missing.status_code == 401 and _error_code(missing) == "unauthorized"
    wrong = token_client.post("/api/files/import-directory", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = token_client.post("/api/files/import-directory", json=body, headers=BEARER)
    assert right.status_code == 202
    assert token_client.delete("/api/files/1").status_code == 401


@pytest.mark.parametrize("path", ["/api/files", "/api/files/1", "/api/files/1/thumbnail", "/api/tasks",
                                  "/api/search?q=a", "/api/usage", "/api/batch", "/api/nova/models",
                                  "/reports/api/storage/batch", "/api/health", "/api/no-such-thing"])
def test_reads_need_the_token_when_set(token_client, path):
    response = token_client.get(path)
    assert response.status_code == 401 and _error_code(response) == "unauthorized"
    assert token_client.get(path, headers=BEARER).status_code != 401


@pytest.mark.parametrize("path", [*PAGES, "/", "/search?q=x&media_type=video"])
def test_pages_send_a_visitor_without_the_token_to_sign_in(token_client, path):
    response = token_client.get(path)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/signin?next=/")
    assert "%3F" in location or "?" not in path  # the query string travels along, encoded


def test_static_assets_and_the_sign_in_page_need_no_token(token_client):
    assert token_client.get("/static/css/app.css").status_code == 200
    assert token_client.get("/static/js/signin.js").status_code == 200
    page = token_client.get("/signin?next=/files")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert 'id="signin-form"' in html and 'src="/static/js/signin.js"' in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)  # no inline script
    # The field has no name: a form submitted without the module sends nothing, the token never enters a URL.
    token_input = re.search(r"<input[^>]*id=\"signin-token\"[^>]*>", html).group(0)
    assert "name=" not in token_input and 'type="password"' in token_input
    assert 'method="post"' in html


def _sign_in(client, token=TOKEN, **kwargs):
    return client.post("/api/session", json={"token": token, "next": kwargs.pop("next", "/files")}, **kwargs)


def test_signing_in_sets_a_strict_http_only_cookie_that_pages_and_the_api_accept(token_client, library_root):
    response = _sign_in(token_client, next="/files/3?t=12.5")
    assert response.status_code == 200 and response.get_json() == {"signed_in": True, "next": "/files/3?t=12.5"}
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=") and TOKEN not in cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie and "Secure" not in cookie
    assert token_client.get("/files").status_code == 200
    assert token_client.get("/api/files").status_code == 200
    origin = {"Origin": "http://localhost:5800"}
    body = {"path": str(library_root)}
    assert token_client.post("/api/files/import-directory", json=body, headers=origin).status_code == 202
    # With the cookie alone a change must name this origin (browsers always send it on non-GET requests).
    bare = token_client.post("/api/files/import-directory", json=body)
    assert bare.status_code == 403 and _error_code(bare) == "origin_required"
    evil = token_client.post("/api/files/import-directory", json=body, headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403
    # Signed in already: the sign-in page moves on.
    assert token_client.get("/signin?next=/batches").headers["Location"] == "/batches"


def test_the_cookie_is_secure_over_https(token_client):
    response = _sign_in(token_client, base_url="https://localhost/")
    assert "Secure" in response.headers["Set-Cookie"]


def test_a_wrong_token_sets_no_cookie(token_client):
    for token in ("nope", TOKEN + "x", TOKEN[:-1]):
        response = _sign_in(token_client, token)
        assert response.status_code == 401 and _error_code(response) == "invalid_token"
        assert "Set-Cookie" not in response.headers
    assert _sign_in(token_client, 42).status_code == 400
    assert token_client.post("/api/session", data={"token": TOKEN}).status_code == 415  # a form post: no
    assert token_client.get("/api/files").status_code == 401


def test_signing_out_clears_the_cookie(token_client):
    _sign_in(token_client)
    assert token_client.get("/api/files").status_code == 200
    out = token_client.delete("/api/session", headers={"Origin": "http://localhost:5800"})
    assert out.status_code == 200 and f"{COOKIE_NAME}=;" in out.headers["Set-Cookie"]
    assert token_client.get("/api/files").status_code == 401
    assert token_client.get("/files").status_code == 302


@pytest.mark.parametrize("value", ["forged", "1.abc", f"{10**12}.00", ""])
def test_a_forged_or_foreign_cookie_is_refused(token_client, value):
    token_client.set_cookie(COOKIE_NAME, value)
    assert token_client.get("/api/files").status_code == 401


def test_an_expired_cookie_or_one_made_with_another_token_is_refused(token_client):
    now = int(utcnow().timestamp())
    token_client.set_cookie(COOKIE_NAME, session_value(TOKEN, now - SESSION_SECONDS - 5))
    assert token_client.get("/api/files").status_code == 401
    token_client.set_cookie(COOKIE_NAME, session_value("another-token", now))
    assert token_client.get("/api/files").status_code == 401
    token_client.set_cookie(COOKIE_NAME, session_value(TOKEN, now - 60))
    assert token_client.get("/api/files").status_code == 200


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example", "/\\evil.example", "/\t/evil.example",
                                    "javascript:alert(1)", "evil.example", "", None, 5, "/signin?next=//evil.example",
                                    "/%0a/evil", "http:/evil.example"])
def test_next_never_leaves_the_site(token_client, target):
    if isinstance(target, str) and "%0a" in target:
        target = "/\n/evil"
    assert safe_next(target) == "/files"
    assert _sign_in(token_client, next=target).get_json()["next"] == "/files"


def test_next_keeps_a_local_path(token_client):
    assert safe_next("/search?q=stone&page=2") == "/search?q=stone&page=2"
    redirect = token_client.get("/search?q=stone&page=2")
    assert redirect.headers["Location"] == "/signin?next=/search%3Fq%3Dstone%26page%3D2"
    _sign_in(token_client)
    signed_in = token_client.get("/signin?next=/search%3Fq%3Dstone%26page%3D2")
    assert signed_in.headers["Location"] == "/search?q=stone&page=2"


def test_without_a_token_nothing_asks_for_one(client):
    assert client.get("/signin?next=/batches").headers["Location"] == "/batches"
    assert client.get("/files").status_code == 200 and client.get("/api/files").status_code == 200
    html = client.get("/files").get_data(as_text=True)
    assert "sign-out" not in html and "signin.js" not in html


def test_pages_offer_sign_out_when_a_token_is_set(token_client):
    _sign_in(token_client)
    html = token_client.get("/files").get_data(as_text=True)
    assert 'id="sign-out"' in html and 'src="/static/js/signin.js"' in html


def test_non_loopback_host_without_token_refuses_to_start(app_config):
    with pytest.raises(ConfigError, match="API_TOKEN"):
        create_app({**app_config, "HOST": "0.0.0.0"})


# ---- headers and URL length ------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [*PAGES, "/api/files", "/static/js/api.js", "/no-such-page", "/api/files/999"])
def test_every_response_carries_the_security_headers(client, path):
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["default-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "script-src" not in directives
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_refusals_carry_the_security_headers_too(client):
    refused = client.get("/files", base_url="http://evil.example/")
    assert "frame-ancestors 'none'" in refused.headers["Content-Security-Policy"]


@pytest.mark.parametrize("path", [*PAGES, "/signin"])
def test_pages_have_no_inline_script_or_style(app_config, path):
    app = create_app({**app_config, "API_TOKEN": TOKEN})
    client = app.test_client()
    _sign_in(client)
    html = client.get(path, follow_redirects=False).get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\sstyle\s*=", html) and "<style" not in html
    assert not re.search(r"\son[a-z]+\s*=", html)  # no inline event handlers


@pytest.mark.parametrize("path", ["/api/files?q=", "/api/search?q=", "/files?q=", "/no-such-page?x="])
def test_an_over_long_url_gets_a_json_414(client, path):
    response = client.get(path + "a" * 100_000)
    assert response.status_code == 414 and response.mimetype == "application/json"
    assert _error_code(response) == "uri_too_long"
    assert set(response.get_json()["error"]) == {"code", "message", "details"}
    assert client.get(path + "a" * (MAX_URL_LENGTH - 200)).status_code != 414
