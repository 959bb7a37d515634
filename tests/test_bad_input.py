"""Hostile requests from the outside probe: each one is a 4xx in the API's error shape, never a 500, and
changes nothing stored. One table, by category: integers, dates, numbers, JSON, import paths, request
fields. Uploads are in test_upload.py, conditional requests in test_files_api.py, symlinks in
test_import.py."""
from __future__ import annotations

import io
import os

import pytest

from app.errors import BadRequest
from app.services.search import parse_search_args

I64_PLUS_1 = str(2**63)
HUGE = "9" * 23
U64 = 2**64 - 1  # still an integer to orjson; bigger ones arrive as floats

# (method, path, JSON body or raw bytes or None, status, error code); a path or body may be a function of
# the test's library root.
CASES = {
    # 1. integers past 64 bits: path ids (any <int:...> route), query parameters, JSON
    "file id 2^63": ("GET", f"/api/files/{I64_PLUS_1}", None, 404, "not_found"),
    "file id 10^23": ("GET", f"/api/files/{HUGE}", None, 404, "not_found"),
    "delete file id": ("DELETE", f"/api/files/{HUGE}", None, 404, "not_found"),
    "thumbnail id": ("GET", f"/api/files/{HUGE}/thumbnail", None, 404, "not_found"),
    "proxy id": ("GET", f"/api/files/{I64_PLUS_1}/proxy", None, 404, "not_found"),
    "analyses id": ("GET", f"/api/files/{HUGE}/analyses", None, 404, "not_found"),
    "batch id": ("GET", f"/api/batch/{I64_PLUS_1}", None, 404, "not_found"),
    "batch cancel id": ("POST", f"/api/batch/{I64_PLUS_1}/cancel", {}, 404, "not_found"),
    "batch retry id": ("POST", f"/api/batch/{HUGE}/retry-failed", {}, 404, "not_found"),
    "chunk retry-fetch id": ("POST", f"/api/batch/chunks/{I64_PLUS_1}/retry-fetch", {}, 404, "not_found"),
    "non-ASCII digits id": ("GET", "/api/files/%D9%A1", None, 404, "not_found"),
    "min_size 2^64-1": ("GET", f"/api/files?min_size={U64}", None, 400, "invalid_parameter"),
    "page 10^23": ("GET", f"/api/files?page={HUGE}", None, 400, "invalid_parameter"),
    "limit 10^23": ("GET", f"/api/batch?limit={HUGE}", None, 400, "invalid_parameter"),
    "offset 2^64-1": ("GET", f"/api/batch?offset={U64}", None, 400, "invalid_parameter"),
    "search page 10^23": ("GET", f"/api/search?q=a&page={HUGE}", None, 400, "invalid_parameter"),
    "search per_page 2^63": ("GET", f"/api/search?q=a&per_page={I64_PLUS_1}", None, 400, "invalid_parameter"),
    "search page superscript": ("GET", "/api/search?q=a&page=%C2%B2", None, 400, "invalid_parameter"),
    "search page +-5": ("GET", "/api/search?q=a&page=%2B-5", None, 400, "invalid_parameter"),
    "estimate file_ids": ("POST", "/api/nova/estimate", {"file_ids": [U64]}, 400, "invalid_parameter"),
    "analyze file_ids": ("POST", "/api/nova/analyze", {"file_ids": [U64]}, 400, "invalid_parameter"),
    "submit file_ids": ("POST", "/api/batch/nova", {"file_ids": [U64]}, 400, "invalid_parameter"),
    "proxies file_ids": ("POST", "/api/files/proxies", {"file_ids": [U64]}, 400, "invalid_parameter"),
    "proxies file_ids -2^64": ("POST", "/api/files/proxies", {"file_ids": [-U64]}, 400, "invalid_parameter"),
    "proxies file_ids 10^23": ("POST", "/api/files/proxies", b'{"file_ids": [99999999999999999999999]}', 400,
                               "invalid_parameter"),
    "filter min_size": ("POST", "/api/files/proxies", {"filter": {"min_size": U64}}, 400, "invalid_parameter"),
    # 2. dates at the calendar's edges
    "usage to 0001-01-01": ("GET", "/api/usage?to=0001-01-01", None, 400, "invalid_parameter"),
    "usage from 0001-01-01": ("GET", "/api/usage?from=0001-01-01&to=0001-01-03", None, 400, "invalid_parameter"),
    "usage to 9999-12-31": ("GET", "/api/usage?from=9999-12-30&to=9999-12-31", None, 400, "invalid_parameter"),
    "usage not a date": ("GET", "/api/usage?to=tomorrow", None, 400, "invalid_parameter"),
    # 3. numbers that are not finite or too big, and NaN/Infinity in any JSON body
    "older_than_days 1e308": ("POST", "/reports/api/storage/batch/cleanup", {"older_than_days": 1e308}, 400,
                              "invalid_parameter"),
    "older_than_days 1e30": ("POST", "/reports/api/storage/batch/cleanup", {"older_than_days": 1e30}, 400,
                             "invalid_parameter"),
    "older_than_days 2^62": ("POST", "/reports/api/storage/batch/cleanup", {"older_than_days": 2**62}, 400,
                             "invalid_parameter"),
    "older_than_days NaN": ("POST", "/reports/api/storage/batch/cleanup", b'{"older_than_days": NaN}', 400,
                            "invalid_json"),
    "older_than_days Infinity": ("POST", "/reports/api/storage/batch/cleanup", b'{"older_than_days": Infinity}',
                                 400, "invalid_json"),
    "older_than_days -Infinity": ("POST", "/reports/api/storage/batch/cleanup", b'{"older_than_days": -Infinity}',
                                  400, "invalid_json"),
    "older_than_days 1e400": ("POST", "/reports/api/storage/batch/cleanup", b'{"older_than_days": 1e400}', 400,
                              "invalid_json"),
    "NaN in estimate": ("POST", "/api/nova/estimate", b'{"file_ids": [1], "options": {"x": NaN}}', 400,
                        "invalid_json"),
    # 4. nesting
    "100,000 [": ("POST", "/api/nova/estimate", b"[" * 100_000, 400, "invalid_json"),
    "100,000 [ to import": ("POST", "/api/files/import-directory", b"[" * 100_000, 400, "invalid_json"),
    "65 levels": ("POST", "/api/files/proxies", b'{"filter": ' + b"[" * 64 + b"]" * 64 + b"}", 400,
                  "invalid_json"),
    "not JSON at all": ("POST", "/api/files/proxies", b"{'file_ids': [1]}", 400, "invalid_json"),
    "not UTF-8": ("POST", "/api/files/proxies", b'{"filter": "\xff"}', 400, "invalid_json"),
    "a JSON list": ("POST", "/api/files/proxies", [1, 2], 400, "invalid_json"),
    # 5. import paths
    "~nosuchuser": ("POST", "/api/files/import-directory", {"path": "~nosuchuser"}, 400, "bad_request"),
    "~root": ("POST", "/api/files/import-directory", {"path": "~root/x"}, 400, "bad_request"),
    "300-char name": ("POST", "/api/files/import-directory", lambda lib: {"path": f"{lib}/{'a' * 300}"}, 400,
                      "path_too_long"),
    "300-char name, outside": ("POST", "/api/files/import-directory", {"path": "/" + "a" * 300}, 400,
                               "path_too_long"),
    "4 KB path": ("POST", "/api/files/import-directory", lambda lib: {"path": f"{lib}/" + "abc/" * 1100}, 400,
                  "path_too_long"),
    "lone surrogate": ("POST", "/api/files/import-directory", lambda lib: f'{{"path": "{lib}/\\ud800"}}'.encode(),
                       400, "invalid_json"),
    "symlink loop": ("POST", "/api/files/import-directory", lambda lib: {"path": f"{lib}/loop"}, 400,
                     "symlink_loop"),
    "inside a symlink loop": ("POST", "/api/files/import-directory", lambda lib: {"path": f"{lib}/loop/x"}, 400,
                              "symlink_loop"),
    "NUL": ("POST", "/api/files/import-directory", {"path": "/tmp/a\x00b"}, 400, "bad_request"),
    "generate_proxies yes": ("POST", "/api/files/import-directory",
                             lambda lib: {"path": str(lib), "generate_proxies": "yes"}, 400, "invalid_parameter"),
    # 8. fields of the wrong type or value
    "analyze mode batch": ("POST", "/api/nova/analyze", {"file_ids": [1], "mode": "batch"}, 400,
                           "invalid_parameter"),
    "analyze mode auto": ("POST", "/api/nova/analyze", {"file_ids": [1], "mode": "auto"}, 400, "invalid_parameter"),
    "analyze mode bogus": ("POST", "/api/nova/analyze", {"file_ids": [1], "mode": "bogus"}, 400,
                           "invalid_parameter"),
    "analyze mode list": ("POST", "/api/nova/analyze", {"file_ids": [1], "mode": ["on_demand"]}, 400,
                          "invalid_parameter"),
    "proxies file_ids string": ("POST", "/api/files/proxies", {"file_ids": "1"}, 400, "invalid_parameter"),
    "proxies file_ids bools": ("POST", "/api/files/proxies", {"file_ids": [True]}, 400, "invalid_parameter"),
    "proxies file_ids empty": ("POST", "/api/files/proxies", {"file_ids": []}, 400, "invalid_parameter"),
    "proxies filter list": ("POST", "/api/files/proxies", {"filter": [1]}, 400, "invalid_parameter"),
    "proxies filter string": ("POST", "/api/files/proxies", {"filter": "all"}, 400, "invalid_parameter"),
    "proxies force yes": ("POST", "/api/files/proxies", {"filter": {}, "force": "yes"}, 400, "invalid_parameter"),
    "proxies force 1": ("POST", "/api/files/proxies", {"filter": {}, "force": 1}, 400, "invalid_parameter"),
    "proxies both": ("POST", "/api/files/proxies", {"file_ids": [1], "filter": {}}, 400, "invalid_parameter"),
    "proxies unknown key": ("POST", "/api/files/proxies", {"filter": {}, "missing": True}, 400,
                            "invalid_parameter"),
    "proxies filter q list": ("POST", "/api/files/proxies", {"filter": {"q": ["a"]}}, 400, "invalid_parameter"),
    "search media_type": ("GET", "/api/search?q=a&media_type=audio", None, 400, "invalid_parameter"),
}


