"""Library page details: filters live in the URL, sorting, paging, and selecting everything a filter matches."""
from __future__ import annotations

import json
import re

from tests.browser.support import import_via_api


def test_filters_sorting_and_select_all_matching(quiet_server, page, shots):
    base = quiet_server.url
    import_via_api(page, base, quiet_server.library)

    page.goto(f"{base}/files?per_page=2")
    page.locator("#file-rows tr").nth(1).wait_for()
    page.select_option("#f-media_type", "video")
    page.wait_for_url(re.compile(r"media_type=video"))
    page.wait_for_function("document.querySelector('#summary').innerText.startsWith('3')")
    page.get_by_role("button", name="Size").click()
    page.wait_for_url(re.compile(r"sort=size"))
    page.get_by_role("button", name=re.compile("^Size")).click()
    page.wait_for_url(re.compile(r"order=desc"))
    page.locator("th[aria-sort=descending]").wait_for()
    first = page.locator("#file-rows a.file-name").first.inner_text()
    assert first == "one-by-one-person-detection.mp4"  # the largest video
    assert page.locator("#pager .page-link", has_text="2").count() == 1

    # A bookmarked view comes back the same.
    page.reload()
    page.locator("#file-rows tr").first.wait_for()
    assert page.input_value("#f-media_type") == "video"
    assert page.locator("#file-rows a.file-name").first.inner_text() == first

    # Select the page, then every file matching the filter: actions send the filter, not ids.
    page.check("#select-page")
    page.get_by_role("button", name="Select all 3 files matching this filter").click()
    assert page.inner_text("#selection-text") == "All 3 files matching this filter are selected"
    shots("library-select-all")
    with page.expect_request(lambda r: r.url.endswith("/api/files/proxies") and r.method == "POST") as sent:
        page.click("#action-proxies")
    body = json.loads(sent.value.post_data)
    assert body["filter"] == {"media_type": "video"} and "file_ids" not in body
    page.locator(".task-card", has_text="SUCCEEDED").wait_for(timeout=120_000)

    # Delete asks first and says the originals stay on disk; cancelling keeps everything.
    page.click("#action-delete")
    dialog = page.locator(".modal.show")
    dialog.wait_for()
    page.wait_for_function("document.activeElement.textContent === 'Remove from library'")  # fully shown
    assert "original files stay on disk" in dialog.inner_text()
    shots("delete-confirmation", full_page=False)
    dialog.get_by_role("button", name="Cancel").click()
    dialog.wait_for(state="detached")
    assert page.request.get(f"{base}/api/files").json()["total"] == 7

    # Keyboard: the filter form and the table are reachable with Tab alone.
    page.goto(f"{base}/files")
    page.locator("#file-rows tr").first.wait_for()
    focused = set()
    for _ in range(40):
        page.keyboard.press("Tab")
        focused.add(page.evaluate("document.activeElement.id || document.activeElement.className"))
    assert {"f-q", "f-media_type", "select-page"} <= focused
    assert page.problems == [] and page.dialogs == []
