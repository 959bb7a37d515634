"""Honest and safe pages: hostile file names render as text everywhere; failed records show their error."""
from __future__ import annotations

import re
import shutil

from tests.browser.support import import_via_api, post_json, wait_job
from tests.conftest import SAMPLE_MEDIA

HOSTILE = "<img src=x onerror=alert(1)>.mp4"


def test_a_hostile_file_name_renders_literally_everywhere(quiet_server, page, shots):
    base = quiet_server.url
    folder = quiet_server.library.parent / "hostile"
    folder.mkdir()
    shutil.copy2(SAMPLE_MEDIA / "bottle-detection.mp4", folder / HOSTILE)
    import_via_api(page, base, folder)
    file_id = page.request.get(f"{base}/api/files?q=onerror").json()["items"][0]["id"]
    body = {"file_ids": [file_id], "analysis_types": ["combined"], "mode": "on_demand"}
    submitted = page.request.post(f"{base}/api/batch/nova", data=body)
    assert submitted.status == 201, (submitted.status, submitted.text())  # a missing endpoint fails the test
    batch = submitted.json()
    batch_id = batch["id"]
    assert wait_job(page, base, batch["on_demand"]["task_id"])["status"] == "SUCCEEDED"
    quiet_server.drive_batches()

    visits = [("library", f"/files?q=onerror", "#file-rows a.file-name"),
              ("file", f"/files/{file_id}", "#file-name"),
              ("search", "/search?q=onerror", ".search-result .result-link"),
              ("batch", f"/batches/{batch_id}", "#file-outcomes a")]
    for name, path, selector in visits:
        page.goto(base + path)
        target = page.locator(selector).first
        target.wait_for()
        assert target.inner_text() == HOSTILE, name
        shots(f"hostile-{name}")
        assert page.locator('img[src="x"]').count() == 0, name
    page.goto(f"{base}/files/{file_id}")
    page.locator("#summary-text").wait_for()
    assert "onerror" in page.inner_text("#results")  # the model output that mentions it is text too
    assert page.dialogs == [] and page.problems == []


def test_a_failed_record_shows_its_error_on_the_batch_page(quiet_server, page, shots):
    base = quiet_server.url
    import_via_api(page, base, quiet_server.library)
    batch = post_json(page, f"{base}/api/batch/nova", {"filter": {"media_type": "video"}, "analysis_types": ["combined"],
                                                     "mode": "batch"})
    if batch.get("stage_task_id"):
        assert wait_job(page, base, batch["stage_task_id"])["status"] == "SUCCEEDED"
    quiet_server.drive_batches()  # submits the chunk to the local engine

    # Remove one staged video: the engine answers its record with an error line, as Bedrock would.
    services = quiet_server.app.extensions["services"]
    chunk = page.request.get(f"{base}/api/batch/{batch['id']}").json()["chunks"][0]
    victim = next(o.key for o in services.store.list(chunk["staging_folder"] + "files/") if "car" in o.key)
    services.store.delete_many([victim])
    page.goto(f"{base}/batches/{batch['id']}")
    page.locator("#chunks-title").wait_for()
    shots("batch-running")
    services.backend.run_once()
    quiet_server.drive_batches()

    row = page.locator("#file-outcomes tbody tr", has_text="car-detection.mp4")
    row.wait_for(timeout=30_000)  # the page polls and shows the outcome without a reload
    page.locator("#batch-status", has_text="PARTIAL").wait_for(timeout=30_000)
    assert "FAILED" in row.inner_text()
    assert re.search(r"media_not_found", row.locator(".file-error").inner_text())
    assert "Partial" in page.inner_text("#chunks-title + .table-responsive")
    assert page.locator("#batch-retry").is_enabled()
    page.check("#only-failed")
    assert page.locator("#file-outcomes tbody tr").count() == 1
    shots("batch-partial")

    # In the library the failed state carries its reason on hover.
    page.goto(f"{base}/files?analysis=failed")
    badge = page.locator("#file-rows .analysis-badge").first
    badge.wait_for()
    page.wait_for_function("document.querySelector('#file-rows .analysis-badge').title.includes('media_not_found')")
    page.go_back()
    page.locator("#batch-retry:enabled").wait_for()

    page.click("#batch-retry")
    page.wait_for_url(re.compile(rf"/batches/(?!{batch['id']}$)\d+$"))
    page.locator("#batch-status span").wait_for()
    shots("batch-retry")
    assert page.dialogs == [] and page.problems == []
