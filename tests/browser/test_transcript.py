"""The transcript beside the player: a click on a line seeks the video, the line being said follows playback,
hostile subtitle text renders as text, downloads work, a spoken phrase found by search opens the moment, and
the Analyze dialog's Transcribe button shows the estimate before it starts anything."""
from __future__ import annotations

import re

from app.db import connect
from app.services.transcripts.process import process_transcripts_once
from tests.browser.support import import_via_api, wait_job
from tests.speech_support import make_speech_video, write_srt

HOSTILE = '<img src=x onerror="alert(1)">'


def _import(page, server, folder) -> dict[str, int]:
    done = import_via_api(page, server.url, folder)
    assert wait_job(page, server.url, done["result"]["subtitles_task_id"])["status"] == "SUCCEEDED"
    items = page.request.get(f"{server.url}/api/files?per_page=100").json()["items"]
    return {item["name"]: item["id"] for item in items}


def _active_line(page) -> str:
    return page.locator("#transcript-lines li[aria-current=true]").inner_text()


def test_the_transcript_follows_the_player_and_seeks_it(quiet_server, page, shots):
    base = quiet_server.url
    folder = quiet_server.library.parent / "talks"
    spoken = make_speech_video(folder, sidecar=False)
    cues = spoken.cues + [(14.0, 16.0, HOSTILE.replace("<", "&lt;").replace(">", "&gt;"))]
    write_srt(folder / "walkthrough.srt", cues)
    file_id = _import(page, quiet_server, folder)["walkthrough.mp4"]

    page.goto(f"{base}/files/{file_id}")
    lines = page.locator("#transcript-lines li")
    lines.nth(3).wait_for()
    assert lines.count() == 4
    assert "subtitle file beside the video" in page.inner_text("#transcript-source")
    page.wait_for_function("document.querySelector('#media video').readyState >= 1")
    # The hostile cue is literal text: no element was made from it.
    assert lines.nth(3).inner_text().endswith(HOSTILE)
    assert page.locator('#transcript img, img[src="x"]').count() == 0
    shots("transcript-beside-player")

    # A click on a line seeks the player there, and that line is the current one.
    lines.nth(1).locator("button").click()
    start = spoken.cues[1][0]
    page.wait_for_function(f"Math.abs((document.querySelector('#media video')?.currentTime ?? -99) - {start}) < 1.0")
    page.wait_for_function("document.querySelector('#transcript-lines li[aria-current=true]')?.dataset.index === '1'")
    assert "torque wrench calibration" in _active_line(page)
    # Playback elsewhere (here: the player moved by script, as the seek bar would) moves the highlight along.
    page.evaluate("(() => { const v = document.querySelector('#media video'); v.pause(); v.currentTime = 9.5; })()")
    page.wait_for_function("document.querySelector('#transcript-lines li[aria-current=true]')?.dataset.index === '2'")
    assert "conveyor belt" in _active_line(page)
    shots("transcript-following")

    with page.expect_download() as download:
        page.get_by_role("link", name=".srt").click()
    assert download.value.suggested_filename == "walkthrough.transcript.srt"
    text = open(download.value.path(), encoding="utf-8").read()
    assert text.startswith("1\n00:00:00,800 --> 00:00:03,711\nWelcome to the site walk-through of line four.\n")

    # A phrase that is only spoken is found by search and opens the player at the moment it is said.
    page.goto(f"{base}/search?q=calibration")
    result = page.locator(".search-result", has_text="walkthrough.mp4")
    result.wait_for()
    assert "Transcript" in result.inner_text()
    result.locator("a[href*='?t=']").first.click()
    page.wait_for_url(re.compile(rf"/files/{file_id}\?t=4\.911$"))
    page.wait_for_function("Math.abs((document.querySelector('#media video')?.currentTime ?? -99) - 4.911) < 1.0")
    page.wait_for_function("document.querySelector('#transcript-lines li[aria-current=true]')?.dataset.index === '1'")
    shots("transcript-from-search")
    assert page.dialogs == [] and page.problems == []


def test_the_analyze_dialog_estimates_then_starts_a_transcription(quiet_server, page, shots):
    base = quiet_server.url
    folder = quiet_server.library.parent / "quiet-talk"
    make_speech_video(folder, name="meeting.mp4", sidecar=False)
    file_id = _import(page, quiet_server, folder)["meeting.mp4"]

    page.goto(f"{base}/files/{file_id}")
    page.locator("#transcript", has_text="No transcript yet").wait_for()
    page.wait_for_function("!document.querySelector('#file-analyze').disabled")
    page.click("#file-analyze")
    summary = page.locator("#transcribe-summary")
    summary.wait_for()
    assert "1 file(s) to transcribe" in summary.inner_text()
    assert "Amazon Transcribe would cost" in summary.inner_text()
    page.click("#transcribe-start")
    assert "Transcribe 1 file(s)" in page.inner_text("#transcribe-confirm-text")
    shots("transcribe-confirm", full_page=False)
    jobs_before = page.request.get(f"{base}/api/files/{file_id}/transcript").json()["job"]
    assert jobs_before is None  # nothing started before the confirmation
    page.click("#transcribe-confirm")
    page.locator("#transcribe-started").wait_for()

    # What the server's poller and the offline stand-in do in the background.
    app = quiet_server.app
    services = app.extensions["services"]
    body = page.request.get(f"{base}/api/files/{file_id}/transcript").json()
    while body["job"] is None or body["job"]["status"] == "STAGING":
        page.wait_for_timeout(100)
        body = page.request.get(f"{base}/api/files/{file_id}/transcript").json()
    conn = connect(app.config["SETTINGS"].DATABASE_PATH)
    try:
        for _ in range(3):
            process_transcripts_once(conn, services, force=True)
            services.transcriber.run_once()
    finally:
        conn.close()
    page.keyboard.press("Escape")
    page.reload()
    note = page.locator("#transcript-note")
    note.wait_for()
    assert "does not recognise speech" in note.inner_text()
    assert page.locator("#transcript-lines li").count() == 3  # the three sentences, measured as sound
    shots("transcript-stand-in")
    page.goto(f"{base}/reports")
    metrics = page.locator("#metrics", has_text="Transcription")
    metrics.wait_for()
    assert "min of audio · 1 job(s)" in metrics.inner_text()
    assert page.dialogs == [] and page.problems == []