@pytest.fixture
def loop_root(library_root):
    os.symlink(library_root / "loop", library_root / "loop")
    return library_root


def _stored(client) -> tuple[int, int]:
    return client.get("/api/files").get_json()["total"], len(client.get("/api/tasks").get_json()["items"])


def _send(client, method: str, path: str, body):
    if isinstance(body, bytes):
        return client.open(path, method=method, data=body, content_type="application/json")
    if body is None:
        return client.open(path, method=method)
    return client.open(path, method=method, json=body)


def assert_error(response, status: int, code: str) -> dict:
    """The documented shape, exactly: {"error": {"code", "message", "details"}}."""
    assert response.status_code == status, (response.status_code, response.get_data()[:300])
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return body["error"]


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_request_is_a_4xx_json_error(client, loop_root, case):
    method, path, body, status, code = CASES[case]
    path = path(loop_root) if callable(path) else path
    body = body(loop_root) if callable(body) else body
    before = _stored(client)
    response = _send(client, method, path, body)
    assert_error(response, status, code)
    assert _stored(client) == before


def test_a_too_big_parameter_is_named(client):
    error = assert_error(client.get(f"/api/batch?limit={HUGE}"), 400, "invalid_parameter")
    assert error["details"]["parameter"] == "limit" and "limit" in error["message"]
    error = assert_error(client.post("/api/files/proxies", json={"file_ids": [1, U64]}), 400, "invalid_parameter")
    assert error["details"]["parameter"] == "file_ids" and "file_ids[1]" in error["message"]


