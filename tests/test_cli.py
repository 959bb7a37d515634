"""The Flask CLI: import, proxies and listing."""
from __future__ import annotations

import json


def test_import_dir_then_list_json(runner, sample_media):
    result = runner.invoke(args=["import-dir", str(sample_media), "--no-proxies"])
    assert result.exit_code == 0, result.output
    assert "imported=7" in result.output
    listed = runner.invoke(args=["files", "list", "--json"])
    assert listed.exit_code == 0
    body = json.loads(listed.output)
    assert body["total"] == 7 and {i["name"] for i in body["items"]} >= {"kiwi.jpg", "car-detection.mp4"}
    table = runner.invoke(args=["files", "list", "--media-type", "image"])
    assert "kiwi.jpg" in table.output and "4 file(s)" in table.output


def test_import_dir_outside_roots_exits_non_zero(runner):
    result = runner.invoke(args=["import-dir", "/etc"])
    assert result.exit_code == 1
    assert "LIBRARY_ROOTS" in result.output


def test_proxies_missing_generates_only_what_is_missing(runner, sample_media, library_root):
    images = library_root / "images"
    images.mkdir()
    for name in ("kiwi.jpg", "Bubbles.jpg"):
        (images / name).write_bytes((sample_media / name).read_bytes())
    assert runner.invoke(args=["import-dir", str(images), "--no-proxies"]).exit_code == 0
    first = runner.invoke(args=["proxies", "--missing"])
    assert first.exit_code == 0 and "generated=2" in first.output
    second = runner.invoke(args=["proxies", "--missing"])
    assert "generated=0" in second.output
