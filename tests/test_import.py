"""Importing folders: background job, progress, re-imports, moves, hostile names and broken files."""
from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import pytest

from app.services import importing, pipeline
from conftest import SAMPLE_IMAGES, SAMPLE_MEDIA, SAMPLE_VIDEOS
from helpers import import_folder, wait_for_task


def _all_files(client) -> list[dict]:
    return client.get("/api/files?per_page=500").get_json()["items"]


def test_import_reads_metadata_of_every_sample(client, sample_media):
    job = import_folder(client, sample_media, generate_proxies=False)
    assert job["status"] == "SUCCEEDED"
    assert job["total"] == 7 and job["done"] == 7
    assert job["imported"] == 7 and job["failed_count"] == 0 and job["skipped_existing"] == 0
    assert job["progress_percent"] == 100.0
    files = {f["name"]: f for f in _all_files(client)}
    assert set(files) == set(SAMPLE_VIDEOS + SAMPLE_IMAGES)
    car = files["car-detection.mp4"]
    assert car["media_type"] == "video" and car["mime_type"] == "video/mp4"
    assert abs(car["duration_seconds"] - 30.2) < 0.1
    assert (car["width"], car["height"]) == (768, 432)
    assert car["video_codec"] == "h264" and car["audio_codec"]
    assert abs(files["one-by-one-person-detection.mp4"]["duration_seconds"] - 139.4) < 0.1
    assert files["bottle-detection.mp4"]["audio_codec"] is None
    wall = files["Wall.jpg"]
    assert wall["media_type"] == "image" and (wall["width"], wall["height"]) == (1280, 960)
    assert wall["duration_seconds"] is None
    assert all(f["path"].startswith(str(sample_media)) and f["folder"] == str(sample_media) for f in files.values())
    assert all(f["analysis"] == {"status": "none", "latest_run_id": None} for f in files.values())


def test_reimport_adds_only_new_files(client, sample_media):
    import_folder(client, sample_media, generate_proxies=False)
    shutil.copy2(SAMPLE_MEDIA / "kiwi.jpg", sample_media / "kiwi copy.jpg")
    job = import_folder(client, sample_media, generate_proxies=False)
    assert job["imported"] == 1 and job["skipped_existing"] == 7
    assert len(_all_files(client)) == 8


def test_a_moved_file_keeps_its_id(client, sample_media, library_root):
    import_folder(client, sample_media, generate_proxies=False)
    before = {f["name"]: f["id"] for f in _all_files(client)}
    new_folder = library_root / "archive" / "2024"
    new_folder.mkdir(parents=True)
    os.rename(sample_media / "bottle-detection.mp4", new_folder / "bottle-detection.mp4")
    job = import_folder(client, library_root, generate_proxies=False)
    assert job["counters"]["moved"] == 1 and job["imported"] == 0
    moved = [f for f in _all_files(client) if f["name"] == "bottle-detection.mp4"]
    assert len(moved) == 1
    assert moved[0]["id"] == before["bottle-detection.mp4"]
    assert moved[0]["folder"] == str(new_folder)


def test_non_recursive_import_skips_subfolders(client, sample_media, library_root):
    job = import_folder(client, library_root, recursive=False, generate_proxies=False)
    assert job["status"] == "SUCCEEDED" and job["total"] == 0 and job["imported"] == 0


def test_broken_and_disguised_files_are_reported_not_fatal(client, library_root):
    folder = library_root / "broken"
    folder.mkdir()
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "notes.mov").write_text("this is not a video\n" * 50)
    data = (SAMPLE_MEDIA / "car-detection.mp4").read_bytes()
    (folder / "truncated.mp4").write_bytes(data[:2048])
    shutil.copy2(SAMPLE_MEDIA / "kiwi.jpg", folder / "kiwi.jpg")
    (folder / "readme.txt").write_text("ignored")
    job = import_folder(client, folder, generate_proxies=False)
    assert job["status"] == "SUCCEEDED"
    assert job["skipped_unsupported"] == 1
    reasons = {Path(f["item"]).name: f["reason"] for f in job["failed"]}
    assert set(reasons) == {"empty.mp4", "notes.mov", "truncated.mp4"}
    assert "empty" in reasons["empty.mp4"].lower() or "0 bytes" in reasons["empty.mp4"]
    files = {f["name"]: f for f in _all_files(client)}
    assert files["kiwi.jpg"]["status"] == "ready"
    assert files["empty.mp4"]["status"] == "failed" and files["empty.mp4"]["error"]