def test_usage_edges_say_which_days_are_allowed(client):
    error = assert_error(client.get("/api/usage?to=0001-01-01"), 400, "invalid_parameter")
    assert error["details"]["parameter"] == "to" and "1970-01-01" in error["message"]
    assert client.get("/api/usage?from=9999-12-24&to=9999-12-30").status_code == 200
    assert client.get("/api/usage?to=1970-01-01").status_code == 200


def test_analyze_takes_on_demand_or_no_mode(client, sample_media):
    from helpers import import_folder

    import_folder(client, sample_media, generate_proxies=False)
    file_id = client.get("/api/files?q=kiwi").get_json()["items"][0]["id"]
    error = assert_error(client.post("/api/nova/analyze", json={"file_ids": [file_id], "mode": "batch"}),
                         400, "invalid_parameter")
    assert error["details"] == {"parameter": "mode", "allowed": ["on_demand"]}
    tasks_before = client.get("/api/tasks").get_json()["items"]
    assert {t["kind"] for t in tasks_before} <= {"import", "subtitles"}  # no analysis started
    for body in ({"file_ids": [file_id]}, {"file_ids": [file_id], "mode": "on_demand"}):
        assert client.post("/api/nova/analyze", json=body).status_code == 202


def test_search_refuses_a_list_for_q():
    with pytest.raises(BadRequest) as refused:
        parse_search_args({"q": ["a", "b"]})
    assert refused.value.details["parameter"] == "q"
    with pytest.raises(BadRequest):
        parse_search_args({"q": "a", "media_type": ["video"]})
    assert parse_search_args({"q": "a"})["q"] == "a"


