"""Semantic search in the browser: the search page says which mode ran and which backend made the vectors,
builds embeddings after showing the estimate, and "Find similar" on a file page lists look-alikes."""
from __future__ import annotations

from app.db import connect
from app.services.embedding_jobs import process_embeddings_once
from tests.browser.support import import_via_api, wait_until
from tests.embedding_support import NEAR_DUPLICATE, make_near_duplicate


def drive_videos(server) -> None:
    conn = connect(server.app.config["SETTINGS"].DATABASE_PATH)
    try:
        for _ in range(3):
            process_embeddings_once(conn, server.app.extensions["services"], force=True)
    finally:
        conn.close()


def test_build_embeddings_then_find_similar_and_search_by_meaning(quiet_server, page, shots):
    base = quiet_server.url
    make_near_duplicate(quiet_server.library)
    import_via_api(page, base, quiet_server.library)

    page.goto(f"{base}/search")
    wait_until(page, "() => document.querySelector('#embeddings-status').textContent.includes('local')")
    page.click("#embeddings-backfill")
    dialog = page.locator(".modal.show")
    dialog.wait_for()
    assert "8 files" in dialog.inner_text() and "local backend charges nothing" in dialog.inner_text()
    shots("estimate", full_page=False)
    dialog.get_by_role("button", name="Build embeddings").click()
    wait_until(page, "() => document.querySelector('#embeddings-activity').textContent.includes('SUCCEEDED')",
               timeout=60_000)
    drive_videos(quiet_server)

    files = page.request.get(f"{base}/api/files").json()["items"]
    wall = next(f for f in files if f["name"] == "Wall.jpg")
    page.goto(f"{base}/files/{wall['id']}")
    page.click("#find-similar")
    first = page.locator("#similar-results .similar-name").first
    first.wait_for()
    assert first.inner_text() == NEAR_DUPLICATE
    assert "vectors by local" in page.inner_text("#similar-note")
    shots("similar")

    page.goto(f"{base}/search?q=grey+video&mode=semantic")
    wait_until(page, "() => document.querySelectorAll('#search-results .search-result').length > 0")
    status = page.inner_text("#search-status")
    assert "searched by meaning" in status and "vectors by local (local-embeddings-v1, 1024 d)" in status
    assert page.locator("#search-mode").input_value() == "semantic"
    frames = page.locator("#search-results img.moment-thumb")
    frames.first.wait_for()
    wait_until(page, "() => [...document.querySelectorAll('img.moment-thumb')].some((img) => img.naturalWidth > 0)")
    shots("semantic-results")
    assert page.problems == [] and page.dialogs == []
