"""With API_TOKEN set, a browser signs in once on the sign-in page and then works with its cookie alone."""
from __future__ import annotations

import re

from tests.browser.conftest import TOKEN


def _sign_in(page, token: str) -> None:
    page.fill("#signin-token", token)
    page.click("#signin-submit")


def test_sign_in_use_the_app_and_sign_out(token_server, page, shots):
    base = token_server.url
    page.goto(f"{base}/files?media_type=video")
    page.wait_for_url(re.compile(r"/signin\?next=/files%3Fmedia_type%3Dvideo$"))
    assert page.locator("nav .nav-link").count() == 0  # nothing to browse before signing in
    shots("signin")

    _sign_in(page, "not-the-token")
    page.locator("#signin-error", has_text="not the API token").wait_for()
    assert page.context.cookies() == []
    shots("signin-wrong-token")

    _sign_in(page, TOKEN)
    page.wait_for_url(f"{base}/files?media_type=video")
    assert page.input_value("#f-media_type") == "video"
    (cookie,) = page.context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"] and cookie["path"] == "/"
    assert TOKEN not in cookie["value"]
    assert page.evaluate("document.cookie") == ""  # out of reach of scripts

    # A change made from the page: the cookie authenticates it, the browser's Origin shows it comes from here.
    page.goto(f"{base}/files")
    page.get_by_text("Import a folder to start").wait_for()
    page.fill("#import-path", str(token_server.library))
    page.uncheck("#import-proxies")
    page.click("#import-button")
    page.locator(".task-card").filter(has_text="Import").filter(has_text="SUCCEEDED").wait_for(timeout=60_000)
    page.locator("#file-rows tr").nth(6).wait_for()
    shots("library-signed-in")

    # The API takes the bearer token too; without either it answers 401.
    bearer = page.request.get(f"{base}/api/files", headers={"Authorization": f"Bearer {TOKEN}"})
    assert bearer.status == 200 and bearer.json()["total"] == 7

    page.click("#sign-out")
    page.wait_for_url(f"{base}/signin")
    assert page.request.get(f"{base}/api/files").status == 401
    page.goto(f"{base}/batches")
    page.wait_for_url(re.compile(r"/signin\?next=/batches$"))
    assert page.problems == [] and page.dialogs == []


def test_sign_in_never_redirects_off_the_site(token_server, page):
    base = token_server.url
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        page.context.clear_cookies()
        page.goto(f"{base}/signin?next={target}")
        _sign_in(page, TOKEN)
        page.wait_for_url(f"{base}/files")
    assert page.problems == [] and page.dialogs == []