# ---- body size -------------------------------------------------------------------------------------------------

class CountingStream(io.RawIOBase):
    """An endless request body that counts what the app reads of it."""

    def __init__(self):
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0  # the test client measures the body this way; it looks empty, the headers say the rest

    def tell(self) -> int:
        return 0

    def readinto(self, buffer) -> int:
        buffer[:] = b" " * len(buffer)
        self.read_bytes += len(buffer)
        return len(buffer)


def test_json_body_over_the_limit_is_refused_by_its_content_length(app, client):
    limit = app.config["MAX_JSON_BYTES"]
    assert limit == 1024 * 1024
    stream = CountingStream()
    response = client.post("/api/files/proxies", input_stream=stream, content_type="application/json",
                           environ_overrides={"CONTENT_LENGTH": str(512 * 1024 * 1024)})
    error = assert_error(response, 413, "payload_too_large")
    assert error["details"]["limit_bytes"] == limit and "MAX_JSON_BYTES" in error["message"]
    assert stream.read_bytes == 0


def test_json_body_of_unknown_length_is_cut_at_the_limit(app, client):
    app.config["MAX_JSON_BYTES"] = 64 * 1024
    stream = CountingStream()
    response = client.post("/api/nova/estimate", input_stream=stream, content_type="application/json",
                           environ_overrides={"HTTP_TRANSFER_ENCODING": "chunked", "CONTENT_LENGTH": "",
                                              "wsgi.input_terminated": True})  # as werkzeug's server sets it
    assert_error(response, 413, "payload_too_large")
    assert stream.read_bytes <= 2 * 64 * 1024


def test_json_body_at_the_limit_is_read(app, client):
    app.config["MAX_JSON_BYTES"] = 4096
    padded = b'{"file_ids": [1]' + b" " * (4096 - 17) + b"}"
    assert len(padded) == 4096
    assert_error(client.post("/api/files/proxies", data=padded, content_type="application/json"), 404,
                 "file_not_found")
    assert_error(client.post("/api/files/proxies", data=padded + b" ", content_type="application/json"), 413,
                 "payload_too_large")


def test_uploads_keep_their_own_limit(app, client, data_dir):
    from conftest import SAMPLE_MEDIA

    app.config["MAX_JSON_BYTES"] = 4096
    image = (SAMPLE_MEDIA / "kiwi.jpg").read_bytes()
    assert len(image) > 4096
    response = client.post("/api/files/upload", data={"files": [(io.BytesIO(image), "kiwi.jpg")]},
                           content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
