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
