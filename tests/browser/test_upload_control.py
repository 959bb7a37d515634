"""The library page's upload control: a progress bar per file, the server's limits checked before anything is sent,
the server's per-file errors beside the file, names shown as text. (Named apart from tests/test_upload.py: the
test folders are not packages, so two test modules may not share a name.)"""
from __future__ import annotations

import re

import pytest

from tests.browser.conftest import _config, _library, _serve
from tests.conftest import SAMPLE_MEDIA

FINAL_STATES = ("done", "failed", "refused", "cancelled")
# Chromium escapes only '"', CR and LF in a multipart file name (the HTML standard's rule), so this name reaches
# the server as it is: markup, an ampersand and quotes that would break out of an attribute.
HOSTILE_NAME = "<img src=x onerror=alert(1)> & 'it'.jpg"


@pytest.fixture
def small_limit_server(tmp_path):
    """The app with MAX_IMAGE_SIZE_MB=1, so a photo over the limit is quick to make."""
    library = _library(tmp_path)
    yield from _serve(_config(tmp_path, MAX_IMAGE_SIZE_MB=1), library, run_batches=False)


def _payload(name: str, data: bytes, mime: str) -> dict:
    return {"name": name, "mimeType": mime, "buffer": data}


def _states(page) -> dict[str, str]:
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#upload-list .upload-item')]
        .map((li) => [li.querySelector('.upload-name').textContent, li.dataset.state]))""")


def _row(page, name: str):
    return page.locator("#upload-list .upload-item").filter(
        has=page.locator(".upload-name", has_text=re.compile(f"^{re.escape(name)}$")))


def test_upload_shows_progress_per_file_and_refuses_before_sending(small_limit_server, page, shots):
    base = small_limit_server.url
    posts = []
    page.on("request", lambda r: posts.append(r) if r.method == "POST" and r.url.endswith("/api/files/upload") else None)
    # Playwright turns on file chooser interception without waiting for Chromium's answer; a keypress right
    # after expect_file_chooser can beat it, so interception is on from the start.
    page.on("filechooser", lambda _chooser: None)
    page.goto(f"{base}/files")
    page.get_by_text("Import a folder to start").wait_for()
    page.wait_for_function("document.querySelector('#upload-hint').textContent.includes('photos up to 1 MB')")

    # "Choose files…" is a button the keyboard reaches; it opens the file input's chooser.
    page.focus("#upload-choose")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Enter")
    assert chooser.value.is_multiple() and chooser.value.element.get_attribute("id") == "upload-input"
    chooser.value.set_files([])

    kiwi = (SAMPLE_MEDIA / "kiwi.jpg").read_bytes()
    page.set_input_files("#upload-input", [
        _payload("kiwi.jpg", kiwi, "image/jpeg"),
        _payload("bottle-detection.mp4", (SAMPLE_MEDIA / "bottle-detection.mp4").read_bytes(), "video/mp4"),
        _payload("huge.jpg", b"\xff\xd8\xff" + bytes(2 * 1024 * 1024), "image/jpeg"),
        _payload("notes.mov", b"just some text\n" * 100, "video/quicktime"),
        _payload(HOSTILE_NAME, kiwi, "image/jpeg"),
    ])
    page.wait_for_function(f"""() => {{
        const rows = [...document.querySelectorAll('#upload-list .upload-item')];
        return rows.length === 5 && rows.every((li) => {list(FINAL_STATES)}.includes(li.dataset.state));
    }}""")
    shots("uploads-finished")
    assert _states(page) == {"kiwi.jpg": "done", "bottle-detection.mp4": "done", HOSTILE_NAME: "done",
                             "huge.jpg": "refused", "notes.mov": "failed"}
    for name in ("kiwi.jpg", "bottle-detection.mp4", HOSTILE_NAME):
        assert _row(page, name).get_by_role("progressbar").get_attribute("aria-valuenow") == "100"

    # The photo over the limit was never sent; the server's refusal of the text file is shown beside it.
    assert len(posts) == 4
    huge = _row(page, "huge.jpg")
    assert "larger than the 1 MB limit for photos (MAX_IMAGE_SIZE_MB)" in huge.inner_text()
    assert huge.get_by_role("progressbar").count() == 0
    assert "is not a supported video or image" in _row(page, "notes.mov").inner_text()

    # The list reloads with the stored files; the hostile name is text, never markup.
    page.wait_for_function("document.querySelectorAll('#file-rows a.file-name').length === 3")
    names = page.locator("#file-rows a.file-name").all_inner_texts()
    assert sorted(names) == sorted(["kiwi.jpg", "bottle-detection.mp4", HOSTILE_NAME])
    assert page.locator("img[src='x']").count() == 0

    # Each upload's proxies task is followed like any other; the list shows the proxies once they are made.
    page.locator(".task-card", has_text="Generating proxies").first.wait_for()
    page.wait_for_function("document.querySelectorAll('#file-rows .badge.text-bg-success').length === 3",
                           timeout=120_000)

    # A file dropped on the zone gets the same checks.
    page.evaluate("""() => {
        const data = new DataTransfer();
        data.items.add(new File(["plain text"], "readme.txt", { type: "text/plain" }));
        document.querySelector('#upload-drop').dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true }));
    }""")
    _row(page, "readme.txt").wait_for()
    assert _states(page)["readme.txt"] == "refused" and "only videos and photos" in _row(page, "readme.txt").inner_text()
    assert len(posts) == 4
    assert page.problems == [] and page.dialogs == []
