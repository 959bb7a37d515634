"""The folder picker's API: the library roots, and one folder's subfolders (names only) with its media count,
validated exactly as import-directory validates a folder; plus the limits the upload control checks."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from app import create_app
from app.services import folders
from conftest import SAMPLE_MEDIA


def _list(client, path):
    return client.get("/api/folders", query_string={"path": str(path)})


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    (folder / "private").mkdir(parents=True)
    return folder


# ---- roots and listings ---------------------------------------------------------------------------------

def test_without_a_path_the_roots_are_listed(client, library_root, data_dir):
    body = client.get("/api/folders").get_json()
    assert body == {"roots": [{"name": "library", "path": str(library_root), "available": True},
                              {"name": "data", "path": str(data_dir), "available": True}]}


def test_a_root_that_is_missing_is_listed_as_unavailable(app_config, library_root, tmp_path):
    gone = tmp_path / "unplugged-disk"
    app = create_app({**app_config, "LIBRARY_ROOTS": (library_root, gone)})
    try:
        roots = app.test_client().get("/api/folders").get_json()["roots"]
    finally:
        app.extensions["services"].tasks.stop()
    assert [(r["name"], r["available"]) for r in roots] == [("library", True), ("unplugged-disk", False)]


def test_a_folder_lists_only_its_subfolders_sorted_and_counts_its_media(client, library_root):
    album = library_root / "album"
    for name in ("zebra", "Beach", "apple", ".cache"):
        (album / name).mkdir(parents=True)
    (album / "Beach" / "day one").mkdir()
    (album / ".cache" / "inner").mkdir()
    shutil.copy2(SAMPLE_MEDIA / "kiwi.jpg", album / "kiwi.jpg")
    (album / "clip.MP4").write_bytes(b"not probed: counted by extension")
    (album / "notes.txt").write_text("not media")
    (album / ".hidden.jpg").write_bytes(b"hidden")
    (album / "Beach" / "sea.jpg").write_bytes(b"inside a subfolder: not counted here")

    response = _list(client, album)
    assert response.status_code == 200
    body = response.get_json()
    assert body == {
        "path": str(album), "root": str(library_root), "parent": str(library_root), "media_files": 2,
        "truncated": False,
        "folders": [{"name": "apple", "path": str(album / "apple"), "has_subfolders": False},
                    {"name": "Beach", "path": str(album / "Beach"), "has_subfolders": True},
                    {"name": "zebra", "path": str(album / "zebra"), "has_subfolders": False}],
    }
    assert "kiwi.jpg" not in response.get_data(as_text=True)  # file names are counted, never listed


def test_a_root_has_no_parent_and_every_answer_names_its_root(client, library_root):
    (library_root / "a" / "b").mkdir(parents=True)
    top = _list(client, library_root).get_json()
    assert top["parent"] is None and top["root"] == str(library_root)
    deep = _list(client, library_root / "a" / "b").get_json()
    assert deep["parent"] == str(library_root / "a") and deep["root"] == str(library_root)


def test_the_listing_is_capped(client, library_root, monkeypatch):
    monkeypatch.setattr(folders, "MAX_LISTED_FOLDERS", 3)
    for n in range(5):
        (library_root / "many" / f"f{n}").mkdir(parents=True)
    body = _list(client, library_root / "many").get_json()
    assert body["truncated"] is True
    assert [f["name"] for f in body["folders"]] == ["f0", "f1", "f2"]


# ---- the same refusals as import-directory ---------------------------------------------------------------

@pytest.mark.parametrize("path, status, code", [
    ("/etc", 403, "path_not_allowed"),
    ("relative/folder", 400, "bad_request"),
    ("", 400, "bad_request"),
    ("/a\x00b", 400, "bad_request"),
    ("~someone", 400, "bad_request"),
])
def test_bad_paths_get_the_import_directory_errors(client, path, status, code):
    response = client.get("/api/folders", query_string={"path": path})
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    imported = client.post("/api/files/import-directory", json={"path": path})
    assert (imported.status_code, imported.get_json()["error"]["code"]) == (status, code)


@pytest.mark.parametrize("suffix", ["/../../../../etc", "/..", "/../../proc/self/cwd"])
def test_dot_dot_cannot_leave_the_roots_and_the_refusal_leaks_no_path(client, library_root, data_dir, suffix):
    response = _list(client, f"{library_root}{suffix}")
    assert response.status_code == 403
    error = response.get_json()["error"]
    assert error["code"] == "path_not_allowed" and "outside the library roots (LIBRARY_ROOTS)" in error["message"]
    text = json.dumps(error)
    for secret in (os.getcwd(), str(library_root), str(data_dir), str(library_root.parent)):
        assert secret not in text


def test_a_symlink_leaving_the_roots_is_not_listed_nor_opened(client, library_root, outside):
    (library_root / "real").mkdir()
    os.symlink(library_root / "real", library_root / "inside-link")
    os.symlink(outside, library_root / "escape")
    os.symlink(outside / "private", library_root / "real" / "deeper-escape")
    body = _list(client, library_root).get_json()
    assert [f["name"] for f in body["folders"]] == ["inside-link", "real"]
    assert body["folders"][1]["has_subfolders"] is False  # its only subfolder leaves the roots
    refused = _list(client, library_root / "escape")
    assert refused.status_code == 403 and str(outside) not in refused.get_data(as_text=True)
    followed = _list(client, library_root / "inside-link").get_json()
    assert followed["path"] == str(library_root / "real")  # where the folder really is, inside the roots


def test_a_file_is_not_a_folder(client, library_root):
    shutil.copy2(SAMPLE_MEDIA / "kiwi.jpg", library_root / "kiwi.jpg")
    response = _list(client, library_root / "kiwi.jpg")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "not_a_directory"


def test_a_missing_folder_is_path_not_found(client, library_root):
    response = _list(client, library_root / "nope")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "path_not_found"


def test_an_unreadable_folder_gives_a_clear_error(client, library_root, monkeypatch):
    locked = library_root / "locked"
    locked.mkdir()
    real_access = os.access
    # The tests may run as root, for whom every folder is readable: the permission check is what is faked.
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: Path(path) != locked and real_access(path, mode, **kw))
    response = _list(client, locked)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "not_readable" and "not readable" in error["message"]


# ---- hostile names ----------------------------------------------------------------------------------------

# A folder name cannot hold "/", so the markup has none.
HOSTILE = ['<script>alert(1)<\\script>', "<img src=x onerror=alert(1)>", 'quote " and \' apostrophe', "new\nline",
           "tab\there", "back\\slash", "日本語のフォルダ", "emoji 🎞"]


def test_hostile_names_come_back_intact_as_json_strings(client, library_root):
    folder = library_root / "hostile"
    for name in HOSTILE:
        (folder / name).mkdir(parents=True)
    response = _list(client, folder)
    assert response.mimetype == "application/json"
    names = [f["name"] for f in response.get_json()["folders"]]
    assert sorted(names) == sorted(HOSTILE)
    for item in response.get_json()["folders"]:
        assert item["path"] == str(folder / item["name"])
        assert _list(client, item["path"]).status_code == 200  # each one opens as it is named


def test_a_name_that_is_not_utf8_is_shown_with_replacement_characters(client, library_root):
    folder = library_root / "bytes"
    folder.mkdir()
    os.mkdir(os.fsencode(folder) + b"/caf\xe9")
    (folder / "caf\udce9.jpg").write_bytes(b"x")  # the import cannot take it, so it is not counted
    body = _list(client, folder).get_json()
    assert body["media_files"] == 0
    assert body["folders"] == [{"name": "caf\ufffd", "path": None, "has_subfolders": False,
                                "problem": folders.NOT_UTF8_NAME}]


# ---- the token ----------------------------------------------------------------------------------------------

def test_with_api_token_the_picker_needs_the_token(app_config, library_root):
    app = create_app({**app_config, "API_TOKEN": "s3cret-token"})
    client = app.test_client()
    try:
        for url in ("/api/folders", f"/api/folders?path={library_root}", "/api/files/upload/limits"):
            refused = client.get(url)
            assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "unauthorized"
            assert str(library_root) not in refused.get_data(as_text=True)
            allowed = client.get(url, headers={"Authorization": "Bearer s3cret-token"})
            assert allowed.status_code == 200, url
    finally:
        app.extensions["services"].tasks.stop()


# ---- the upload control's limits --------------------------------------------------------------------------

def test_upload_limits_are_the_settings_in_bytes_with_the_extensions(app_config):
    app = create_app({**app_config, "MAX_VIDEO_SIZE_MB": 3, "MAX_IMAGE_SIZE_MB": 1})
    try:
        body = app.test_client().get("/api/files/upload/limits").get_json()
    finally:
        app.extensions["services"].tasks.stop()
    assert body["max_video_bytes"] == 3 * 1024 * 1024 and body["max_image_bytes"] == 1024 * 1024
    assert {"mp4", "mov", "mkv"} <= set(body["video_extensions"])
    assert {"jpg", "png", "heic"} <= set(body["image_extensions"])
    assert body["video_extensions"] == sorted(body["video_extensions"])
    assert not set(body["video_extensions"]) & set(body["image_extensions"])
