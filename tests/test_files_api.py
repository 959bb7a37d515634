"""Listing, filtering, detail, media serving and deletion through the files API."""
from __future__ import annotations

import pytest

from helpers import import_folder, wait_for_task


@pytest.fixture
def imported(client, sample_media):
    job = import_folder(client, sample_media, generate_proxies=False)
    assert job["imported"] == 7
    return {f["name"]: f for f in client.get("/api/files?per_page=100").get_json()["items"]}


def _names(client, query: str) -> list[str]:
    response = client.get(f"/api/files?{query}")
    assert response.status_code == 200, response.get_json()
    return [item["name"] for item in response.get_json()["items"]]


def test_list_returns_items_total_and_summary(client, imported):
    body = client.get("/api/files?per_page=3&page=2&sort=name").get_json()
    assert body["total"] == 7 and body["page"] == 2 and body["per_page"] == 3
    assert len(body["items"]) == 3
    summary = body["summary"]
    assert summary["count"] == 7
    assert summary["total_bytes"] == sum(f["size_bytes"] for f in imported.values())
    assert abs(summary["total_duration_seconds"] - (30.2 + 39.9 + 139.4)) < 0.5
    assert summary["proxy_bytes"] == 0
    item = body["items"][0]
    for key in ("id", "name", "path", "folder", "media_type", "mime_type", "size_bytes", "duration_seconds", "width",
                "height", "fps", "video_codec", "audio_codec", "created_at", "imported_at", "has_proxy",
                "thumbnail_url", "proxy_url", "analysis"):
        assert key in item


def test_filters_narrow_the_list(client, imported):
    assert sorted(_names(client, "media_type=video")) == sorted(
        ["car-detection.mp4", "bottle-detection.mp4", "one-by-one-person-detection.mp4"])
    assert _names(client, "q=kiwi") == ["kiwi.jpg"]
    assert _names(client, "min_duration=100") == ["one-by-one-person-detection.mp4"]
    assert _names(client, "max_duration=35&media_type=video") == ["car-detection.mp4"]
    assert _names(client, "min_size=3000000") == ["one-by-one-person-detection.mp4"]
    assert _names(client, "max_size=20000") == ["kiwi.jpg"]
    assert len(_names(client, "analysis=none")) == 7
    assert _names(client, "analysis=completed") == []
    assert _names(client, "has_proxy=true") == []
    assert len(_names(client, "has_proxy=false")) == 7
    folder = imported["kiwi.jpg"]["folder"]
    assert len(_names(client, f"directory={folder}&recursive=false")) == 7
    assert len(_names(client, f"directory={folder.rsplit('/', 1)[0]}&recursive=false")) == 0
    assert len(_names(client, f"directory={folder.rsplit('/', 1)[0]}")) == 7
    today = imported["kiwi.jpg"]["imported_at"][:10]
    assert len(_names(client, f"imported_from={today}&imported_to={today}")) == 7
    assert _names(client, "imported_to=2000-01-01") == []


def test_sorting_by_size_desc(client, imported):
    names = _names(client, "sort=size&order=desc")
    sizes = [imported[n]["size_bytes"] for n in names]
    assert sizes == sorted(sizes, reverse=True)


def test_like_wildcards_in_q_are_literal(client, imported):
    assert _names(client, "q=%25") == []
    assert _names(client, "q=car_detection") == []
    assert _names(client, "q=car%25detection") == []
    assert _names(client, "q=-detection") != []


@pytest.mark.parametrize("q", ["' OR 1=1 --", "\"; DROP TABLE files; --", "%' UNION SELECT * FROM tasks --"])
def test_sql_like_strings_are_just_text(client, imported, q):
    response = client.get("/api/files", query_string={"q": q})
    assert response.status_code == 200 and response.get_json()["items"] == []
    assert client.get("/api/files").get_json()["total"] == 7


@pytest.mark.parametrize(
    "query, parameter",
    [("page=abc", "page"), ("page=0", "page"), ("per_page=100000", "per_page"), ("sort=evil", "sort"),
     ("order=sideways", "order"), ("media_type=audio", "media_type"), ("analysis=maybe", "analysis"),
     ("min_size=-1", "min_size"), ("min_duration=abc", "min_duration"), ("created_from=2024-13-45", "created_from"),
     ("directory=relative/path", "directory"), ("has_proxy=perhaps", "has_proxy")],
)
def test_bad_list_parameters_are_400_naming_the_parameter(client, query, parameter):
    response = client.get(f"/api/files?{query}")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_parameter" and error["details"]["parameter"] == parameter
    assert parameter in error["message"]


