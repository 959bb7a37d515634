"""Rules for state-changing requests: token, JSON body, same origin; loopback by default."""
from __future__ import annotations

import pytest

from app import create_app
from app.config import ConfigError


@pytest.fixture
def token_client(app_config):
    app = create_app({**app_config, "API_TOKEN": "s3cret-token"})
    yield app.test_client()
    app.extensions["services"].tasks.stop()


def test_token_required_for_state_changes_when_set(token_client, library_root):
    body = {"path": str(library_root)}
    missing = token_client.post("/api/files/import-directory", json=body)
    assert missing.status_code == 401 and missing.get_json()["error"]["code"] == "unauthorized"
    wrong = token_client.post("/api/files/import-directory", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = token_client.post("/api/files/import-directory", json=body,
                              headers={"Authorization": "Bearer s3cret-token"})
    assert right.status_code == 202
    assert token_client.delete("/api/files/1").status_code == 401


def test_reads_need_no_token(token_client):
    assert token_client.get("/api/files").status_code == 200


def test_state_changes_need_a_json_body(client, library_root):
    form = client.post("/api/files/import-directory", data={"path": str(library_root)})
    assert form.status_code == 415 and form.get_json()["error"]["code"] == "json_required"
    text = client.post("/api/files/proxies", data="{}", content_type="text/plain")
    assert text.status_code == 415


def test_cross_origin_state_changes_are_refused(client, library_root):
    evil = client.post("/api/files/import-directory", json={"path": str(library_root)},
                       headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403 and evil.get_json()["error"]["code"] == "cross_origin_refused"
    same = client.post("/api/files/import-directory", json={"path": str(library_root)},
                       headers={"Origin": "http://localhost"})
    assert same.status_code == 202
    configured = client.post("/api/files/import-directory", json={"path": str(library_root)},
                             headers={"Origin": "http://localhost:5800"})
    assert configured.status_code == 202


def test_cors_allows_only_configured_origins(client):
    allowed = client.get("/api/files", headers={"Origin": "http://localhost:5800"})
    assert allowed.headers.get("Access-Control-Allow-Origin") == "http://localhost:5800"
    other = client.get("/api/files", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_non_loopback_host_without_token_refuses_to_start(app_config):
    with pytest.raises(ConfigError, match="API_TOKEN"):
        create_app({**app_config, "HOST": "0.0.0.0"})