@pytest.mark.parametrize(
    "name",
    ["with space.jpg", "comma,separated.jpg", "quote's \"double\".jpg", "new\nline.jpg", "emoji 🎬.jpg",
     "<img src=x onerror=alert(1)>.jpg", "100% #1 + a=b @home.jpg"],
)
def test_hostile_file_names_import_intact(client, library_root, name):
    folder = library_root / "names"
    folder.mkdir()
    shutil.copy2(SAMPLE_MEDIA / "kiwi.jpg", folder / name)
    job = import_folder(client, folder, generate_proxies=False)
    assert job["imported"] == 1, job
    (item,) = _all_files(client)
    assert item["name"] == name and item["path"] == str(folder / name)


def test_non_utf8_file_name_is_reported(client, library_root):
    folder = library_root / "bytes"
    folder.mkdir()
    raw = os.path.join(os.fsencode(folder), b"caf\xe9.jpg")
    shutil.copy2(SAMPLE_MEDIA / "kiwi.jpg", raw)
    job = import_folder(client, folder, generate_proxies=False)
    assert job["status"] == "SUCCEEDED" and job["imported"] == 0
    assert len(job["failed"]) == 1 and "UTF-8" in job["failed"][0]["reason"]


def test_symlink_loop_is_reported_not_fatal(client, library_root):
    folder = library_root / "loop"
    (folder / "inner").mkdir(parents=True)
    os.symlink(folder, folder / "inner" / "back")
    shutil.copy2(SAMPLE_MEDIA / "kiwi.jpg", folder / "inner" / "kiwi.jpg")
    job = import_folder(client, folder, generate_proxies=False)
    assert job["status"] == "SUCCEEDED" and job["imported"] == 1
    assert any("loop" in f["reason"] for f in job["failed"])


def test_unreadable_file_is_reported(client, library_root, monkeypatch):
    folder = library_root / "locked"
    folder.mkdir()
    target = folder / "kiwi.jpg"
    shutil.copy2(SAMPLE_MEDIA / "kiwi.jpg", target)
    target.chmod(0)
    if os.geteuid() == 0:
        # root reads any file whatever its mode: make the permission check answer as for a normal user
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda path, mode: False if str(path) == str(target)
                            else real_access(path, mode))
    job = import_folder(client, folder, generate_proxies=False)
    assert job["status"] == "SUCCEEDED" and job["imported"] == 0
    assert job["failed"] and "permission" in job["failed"][0]["reason"]


def test_empty_folder_imports_nothing(client, library_root):
    (library_root / "empty").mkdir()
    job = import_folder(client, library_root / "empty")
    assert job["status"] == "SUCCEEDED" and job["total"] == 0 and job["imported"] == 0


@pytest.mark.parametrize(
    "payload, status, code",
    [
        ({"path": "/etc"}, 403, "path_not_allowed"),
        ({"path": "relative/folder"}, 400, "bad_request"),
        ({"path": ""}, 400, "bad_request"),
        ({"path": 12}, 400, "bad_request"),
        ({"path": "/x", "recursive": "yes"}, 400, "invalid_parameter"),
    ],
)
def test_bad_import_requests_get_clear_errors(client, payload, status, code):
    response = client.post("/api/files/import-directory", json=payload)
    assert response.status_code == status
    body = response.get_json()
    assert body["error"]["code"] == code and body["error"]["message"]


def test_dot_dot_cannot_escape_the_library_roots(client, library_root):
    response = client.post("/api/files/import-directory", json={"path": f"{library_root}/../../../../etc"})
    assert response.status_code == 403
    assert "LIBRARY_ROOTS" in response.get_json()["error"]["message"]


def test_a_file_path_is_not_a_folder(client, sample_media):
    response = client.post("/api/files/import-directory", json={"path": str(sample_media / "kiwi.jpg")})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "not_a_directory"


def test_missing_folder_is_404_like_bad_request(client, library_root):
    response = client.post("/api/files/import-directory", json={"path": str(library_root / "nope")})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "path_not_found"


def test_import_requires_a_json_body(client):
    response = client.post("/api/files/import-directory", data="path=/tmp")
    assert response.status_code == 415 and response.get_json()["error"]["code"] == "json_required"


