"""run.py serves with waitress: the app's rules hold over a real socket, an over-long request gets a clean answer,
and the background work starts once, after the port is bound."""
from __future__ import annotations

import http.client
import json
import socket
import threading

import pytest

import run
from app import create_app


@pytest.fixture
def served(app_config):
    """The app behind waitress on a free port (bound first, so PORT is the port the browser would use)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app({**app_config, "PORT": port, "SERVER_THREADS": 3})
    server = run.build_server(app, sockets=[sock])
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    yield server, port
    server.close()
    server.task_dispatcher.shutdown()
    thread.join(timeout=10)
    app.extensions["services"].tasks.stop()


def _get(port: int, target: str, host: str | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("GET", target, skip_host=True)
    conn.putheader("Host", host or f"localhost:{port}")
    conn.endheaders()
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response, body


def test_waitress_serves_the_app_with_the_configured_threads(served):
    server, port = served
    assert server.adj.threads == 3 and len(server.task_dispatcher.threads) == 3
    response, body = _get(port, "/api/files")
    assert response.status == 200 and json.loads(body)["total"] == 0
    assert "frame-ancestors 'none'" in response.getheader("Content-Security-Policy")
    assert response.getheader("X-Content-Type-Options") == "nosniff"


def test_keep_alive_serves_many_requests_on_one_connection(served):
    _server, port = served
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for _ in range(5):
        conn.request("GET", "/api/files?page=1&per_page=50", headers={"Host": f"localhost:{port}"})
        response = conn.getresponse()
        assert response.status == 200 and response.getheader("Connection") != "close"
        response.read()
    conn.close()


def test_an_unknown_host_is_refused_over_the_socket(served):
    _server, port = served
    response, body = _get(port, "/files", host=f"evil.example:{port}")
    assert response.status == 400 and json.loads(body)["error"]["code"] == "host_not_allowed"


def test_a_long_url_gets_the_apps_json_414(served):
    _server, port = served
    response, body = _get(port, "/api/files?q=" + "a" * 100_000)
    assert response.status == 414 and response.getheader("Content-Type") == "application/json"
    assert json.loads(body)["error"]["code"] == "uri_too_long"


def test_a_request_too_long_for_the_server_gets_a_clean_answer(served):
    # Beyond waitress' header limit the app never runs: waitress answers 431 in plain text and closes.
    _server, port = served
    response, body = _get(port, "/api/files?q=" + "a" * (run.MAX_REQUEST_HEADER_BYTES + 10))
    assert response.status == 431 and response.getheader("Content-Type").startswith("text/plain")
    assert b"Traceback" not in body
    # The server goes on answering.
    assert _get(port, "/api/files")[0].status == 200


def test_main_binds_then_starts_the_background_once_and_serves(monkeypatch, app_config):
    events = []
    app = create_app(app_config)

    class FakeServer:
        def run(self):
            events.append("run")

    def build_server(built_app, sockets=None):
        assert built_app is app and sockets is None
        events.append("bind")
        return FakeServer()

    monkeypatch.setattr(run, "create_app", lambda: app)
    monkeypatch.setattr(run, "build_server", build_server)
    monkeypatch.setattr(run, "start_background", lambda started: events.append(("background", started is app)))
    run.main()
    assert events == ["bind", ("background", True), "run"]


def test_main_refuses_a_host_that_does_not_resolve(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HOST", "no-such-host.invalid")
    monkeypatch.setenv("API_TOKEN", "s3cret-token")
    monkeypatch.setenv("BATCH_POLLER_ENABLED", "false")
    with pytest.raises(SystemExit) as info:
        run.main()
    assert info.value.code == 2 and "does not resolve" in capsys.readouterr().err


def test_listen_addresses_bracket_ipv6():
    assert run.listen_addresses(("127.0.0.1", "::1"), 5800) == "127.0.0.1:5800 [::1]:5800"
    assert run.public_url("0.0.0.0", 5800) == "http://localhost:5800"
    assert run.public_url("::1", 80) == "http://[::1]:80"