def test_detail_has_metadata_and_urls(client, imported):
    file_id = imported["Wall.jpg"]["id"]
    body = client.get(f"/api/files/{file_id}").get_json()
    assert body["name"] == "Wall.jpg" and body["container"] and body["fingerprint"]
    assert body["created_source"] in {"exif", "mtime"}
    assert body["proxy_url"] is None and body["proxy"] is None


def test_unknown_file_is_404_json(client):
    response = client.get("/api/files/999999")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "file_not_found"


def test_media_endpoints_404_until_generated(client, imported):
    file_id = imported["Wall.jpg"]["id"]
    assert client.get(f"/api/files/{file_id}/thumbnail").status_code == 404
    assert client.get(f"/api/files/{file_id}/proxy").get_json()["error"]["code"] == "proxy_not_found"


def test_delete_removes_record_and_derivatives_but_never_the_original(client, imported, sample_media, data_dir):
    file_id = imported["kiwi.jpg"]["id"]
    job = client.post("/api/files/proxies", json={"file_ids": [file_id]}).get_json()
    assert wait_for_task(client, job["task_id"])["status"] == "SUCCEEDED"
    detail = client.get(f"/api/files/{file_id}").get_json()
    assert detail["has_proxy"]
    refused = client.delete(f"/api/files/{file_id}?delete_original=true")
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "original_not_owned"
    response = client.delete(f"/api/files/{file_id}")
    assert response.status_code == 200
    assert sorted(response.get_json()["derivatives_removed"]) == ["proxy", "thumbnail"]
    assert (sample_media / "kiwi.jpg").exists()
    assert client.get(f"/api/files/{file_id}").status_code == 404
    assert not list((data_dir / "proxies").rglob("*.jpg"))
    assert client.delete(f"/api/files/{file_id}").status_code == 404


# ---- keyset (cursor) paging, date edges, non-string q ---------------------------------------------------------

SORT_KEYS = {"name": "name", "path": "path", "size": "size_bytes", "duration": "duration_seconds",
             "created": "created_at", "imported": "imported_at", "media_type": "media_type"}


@pytest.fixture
def tied_files(app):
    """40 rows whose sort keys tie often and are NULL for some (duration, created), ids unrelated to the keys."""
    from app.db import connect, transaction

    conn = connect(app.config["SETTINGS"].DATABASE_PATH)
    rows = []
    for i in range(40):
        rows.append((
            f"/lib/{(i * 7) % 40:02d}/clip{i % 5}.mp4", f"/lib/{(i * 7) % 40:02d}", f"clip{i % 5}.mp4",
            [300, 100, 200][i % 3], f"fp{i}", "video" if i % 2 else "image",
            None if i % 4 == 0 else float(i % 3), None if i % 3 == 0 else f"2024-01-0{1 + i % 2}T10:00:00",
            f"2024-02-0{1 + i % 4}T00:00:00",
        ))
    with transaction(conn):
        conn.executemany(
            "INSERT INTO files (path, folder, name, size_bytes, mtime, fingerprint, media_type, duration_seconds,"
            " created_at, imported_at, updated_at) VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?)",
            [(*row, row[-1]) for row in rows])
    conn.close()
    return 40


def _walk_by_page(client, query: str, per_page: int) -> list[int]:
    ids: list[int] = []
    for page in range(1, 100):
        body = client.get(f"/api/files?{query}&per_page={per_page}&page={page}").get_json()
        if not body["items"]:
            return ids
        ids += [item["id"] for item in body["items"]]
    raise AssertionError("too many pages")


