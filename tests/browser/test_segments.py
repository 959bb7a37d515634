"""A long video analysed as segments: the file page's run card lists each segment with its time range and
status, and a click on a segment plays the video from its start."""
from __future__ import annotations

from tests.browser.support import import_via_api, post_json, wait_job

LONG = "one-by-one-person-detection.mp4"  # 139.4 s: three segments of 60 s with 10 s overlap


def test_the_run_card_lists_the_segments_and_a_click_plays_one(quiet_server, page, shots):
    base = quiet_server.url
    import_via_api(page, base, quiet_server.library)
    items = page.request.get(f"{base}/api/files?per_page=100").json()["items"]
    file_id = next(item["id"] for item in items if item["name"] == LONG)
    started = post_json(page, f"{base}/api/nova/analyze", {
        "file_ids": [file_id], "analysis_types": ["chapters"],
        "options": {"segment_seconds": 60, "segment_overlap": 10}})
    assert wait_job(page, base, started["task_id"], timeout=300)["status"] == "SUCCEEDED"

    page.goto(f"{base}/files/{file_id}")
    segments = page.locator("#run-segments")
    segments.wait_for()
    assert segments.inner_text().startswith("Analysed as 3 segments of 1:00 (10 s overlap)")
    buttons = segments.locator("button.time-link")
    assert [buttons.nth(i).inner_text() for i in range(3)] == ["0:00–1:00", "0:50–1:50", "1:40–2:19"]
    assert segments.locator("[data-status=COMPLETED]").count() == 3
    page.wait_for_function("document.querySelector('#media video').readyState >= 1")
    buttons.nth(2).click()
    page.wait_for_function("Math.abs(document.querySelector('#media video').currentTime - 100) < 1")
    # The offline analyser knows a later segment's first scene is not the video's opening (the third segment's
    # first scene straddles the overlap and is merged into the chapter before it).
    chapters = page.inner_text("#results")
    assert chapters.count("Opening of the video.") == 1 and chapters.count("Start of this segment") == 1
    shots("segments")
    assert page.problems == [] and page.dialogs == []