def test_cancel_stops_an_import_between_files(client, app, library_root, monkeypatch):
    """The first file's probe waits until the cancel is recorded, so the task is surely running when it is
    cancelled: it stops after its first batch of IMPORT_BATCH files, whatever the machine's speed."""
    folder = library_root / "many"
    folder.mkdir()
    for index in range(120):
        shutil.copy2(SAMPLE_MEDIA / "kiwi.jpg", folder / f"img_{index:04d}.jpg")
    probing, cancelled = threading.Event(), threading.Event()
    real_file_values = importing.file_values

    def held_file_values(*args, **kwargs):
        probing.set()
        assert cancelled.wait(60), "the test never cancelled"
        return real_file_values(*args, **kwargs)

    monkeypatch.setattr(importing, "file_values", held_file_values)
    response = client.post("/api/files/import-directory", json={"path": str(folder), "generate_proxies": False})
    job_id = response.get_json()["task_id"]
    assert probing.wait(60), "the import never started"
    cancel = client.post(f"/api/tasks/{job_id}/cancel", json={})
    assert cancel.status_code == 200 and cancel.get_json()["cancel_requested"] is True
    cancelled.set()
    job = wait_for_task(client, job_id)
    assert job["status"] == "CANCELLED"
    assert job["imported"] == importing.IMPORT_BATCH < 120
    assert len(_all_files(client)) == job["imported"]
    again = client.post(f"/api/tasks/{job_id}/cancel", json={})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "conflict"


def test_cancel_before_the_task_starts(client, app, library_root):
    """A task cancelled while still queued never runs."""
    (library_root / "few").mkdir()
    shutil.copy2(SAMPLE_MEDIA / "kiwi.jpg", library_root / "few" / "kiwi.jpg")
    app.extensions["services"].tasks.stop(timeout=30)  # nothing picks the task up
    response = client.post("/api/files/import-directory", json={"path": str(library_root / "few")})
    job_id = response.get_json()["task_id"]
    cancel = client.post(f"/api/tasks/{job_id}/cancel", json={})
    assert cancel.status_code == 200 and cancel.get_json()["status"] == "CANCELLED"
    job = client.get(f"/api/tasks/{job_id}").get_json()
    assert job["status"] == "CANCELLED" and job["imported"] == 0 and _all_files(client) == []


def test_unknown_task_is_404(client):
    response = client.get("/api/tasks/doesnotexist")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "task_not_found"


# ---- counting each file once ------------------------------------------------------------------------------------

def test_a_broken_file_counts_as_failed_only(client, library_root):
    folder = library_root / "mixed"
    folder.mkdir()
    for name in ("kiwi.jpg", "Wall.jpg"):
        shutil.copy2(SAMPLE_MEDIA / name, folder / name)
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "notes.mov").write_text("not a video\n" * 50)
    (folder / "truncated.mp4").write_bytes((SAMPLE_MEDIA / "car-detection.mp4").read_bytes()[:2048])
    job = import_folder(client, folder, generate_proxies=False)
    assert (job["total"], job["done"]) == (5, 5)
    assert job["imported"] == 2 and job["failed_count"] == 3 and job["counters"]["updated"] == 0
    assert job["result"]["new_files"] == 2
    assert sorted(Path(f["item"]).name for f in job["failed"]) == ["empty.mp4", "notes.mov", "truncated.mp4"]
    rows = {f["name"]: f for f in _all_files(client)}
    assert {n for n, f in rows.items() if f["status"] == "failed" and f["error"]} == \
        {"empty.mp4", "notes.mov", "truncated.mp4"}
    again = import_folder(client, folder, generate_proxies=False)  # unchanged files, failed or not, are known
    assert again["imported"] == 0 and again["failed_count"] == 0 and again["skipped_existing"] == 5


# ---- symlinks stay inside the library roots ---------------------------------------------------------------------

@pytest.fixture
def outside(tmp_path):
    """A folder outside LIBRARY_ROOTS with a picture in it."""
    folder = tmp_path / "outside"
    folder.mkdir()
    shutil.copy2(SAMPLE_MEDIA / "Bubbles.jpg", folder / "secret.jpg")
    return folder


def _with_roots(app):
    """The import handler as the app registers it once it passes LIBRARY_ROOTS (see the report)."""
    roots = app.config["SETTINGS"].LIBRARY_ROOTS
    app.extensions["services"].tasks.register(
        "import", lambda ctx, params: importing.run_import(ctx, params, roots=roots), then=pipeline.after_import)