def _walk_by_cursor(client, query: str, per_page: int) -> tuple[list[dict], int]:
    items: list[dict] = []
    body = client.get(f"/api/files?{query}&per_page={per_page}").get_json()
    requests = 1
    while True:
        items += body["items"]
        if body["next"] is None:
            return items, requests
        assert len(body["items"]) == per_page
        response = client.get("/api/files", query_string={**dict(p.split("=") for p in query.split("&")),
                                                          "per_page": per_page, "cursor": body["next"]})
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert body["total"] == 40 or "media_type" in query
        requests += 1
        assert requests < 100


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("sort", sorted(SORT_KEYS))
def test_cursor_pages_give_every_row_once_in_offset_order(client, tied_files, sort, order):
    query = f"sort={sort}&order={order}"
    for per_page in (1, 3, 7, 40):
        expected = _walk_by_page(client, query, per_page)
        items, requests = _walk_by_cursor(client, query, per_page)
        ids = [item["id"] for item in items]
        assert ids == expected, f"per_page={per_page}"
        assert len(set(ids)) == tied_files == len(ids)
        assert requests == -(-tied_files // per_page)
    # Both walks follow the sort: NULLs first ascending, last descending; ties broken by id.
    key = SORT_KEYS[sort]
    rank = [((item[key] is not None), item[key] if item[key] is not None else 0, item["id"]) for item in items]
    assert rank == sorted(rank, reverse=order == "desc")


def test_cursor_paging_keeps_the_filters(client, tied_files):
    query = "sort=duration&order=desc&media_type=video"
    items, _ = _walk_by_cursor(client, query, 4)
    assert [i["id"] for i in items] == _walk_by_page(client, query, 4)
    assert len(items) == 20 and {i["media_type"] for i in items} == {"video"}


def test_next_is_given_with_page_too_and_null_on_the_last_page(client, tied_files):
    first = client.get("/api/files?per_page=30&sort=size").get_json()
    assert first["page"] == 1 and isinstance(first["next"], str)
    assert set(first["next"]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    second = client.get("/api/files", query_string={"per_page": 30, "sort": "size", "cursor": first["next"]})
    body = second.get_json()
    assert len(body["items"]) == 10 and body["next"] is None and body["total"] == 40
    assert body["page"] is None, "a cursor page has no number"
    by_page = client.get("/api/files?per_page=30&sort=size&page=2").get_json()
    assert by_page["items"] == body["items"] and by_page["next"] is None
    assert client.get("/api/files?per_page=40").get_json()["next"] is None


def test_next_is_null_on_an_empty_library(client):
    body = client.get("/api/files").get_json()
    assert body["items"] == [] and body["next"] is None


def _cursor(*parts) -> str:
    import base64
    import json as _json

    raw = parts[0] if len(parts) == 1 and isinstance(parts[0], bytes) else _json.dumps(list(parts)).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_a_hand_made_cursor_is_only_a_position(client, tied_files):
    # A cursor is data, never SQL: an odd value just says where the page starts.
    start = client.get("/api/files", query_string={"sort": "name", "cursor": _cursor("name", "asc", "' OR 1=1 --", 0)})
    assert start.status_code == 200 and len(start.get_json()["items"]) == 40
    end = client.get("/api/files", query_string={"sort": "size", "cursor": _cursor("size", "asc", 2**63 - 1, 1)})
    assert end.status_code == 200 and end.get_json()["items"] == [] and end.get_json()["next"] is None
    nulls = client.get("/api/files", query_string={"sort": "created", "order": "desc",
                                                   "cursor": _cursor("created", "desc", None, 2**63 - 1)})
    assert len(nulls.get_json()["items"]) == 14, "every file without a creation date"


@pytest.mark.parametrize("cursor", [
    "", "!!!!", "abc=", "a", "eyJ", "not base64 at all", "A" * 20_000,
    _cursor(b"not json"), _cursor(b"\xff\xfe"), _cursor(b"{}"), _cursor(b"[]"), _cursor(b"NaN"),
    _cursor("name", "asc", "clip1.mp4"), _cursor("name", "asc", "clip1.mp4", 3, 4),
    _cursor("size", "asc", "100", 3), _cursor("size", "asc", 1.5, 3), _cursor("size", "asc", True, 3),
    _cursor("size", "asc", 2**64, 3), _cursor("size", "asc", None, 3), _cursor("name", "asc", ["x"], 3),
    _cursor("name", "asc", "clip1.mp4", "3"), _cursor("name", "asc", "clip1.mp4", 0.5),
    _cursor("name", "asc", "clip1.mp4", -1), _cursor("name", "asc", "clip1.mp4", 2**63),
    _cursor("name", "asc", "clip1.mp4", True), _cursor("name", "desc", "clip1.mp4", 3),
    _cursor("size", "asc", "clip1.mp4", 3), _cursor("name; DROP TABLE files", "asc", "x", 3),
    _cursor(b'["duration","asc",1e400,3]'), _cursor(b'["duration","asc",NaN,3]'),
    _cursor(b'["duration","asc",-Infinity,3]'), _cursor(b'["name","asc","\\ud800",3]'),
    _cursor("name", "asc", "clip1.mp4", 3) + "A", _cursor("name", "asc", "clip1.mp4", 3) + "==",
    _cursor("name", "asc", "clip1.mp4", 3).replace("-", "+").replace("_", "/") + "+/",
])
def test_malformed_or_tampered_cursor_is_400_naming_cursor(client, tied_files, cursor):
    response = client.get("/api/files", query_string={"sort": "name", "cursor": cursor} if cursor else
                          "sort=name&cursor=%20")
    if cursor == "":
        assert response.status_code == 200  # a blank parameter counts as absent, as for every list parameter
        return
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "invalid_parameter" and error["details"]["parameter"] == "cursor"
    assert "cursor" in error["message"]


def test_a_cursor_from_another_sort_is_400(client, tied_files):
    made = client.get("/api/files?sort=size&per_page=5").get_json()["next"]
    response = client.get("/api/files", query_string={"sort": "name", "cursor": made})
    assert response.status_code == 400 and response.get_json()["error"]["details"]["parameter"] == "cursor"
    response = client.get("/api/files", query_string={"sort": "size", "order": "desc", "cursor": made})
    assert response.status_code == 400 and response.get_json()["error"]["details"]["parameter"] == "cursor"


def test_page_and_cursor_together_is_400(client, tied_files):
    made = client.get("/api/files?per_page=5").get_json()["next"]
    response = client.get("/api/files", query_string={"page": 2, "cursor": made})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["details"]["parameter"] == "cursor" and "page" in error["message"]


def test_cursor_is_not_a_filter_key(client, tied_files):
    response = client.post("/api/files/proxies", json={"filter": {"cursor": "abc"}})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_filter"


@pytest.mark.parametrize("key", ["created_to", "imported_to", "created_from", "imported_from"])
@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_date_filters_at_the_ends_of_the_calendar(client, tied_files, key, day):
    response = client.get(f"/api/files?{key}={day}")
    assert response.status_code == 200, response.get_json()
    total = response.get_json()["total"]
    everything = 26 if key.startswith("created") else 40  # files without a creation date never match
    assert total == (everything if (day == "9999-12-31") == key.endswith("_to") else 0)


def test_created_to_includes_the_whole_last_day(client, tied_files):
    assert client.get("/api/files?created_to=2024-01-01").get_json()["total"] == 13
    assert client.get("/api/files?created_to=2024-01-02").get_json()["total"] == 26
    assert client.get("/api/files?created_from=2024-01-02&created_to=2024-01-02").get_json()["total"] == 13
    assert client.get("/api/files?imported_from=2024-02-04&imported_to=2024-02-04").get_json()["total"] == 10


@pytest.mark.parametrize("value", [["a"], {"a": 1}, 7, 1.5, True])
def test_a_non_string_q_in_a_json_filter_is_400_naming_q(client, tied_files, value):
    for url, extra in (("/api/files/proxies", {}), ("/api/batch/nova", {"analysis_types": ["combined"]})):
        response = client.post(url, json={"filter": {"q": value}, **extra})
        assert response.status_code == 400, (url, response.get_json())
        error = response.get_json()["error"]
        assert error["details"]["parameter"] == "q" and "'q'" in error["message"]


@pytest.mark.parametrize("key", ["q", "directory"])
def test_text_that_is_not_unicode_is_400_never_500(client, tied_files, key):
    # Through the API (a JSON escape) and the CLI (undecodable argv bytes arrive as lone surrogates).
    response = client.post("/api/files/proxies", data=f'{{"filter": {{"{key}": "/a\\ud800"}}}}',
                           content_type="application/json")
    assert response.status_code == 400, response.get_json()
    from app.errors import BadRequest
    from app.services import library

    with pytest.raises(BadRequest) as caught:
        library.parse_file_query({key: "/a\udcff"})
    assert caught.value.details["parameter"] == key


# ---- conditional requests on media: errors in the API's shape ---------------------------------------------------

@pytest.mark.parametrize("kind", ["thumbnail", "proxy"])
@pytest.mark.parametrize("headers", [{"If-Match": '"not-this-one"'},
                                     {"If-Match": '"a", "b"', "If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}])
def test_a_failed_precondition_is_a_json_412_not_the_file(client, imported, kind, headers):
    file_id = imported["kiwi.jpg"]["id"]
    job = client.post("/api/files/proxies", json={"file_ids": [file_id]}).get_json()
    assert wait_for_task(client, job["task_id"])["status"] == "SUCCEEDED"
    url = f"/api/files/{file_id}/{kind}"
    whole = client.get(url)
    assert whole.status_code == 200 and whole.mimetype == "image/jpeg"
    response = client.get(url, headers=headers)
    assert response.status_code == 412 and response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"} and body["error"]["code"] == "precondition_failed"
    assert set(body["error"]) == {"code", "message", "details"} and body["error"]["message"]
    assert whole.data not in response.data
    # what a player and a cache rely on still works
    assert client.get(url, headers={"If-None-Match": whole.headers["ETag"]}).status_code == 304
    assert client.get(url, headers={"If-Match": whole.headers["ETag"]}).status_code == 200
    assert client.get(url, headers={"Range": "bytes=0-9"}).status_code == 206
