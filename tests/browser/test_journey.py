"""A newcomer's whole journey in a real browser: import, proxies, analyse, watch, play, search, report."""
from __future__ import annotations

import json
import re

BATCH_TIMEOUT_MS = 240_000


def _job_card(page, title: str, status: str = "SUCCEEDED"):
    return page.locator(".task-card").filter(has_text=title).filter(has_text=status)


def test_newcomer_journey(live_server, page, shots):
    base = live_server.url

    # An empty library says what to do first.
    page.goto(f"{base}/files")
    page.get_by_text("Import a folder to start").wait_for()
    shots("library-empty")

    # Import the folder (proxies later, from the selection) and watch the progress finish.
    page.fill("#import-path", str(live_server.library))
    page.uncheck("#import-proxies")
    page.click("#import-button")
    _job_card(page, "Import").wait_for()
    assert "7 new" in _job_card(page, "Import").inner_text()
    page.locator("#file-rows tr").nth(6).wait_for()
    assert page.locator("#file-rows tr").count() == 7
    assert "7" in page.locator("#summary").inner_text()
    shots("library-imported")

    # Generate proxies for every file on the page.
    page.check("#select-page")
    assert "7 files selected" in page.inner_text("#selection-text")
    page.click("#action-proxies")
    _job_card(page, "Generating proxies").wait_for(timeout=120_000)
    page.wait_for_function("document.querySelectorAll('#file-rows .badge.text-bg-success').length === 7")
    shots("library-proxies")

    # Analyze: the dialog shows both prices side by side before anything runs.
    page.check("#select-page")
    page.click("#action-analyze")
    page.locator("#estimate-cards").wait_for()
    estimate = page.inner_text("#analyze-estimate")
    assert "Everything as batch" in estimate and "Everything on demand" in estimate
    assert re.search(r"\d+ file\(s\) as batch", estimate) and "on demand" in estimate
    models = page.inner_text("#analyze-model")
    assert "Nova 2 Lite" in models and "(legacy" in models  # the whole catalog, legacy models marked
    assert "(default" in page.locator("#analyze-model option:checked").inner_text()
    shots("analyze-dialog", full_page=False)
    # With a priced Nova model the two prices differ (batch is half); it cannot run here, so no submit.
    page.select_option("#analyze-model", "lite")
    page.locator("#analyze-model-note", has_text="Not available").wait_for()
    page.wait_for_function("document.querySelector('.estimate-cost') && document.querySelector('.estimate-cost').textContent !== '$0.00'")
    batch_price, on_demand_price = (float(t.strip("$")) for t in page.locator(".estimate-cost").all_inner_texts()[:2])
    assert on_demand_price > 0 and abs(batch_price - on_demand_price / 2) <= 0.011
    assert page.locator("#analyze-submit").is_disabled()
    shots("analyze-dialog-nova-prices", full_page=False)
    page.select_option("#analyze-model", "local-analyzer")
    page.locator("#estimate-cards").wait_for()
    page.wait_for_function("!document.querySelector('#analyze-submit').disabled")
    page.click("#analyze-submit")

    # The submission page updates by itself until the batch is Completed.
    page.wait_for_url(re.compile(r"/batches/\d+$"))
    page.locator("#batch-status", has_text="COMPLETED").wait_for(timeout=BATCH_TIMEOUT_MS)
    page.locator("#live-note", has_text="Finished").wait_for()
    assert page.locator("#file-outcomes tbody tr").count() == 7
    shots("batch-completed")
    page.goto(f"{base}/batches")
    page.locator("#batch-table tbody tr").first.wait_for()
    shots("batches-list")
    page.goto(f"{base}/files?q=bottle")

    # Open a file and click a chapter: the player seeks there.
    page.get_by_role("link", name="bottle-detection.mp4").click()
    page.wait_for_url(re.compile(r"/files/\d+$"))
    page.locator("#timeline .timeline-seg").nth(1).wait_for()
    page.wait_for_function("document.querySelector('video').readyState >= 1")
    before = page.evaluate("document.querySelector('video').currentTime")
    segment = page.locator("#timeline .timeline-seg").nth(1)
    start = float(segment.get_attribute("data-start"))
    segment.click()
    page.wait_for_function(f"Math.abs(document.querySelector('video').currentTime - {start}) < 1.5")
    after = page.evaluate("document.querySelector('video').currentTime")
    assert after != before and after > 0
    assert page.locator("#summary-text").inner_text().strip()
    assert "COMPLETED" in page.inner_text("#run-info")
    shots("file-chapters")
    with page.expect_download() as download:
        page.click("#export-csv")
    csv_lines = open(download.value.path(), encoding="utf-8").read().splitlines()
    assert csv_lines[0] == "index,start_seconds,end_seconds,start,end,title,summary" and len(csv_lines) == 3
    with page.expect_download() as download:
        page.click("#export-json")
    exported = json.loads(open(download.value.path(), encoding="utf-8").read())
    assert exported["file"]["name"] == "bottle-detection.mp4" and exported["run"]["results"]["chapters"]

    # Search a word from the summary and land on the file (at the matching chapter).
    page.fill("#nav-search", "brightness")
    page.press("#nav-search", "Enter")
    page.wait_for_url(re.compile(r"/search\?q=brightness"))
    result = page.locator(".search-result", has_text="bottle-detection.mp4")
    result.wait_for()
    assert result.locator("mark").first.inner_text().lower() == "brightness"
    shots("search")
    result.locator(".result-link").click()
    page.wait_for_url(re.compile(r"/files/\d+\?t="))
    assert page.inner_text("#file-name") == "bottle-detection.mp4"
    wanted = float(re.search(r"t=([\d.]+)", page.url).group(1))
    page.wait_for_function(f"Math.abs(document.querySelector('video').currentTime - {wanted}) < 1.5")
    shots("file-from-search")

    # Reports: usage, the chart, and a preview of the staging cleanup.
    page.goto(f"{base}/reports")
    page.locator("#metrics .metric-card").first.wait_for()
    assert "Files analysed" in page.inner_text("#metrics")
    page.locator("#per-model-table").wait_for()
    page.wait_for_timeout(300)
    shots("reports")
    storage = page.request.get(f"{base}/reports/api/storage/batch")
    assert storage.status == 200, (storage.status, storage.text())  # a missing endpoint fails, never skips
    page.locator("#storage-table").wait_for()
    page.click("#storage-preview")
    page.locator("#cleanup-summary", has_text="Preview").wait_for()
    shots("reports-cleanup-preview")

    # Phone width: nothing spills sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base}/files")
    page.locator("#file-rows tr").first.wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= 392
    shots("library-phone")

    assert page.problems == [] and page.dialogs == []