def test_symlinks_out_of_the_roots_are_skipped_and_reported(client, library_root, outside):
    folder = library_root / "links"
    folder.mkdir()
    shutil.copy2(SAMPLE_MEDIA / "kiwi.jpg", folder / "kiwi.jpg")
    os.symlink(outside, folder / "to-outside-folder")
    os.symlink(outside / "secret.jpg", folder / "to-outside-file.jpg")
    job = import_folder(client, folder)
    assert job["status"] == "SUCCEEDED" and job["imported"] == 1 and job["failed_count"] == 2
    reasons = {Path(f["item"]).name: f["reason"] for f in job["failed"]}
    assert set(reasons) == {"to-outside-folder", "to-outside-file.jpg"}
    assert all("outside" in r and str(outside) not in r for r in reasons.values())
    assert [f["name"] for f in _all_files(client)] == ["kiwi.jpg"]
    proxies = wait_for_task(client, job["result"]["proxies_task_id"])
    assert proxies["status"] == "SUCCEEDED" and proxies["done"] == 1


def test_symlinks_out_of_the_roots_are_skipped_with_the_roots_too(app, client, library_root, outside):
    _with_roots(app)
    folder = library_root / "links"
    folder.mkdir()
    os.symlink(outside, folder / "to-outside-folder")
    os.symlink(outside / "secret.jpg", folder / "to-outside-file.jpg")
    job = import_folder(client, folder, generate_proxies=False)
    assert job["imported"] == 0 and job["failed_count"] == 2
    assert all("LIBRARY_ROOTS" in f["reason"] for f in job["failed"])
    assert _all_files(client) == []


def test_symlinks_inside_a_root_are_followed(app, client, library_root, sample_media):
    _with_roots(app)
    folder = library_root / "album"
    folder.mkdir()
    os.symlink(sample_media, folder / "samples-link")  # a sibling folder of the same root
    os.symlink(sample_media / "kiwi.jpg", folder / "favourite.jpg")
    job = import_folder(client, folder, generate_proxies=False)
    assert job["failed_count"] == 0 and job["imported"] == 8
    paths = {f["path"] for f in _all_files(client)}
    assert str(folder / "favourite.jpg") in paths and str(folder / "samples-link" / "Wall.jpg") in paths


def test_symlinks_inside_the_imported_folder_are_followed(client, library_root):
    folder = library_root / "own"
    (folder / "real").mkdir(parents=True)
    shutil.copy2(SAMPLE_MEDIA / "kiwi.jpg", folder / "real" / "kiwi.jpg")
    os.symlink(folder / "real" / "kiwi.jpg", folder / "kiwi-link.jpg")
    job = import_folder(client, folder, generate_proxies=False)
    assert job["imported"] == 2 and job["failed_count"] == 0


def test_a_symlink_loop_is_reported_never_followed(client, library_root):
    folder = library_root / "loops"
    (folder / "inner").mkdir(parents=True)
    os.symlink(folder, folder / "inner" / "up")  # back to an ancestor
    os.symlink(folder / "self", folder / "self")  # a link to itself
    shutil.copy2(SAMPLE_MEDIA / "kiwi.jpg", folder / "inner" / "kiwi.jpg")
    job = import_folder(client, folder, generate_proxies=False)
    assert job["status"] == "SUCCEEDED" and job["imported"] == 1
    reasons = {Path(f["item"]).name: f["reason"] for f in job["failed"]}
    assert set(reasons) == {"up", "self"} and all("loop" in r for r in reasons.values())


# ---- refusals do not say where a path led ----------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/proc/self/cwd", "/proc/self/root/etc", "/etc"])
def test_a_refused_path_names_the_rule_not_the_target_or_the_roots(client, library_root, data_dir, path):
    response = client.post("/api/files/import-directory", json={"path": path})
    assert response.status_code == 403
    error = response.get_json()["error"]
    assert error["code"] == "path_not_allowed" and "outside the library roots (LIBRARY_ROOTS)" in error["message"]
    text = json.dumps(error)
    for secret in (os.getcwd(), str(library_root), str(data_dir), "library_roots"):
        assert secret not in text


def test_a_symlink_in_a_root_to_outside_is_refused_without_its_target(client, library_root, outside):
    os.symlink(outside, library_root / "escape")
    response = client.post("/api/files/import-directory", json={"path": str(library_root / "escape")})
    assert response.status_code == 403
    assert str(outside) not in response.get_data(as_text=True)
