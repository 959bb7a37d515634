"""Uploads: streamed to DATA_DIR/uploads, content sniffed, size limits enforced while streaming."""
from __future__ import annotations

import io

import pytest

from app import create_app
from helpers import wait_for_task
from conftest import SAMPLE_MEDIA


def _upload(client, *files):
    data = {"files": [(io.BytesIO(content), name) for name, content in files]}
    return client.post("/api/files/upload", data=data, content_type="multipart/form-data")


def test_upload_stores_and_imports_media(client, data_dir):
    video = (SAMPLE_MEDIA / "bottle-detection.mp4").read_bytes()
    image = (SAMPLE_MEDIA / "kiwi.jpg").read_bytes()
    response = _upload(client, ("clip one.mp4", video), ("kiwi.jpg", image))
    assert response.status_code == 201, response.get_json()
    items = {item["name"]: item for item in response.get_json()["items"]}
    assert set(items) == {"clip one.mp4", "kiwi.jpg"}
    clip = items["clip one.mp4"]
    assert clip["media_type"] == "video" and abs(clip["duration_seconds"] - 39.9) < 0.1
    assert clip["path"].startswith(str(data_dir / "uploads"))
    assert (data_dir / "uploads").is_dir()
    assert not list((data_dir / "uploads" / ".incoming").iterdir())
    proxies = wait_for_task(client, response.get_json()["proxies_task_id"])  # the page follows this task
    assert proxies["kind"] == "proxies" and proxies["status"] == "SUCCEEDED" and proxies["counters"]["generated"] == 2


def test_content_is_sniffed_not_the_extension(client, data_dir):
    image = (SAMPLE_MEDIA / "kiwi.jpg").read_bytes()
    response = _upload(client, ("holiday.mp4", image))
    assert response.status_code == 201
    assert response.get_json()["items"][0]["media_type"] == "image"
    rejected = _upload(client, ("notes.mov", b"just some text\n" * 100))
    assert rejected.status_code == 415
    error = rejected.get_json()["error"]
    assert error["code"] == "unsupported_media" and "notes.mov" in error["message"]
    assert error["details"]["errors"][0]["code"] == "unsupported_media"
    assert not list((data_dir / "uploads" / ".incoming").iterdir())


def test_oversize_upload_is_refused_while_streaming(app_config, data_dir):
    app = create_app({**app_config, "MAX_IMAGE_SIZE_MB": 1})
    app.extensions["services"].tasks.start()
    client = app.test_client()
    try:
        response = _upload(client, ("big.jpg", b"\xff\xd8\xff" + b"\x00" * (2 * 1024 * 1024)))
        assert response.status_code == 413
        assert "MAX_IMAGE_SIZE_MB" in response.get_json()["error"]["message"]
        incoming = data_dir / "uploads" / ".incoming"
        assert not incoming.exists() or not list(incoming.iterdir())
        assert client.get("/api/files").get_json()["total"] == 0
    finally:
        app.extensions["services"].tasks.stop()


def test_upload_without_files_is_400(client):
    response = client.post("/api/files/upload", data={}, content_type="multipart/form-data")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "no_files"


@pytest.mark.parametrize("name", ["../../etc/passwd.jpg", "..\\..\\evil.jpg", "/abs/path.jpg", ".hidden.jpg"])
def test_uploaded_names_cannot_escape_the_uploads_folder(client, data_dir, name):
    response = _upload(client, (name, (SAMPLE_MEDIA / "kiwi.jpg").read_bytes()))
    assert response.status_code == 201
    stored = response.get_json()["items"][0]["path"]
    assert stored.startswith(str(data_dir / "uploads") + "/")
    assert ".." not in stored.split("/")


def test_delete_original_removes_only_app_stored_uploads(client, data_dir):
    response = _upload(client, ("kiwi.jpg", (SAMPLE_MEDIA / "kiwi.jpg").read_bytes()))
    item = response.get_json()["items"][0]
    deleted = client.delete(f"/api/files/{item['id']}?delete_original=true")
    assert deleted.status_code == 200 and deleted.get_json()["original_deleted"] is True
    assert not (data_dir / "uploads").joinpath(*item["path"].split("/")[-2:]).exists()


# ---- hostile names, failures, the error shape ------------------------------------------------------------------

def _upload_folders(data_dir) -> list:
    return [p for p in (data_dir / "uploads").iterdir() if p.name != ".incoming"]


def test_a_name_over_255_bytes_is_cut_by_bytes_keeping_its_extension(client, data_dir):
    name = "\u4e2d" * 90 + ".jpg"  # 90 CJK characters: 270 bytes of UTF-8
    response = _upload(client, (name, (SAMPLE_MEDIA / "kiwi.jpg").read_bytes()))
    assert response.status_code == 201, response.get_json()
    item = response.get_json()["items"][0]
    stored = item["name"]
    assert len(stored.encode("utf-8")) <= 255 and stored.endswith(".jpg") and stored.startswith("\u4e2d" * 80)
    assert item["path"].endswith("/" + stored) and item["media_type"] == "image"
    assert [len(list(p.iterdir())) for p in _upload_folders(data_dir)] == [1]


def test_a_failed_upload_leaves_nothing_behind(client, data_dir, monkeypatch):
    from app.services import uploads

    def broken_insert(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(uploads.files_db, "insert_file", broken_insert)
    response = _upload(client, ("kiwi.jpg", (SAMPLE_MEDIA / "kiwi.jpg").read_bytes()))
    assert response.status_code == 500 and response.get_json()["error"]["code"] == "internal_error"
    assert _upload_folders(data_dir) == []
    assert not list((data_dir / "uploads" / ".incoming").iterdir())


def test_nothing_stored_answers_the_error_shape_with_each_file_in_details(client, data_dir):
    response = _upload(client, ("a.mov", b"text\n" * 100), ("b.mp4", b"more text\n" * 100))
    assert response.status_code == 415
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == "unsupported_media" and "none of the 2 files" in body["error"]["message"]
    assert [e["filename"] for e in body["error"]["details"]["errors"]] == ["a.mov", "b.mp4"]
    assert client.get("/api/files").get_json()["total"] == 0 and _upload_folders(data_dir) == []


def test_an_image_too_large_once_sniffed_is_413_in_the_error_shape(app_config, data_dir):
    app = create_app({**app_config, "MAX_IMAGE_SIZE_MB": 1})
    client = app.test_client()
    big = (SAMPLE_MEDIA / "kiwi.jpg").read_bytes() + b"\x00" * (2 * 1024 * 1024)  # a .mp4 name streams as video
    response = _upload(client, ("big.mp4", big), ("notes.mov", b"text\n" * 100))
    assert response.status_code == 413
    error = response.get_json()["error"]
    assert error["code"] == "payload_too_large" and "MAX_IMAGE_SIZE_MB" in error["message"]
    assert {e["code"] for e in error["details"]["errors"]} == {"payload_too_large", "unsupported_media"}
    assert client.get("/api/files").get_json()["total"] == 0


def test_some_stored_keeps_201_with_items_and_errors(client):
    response = _upload(client, ("kiwi.jpg", (SAMPLE_MEDIA / "kiwi.jpg").read_bytes()), ("notes.mov", b"x\n" * 99))
    assert response.status_code == 201
    body = response.get_json()
    assert [i["name"] for i in body["items"]] == ["kiwi.jpg"]
    assert [(e["filename"], e["code"]) for e in body["errors"]] == [("notes.mov", "unsupported_media")]
