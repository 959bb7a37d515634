"""Uploads: streamed to DATA_DIR/uploads, content sniffed, size limits enforced while streaming."""
from __future__ import annotations

import io

import pytest

from app import create_app
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


def test_content_is_sniffed_not_the_extension(client, data_dir):
    image = (SAMPLE_MEDIA / "kiwi.jpg").read_bytes()
    response = _upload(client, ("holiday.mp4", image))
    assert response.status_code == 201
    assert response.get_json()["items"][0]["media_type"] == "image"
    rejected = _upload(client, ("notes.mov", b"just some text\n" * 100))
    assert rejected.status_code == 415
    assert rejected.get_json()["errors"][0]["code"] == "unsupported_media"
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
