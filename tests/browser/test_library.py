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


def test_pager_follows_cursors_forward_and_comes_back(quiet_server, page):
    base = quiet_server.url
    import_via_api(page, base, quiet_server.library)
    expected = [[f["name"] for f in page.request.get(f"{base}/api/files?per_page=2&page={n}").json()["items"]]
                for n in range(1, 5)]
    lists: list[str] = []
    page.on("request", lambda r: lists.append(r.url) if "/api/files?" in r.url else None)

    def shown() -> list[str]:
        return page.locator("#file-rows a.file-name").all_inner_texts()

    def go(label: str, number: int) -> str:
        lists.clear()
        page.get_by_role("button", name=label).click()
        page.wait_for_url(re.compile(rf"page={number}") if number > 1 else re.compile(r"/files\?per_page=2$"))
        page.locator("#pager .active .page-link", has_text=str(number)).wait_for()
        page.locator("#file-rows:not([aria-busy])").wait_for(state="attached")
        assert len(lists) == 1, lists
        return lists[0]

    page.goto(f"{base}/files?per_page=2")
    page.locator("#file-rows tr").nth(1).wait_for()
    assert shown() == expected[0]
    for number in (2, 3, 4):
        url = go("Next page", number)
        # Next continues from the previous page's last row (keyset), not by counting rows with OFFSET.
        assert "cursor=" in url and not re.search(r"[?&]page=", url), url
        assert shown() == expected[number - 1]
    assert page.locator("#pager [aria-label='Next page']").is_disabled(), "7 files: page 4 is the last"
    url = go("Previous page", 3)
    assert "cursor=" in url and shown() == expected[2]
    url = go("Previous page", 2)
    assert shown() == expected[1]
    url = go("Previous page", 1)
    assert "cursor=" not in url and shown() == expected[0]
    # A page opened by its number (a bookmark) loads by OFFSET, and Next goes on by cursor from there.
    page.goto(f"{base}/files?per_page=2&page=3")
    page.locator("#pager .active .page-link", has_text="3").wait_for()
    assert shown() == expected[2]
    url = go("Next page", 4)
    assert "cursor=" in url and shown() == expected[3]
    assert page.problems == [] and page.dialogs == []
